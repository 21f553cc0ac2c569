import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import { assertNothingLost, metricValue, nodeHealth, recordResult, runScenario } from './harness.js'

const CHECKPOINT_INTERVAL = 10
/** Checkpoints the subnet writes while the node is down. */
const CHECKPOINTS_MISSED = 3
const VICTIM = '1-3'
const SUBNET = 1

interface SyncLine { height: number, bytesFetched: number, bytesCopied: number, manifestBytesFetched: number, chunksFetched: number, chunksCopied: number, peers: number, downloadMs: number }

/** The replica's JSON log lines with a given message. */
function logLines (log: string, msg: string): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = []
  for (const line of log.split('\n')) {
    if (!line.includes(msg)) continue
    try {
      const x = JSON.parse(line) as Record<string, unknown>
      if (x.msg === msg) out.push(x)
    } catch { /* a debug line of a library */ }
  }
  return out
}

/**
 * A node is killed during the traffic and stays down while its subnet writes
 * several checkpoints (and the CUPs over them). Restarted, it finds consensus
 * past its own state, fetches the checkpoint of the latest CUP from its peers
 * (state sync, every chunk checked against the certified state hash), reopens
 * its state on it and executes on. The catch-up time (restart to the height
 * its subnet had then) and the bytes fetched are reported. It reports a
 * certified height as soon as it executes: its peers answer its late
 * certification shares with the certifications of those heights.
 */
describe('fault scenario: a node down for several checkpoints rejoins by state sync', function () {
  this.timeout(300_000)

  it('catches up by state sync and loses nothing', async () => {
    const figures: Record<string, unknown> = {}
    const r = await runScenario({
      name: 'rejoin-by-state-sync',
      basePort: 7500,
      checkpointInterval: CHECKPOINT_INTERVAL,
      // Traffic long enough for the node to catch up and certify while it runs (the run ends once the traffic drained).
      durationS: 45,
      chaos: async ctx => {
        await ctx.waitHeight(SUBNET, (await ctx.heightOf(SUBNET)) + 3)
        await ctx.sup.stopNode(VICTIM, 'SIGKILL')
        const killedAt = await ctx.heightOf(SUBNET)
        ctx.log(`killed ${VICTIM} at height ${killedAt}`)
        // Past CHECKPOINTS_MISSED more checkpoints, with a few heights for the CUP over the last one.
        await ctx.waitHeight(SUBNET, killedAt + CHECKPOINTS_MISSED * CHECKPOINT_INTERVAL + 3)
        ctx.sup.startNode(VICTIM)
        const restartedAt = await ctx.heightOf(SUBNET)
        const t0 = Date.now()
        ctx.log(`restarted ${VICTIM} at height ${restartedAt}`)
        let caughtUpMs: number | undefined
        for (;;) {
          if (ctx.signal.aborted || Date.now() - t0 > 120_000) throw new Error(`${VICTIM} did not catch up to ${restartedAt} within 120 s`)
          const h = (await nodeHealth(ctx, VICTIM))?.height ?? 0
          if (h >= restartedAt) { caughtUpMs = Date.now() - t0; break }
          await new Promise(resolve => setTimeout(resolve, 250))
        }
        ctx.log(`${VICTIM} at ${restartedAt} after ${caughtUpMs} ms`)
        // Rejoined: it also holds a certification for a height it executed after the sync (it serves certified slices again).
        let certifiedMs: number | undefined
        for (;;) {
          if (ctx.signal.aborted || Date.now() - t0 > 120_000) throw new Error(`${VICTIM} certified no height >= ${restartedAt} within 120 s of its restart`)
          const c = (await nodeHealth(ctx, VICTIM))?.certifiedHeight ?? 0
          if (c >= restartedAt) { certifiedMs = Date.now() - t0; break }
          await new Promise(resolve => setTimeout(resolve, 250))
        }
        ctx.log(`${VICTIM} certified height >= ${restartedAt} after ${certifiedMs} ms`)
        const log = await readFile(ctx.testnet.nodes.find(n => n.name === VICTIM)!.logPath, 'utf8')
        const synced = logLines(log, 'state synced from peers') as unknown as SyncLine[]
        const installed = logLines(log, 'state installed from peers')
        assert.ok(synced.length >= 1 && installed.length >= 1, `${VICTIM} caught up by state sync (its log says so)`)
        const last = synced[synced.length - 1]!
        assert.ok(last.height >= killedAt + (CHECKPOINTS_MISSED - 1) * CHECKPOINT_INTERVAL,
          `synced the checkpoint at ${last.height}, killed at ${killedAt}: several checkpoints later`)
        assert.ok(last.bytesFetched + last.manifestBytesFetched > 0, 'fetched bytes from its peers')
        const m = await ctx.metrics(VICTIM)
        assert.ok(metricValue(m, 'icnet_replica_state_syncs_total') >= 1, 'icnet_replica_state_syncs_total counts the sync')
        Object.assign(figures, {
          killedAt,
          restartedAt,
          syncedHeight: last.height,
          catchUpMs: caughtUpMs,
          certifiedMs,
          installMs: installed[installed.length - 1]!.ms,
          downloadMs: last.downloadMs,
          bytesFetched: last.bytesFetched,
          manifestBytesFetched: last.manifestBytesFetched,
          bytesCopied: last.bytesCopied,
          chunksFetched: last.chunksFetched,
          chunksCopied: last.chunksCopied,
          peers: last.peers,
          syncs: synced.length,
          stateSyncBytesMetric: metricValue(m, 'icnet_state_sync_bytes_total')
        })
      }
    })
    assert.ok(figures.catchUpMs !== undefined, 'the node was restarted and caught up')
    r.extra = figures
    await recordResult(r)
    assertNothingLost(r)
  })
})
