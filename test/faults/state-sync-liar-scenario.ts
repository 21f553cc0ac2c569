/**
 * The state-sync liar scenario, shared by `state-sync-liar.long.ts` (a peer
 * serving wrong bytes) and `state-sync-staller.long.ts` (a peer that never
 * answers), both run by `npm run test:faults`.
 */
import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import type { ReplicaFaults } from '@icnet/replica'
import { assertNothingLost, metricValue, recordResult, runScenario, waitNodeHealth, type ScenarioContext } from './harness.js'

/**
 * Heights between checkpoints, by mode. A node keeps two checkpoints, so the one a
 * catch-up fetches lives about two intervals; a stall costs the 10 s chunk timeout
 * before its blocks are asked elsewhere, so the stall run needs checkpoints that
 * outlive that (about 17 s at 3.5 rounds/s) or no attempt could finish in time.
 */
export const CHECKPOINT_INTERVAL = { corrupt: 10, stall: 30 }
/** Killed during the traffic, restarted after its subnet wrote at least two more checkpoints: it must state sync. */
const VICTIM = '1-2'
/**
 * Serves state sync dishonestly (its consensus and execution are honest). The
 * first member in registry order: the restarted node dials its members in that
 * order, so the liar is first among the peers it fetches from and is sure to be
 * asked (the first block of a sync goes to the first peer).
 */
const LIAR = '1-0'

interface LogLine { msg: string, [k: string]: unknown }

async function logLines (ctx: ScenarioContext, name: string): Promise<LogLine[]> {
  const text = await readFile(ctx.testnet.nodes.find(n => n.name === name)!.logPath, 'utf8')
  const out: LogLine[] = []
  for (const l of text.split('\n')) {
    if (!l.startsWith('{')) continue
    try { out.push(JSON.parse(l) as LogLine) } catch { /* a line cut by the kill */ }
  }
  return out
}

interface Catchup { liarPeer: string, killedAt: number, restartedAt: number, caughtUpMs: number, syncMs?: number, bytesFetched?: number, evicted: Array<{ peer: string, reason: string }> }

/** Kills the victim, waits for two checkpoints past it, restarts it and waits until it caught up with its subnet. */
async function killAndRejoin (ctx: ScenarioContext, interval: number, done: (c: Catchup) => void): Promise<void> {
  const subnet = Number(VICTIM.split('-')[0])
  await ctx.waitHeight(subnet, (await ctx.heightOf(subnet)) + 5)
  await ctx.sup.stopNode(VICTIM, 'SIGKILL')
  const killedAt = await ctx.heightOf(subnet)
  ctx.log(`killed ${VICTIM} at height ${killedAt}`)
  // Two checkpoints past the kill: the restarted node's consensus starts from a newer CUP than its state.
  await ctx.waitHeight(subnet, (Math.floor(killedAt / interval) + 2) * interval + 2)
  ctx.sup.startNode(VICTIM)
  const restartedAt = await ctx.heightOf(subnet)
  ctx.log(`restarted ${VICTIM} at height ${restartedAt}`)
  // Caught up: executed, and certified (the run compares certified state roots), past where its subnet was.
  const { ms: caughtUpMs } = await waitNodeHealth(ctx, VICTIM, h => h.height >= restartedAt && h.certifiedHeight >= restartedAt, {
    timeoutMs: 120_000, what: `catch up to ${restartedAt}`, describe: h => String(h?.height)
  })
  // The line may trail the height by a moment (it is written after the state reopens, through a pipe).
  let lines = await logLines(ctx, VICTIM)
  for (let i = 0; i < 20 && !lines.some(l => l.msg === 'state installed from peers'); i++) {
    await new Promise(resolve => setTimeout(resolve, 250))
    lines = await logLines(ctx, VICTIM)
  }
  const installed = lines.find(l => l.msg === 'state installed from peers')
  const evicted = lines.filter(l => l.msg === 'state sync evicted a peer').map(l => ({ peer: String(l.peer), reason: String(l.reason) }))
  ctx.log(`${VICTIM} caught up to ${restartedAt} in ${caughtUpMs} ms; ${installed !== undefined ? `state sync ${String(installed.ms)} ms, ${String(installed.bytesFetched)} bytes` : 'no state sync'}; evicted ${JSON.stringify(evicted)}`)
  done({
    liarPeer: ctx.testnet.nodes.find(n => n.name === LIAR)!.config.nodeId,
    killedAt,
    restartedAt,
    caughtUpMs,
    ...(installed !== undefined ? { syncMs: Number(installed.ms), bytesFetched: Number(installed.bytesFetched) } : {}),
    evicted
  })
}

/**
 * One node of a subnet serves state sync dishonestly while another, killed
 * during the traffic and restarted two checkpoints later, has to catch up by
 * state sync from its peers, the liar among them.
 */
export async function stateSyncLiarScenario (mode: 'corrupt' | 'stall'): Promise<void> {
  let catchup: Catchup | undefined
  const r = await runScenario({
    name: `state-sync-liar-${mode}`,
    basePort: 7900,
    // Long enough that the victim rejoins while the traffic still flows. A stall costs the chunk timeout
    // (10 s) once per phase it is asked in: meta-manifest, sub-manifests, chunks.
    durationS: mode === 'stall' ? 65 : 35,
    checkpointInterval: CHECKPOINT_INTERVAL[mode],
    faults: { [LIAR]: { stateSyncChunks: mode } satisfies ReplicaFaults },
    chaos: async ctx => { await killAndRejoin(ctx, CHECKPOINT_INTERVAL[mode], c => { catchup = c }) }
  })
  const liarMetrics = r.metricsAtEnd.get(LIAR) ?? ''
  const victimMetrics = r.metricsAtEnd.get(VICTIM) ?? ''
  const lies = metricValue(liarMetrics, 'icnet_replica_faults_injected_total', { fault: mode === 'corrupt' ? 'chunk_corrupt' : 'chunk_stall' })
  const evictions = { badBlock: metricValue(victimMetrics, 'icnet_state_sync_evictions_total', { reason: 'bad_block' }), stalled: metricValue(victimMetrics, 'icnet_state_sync_evictions_total', { reason: 'stalled' }) }
  r.extra = { mode, catchup, liesTold: lies, evictions, stateSyncs: metricValue(victimMetrics, 'icnet_replica_state_syncs_total') }
  await recordResult(r)
  assertNothingLost(r)

  assert.ok(catchup !== undefined, `${VICTIM} was killed, restarted and caught up`)
  assert.ok(catchup.syncMs !== undefined, `${VICTIM} caught up by state sync`)
  assert.ok(metricValue(victimMetrics, 'icnet_replica_state_syncs_total') >= 1)
  assert.ok(lies > 0, `the liar was asked for blocks and lied (${mode})`)
  // Only the liar is ever dropped; a wrong block evicts its sender at once.
  assert.ok(catchup.evicted.every(e => e.peer === catchup!.liarPeer), `evicted ${JSON.stringify(catchup.evicted)}, the liar is ${catchup.liarPeer}`)
  if (mode === 'corrupt') {
    assert.ok(evictions.badBlock >= 1, 'the liar was evicted for a bad block')
    assert.ok(catchup.evicted.some(e => e.reason === 'bad_block'), JSON.stringify(catchup.evicted))
  }
}
