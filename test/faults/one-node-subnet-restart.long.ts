import assert from 'node:assert/strict'
import { assertNothingLost, nodeHealth, recordResult, runScenario, waitNodeHealth, type ScenarioContext } from './harness.js'

/** The only node of subnet 1. */
const NODE = '1-0'
/** Heights the restarted node must finalize beyond where it stopped. */
const PROGRESS_HEIGHTS = 10
const PROGRESS_TIMEOUT_MS = 60_000
/** Consensus this close to execution is running rounds, not waiting for the host. */
const ROUND_IN_FLIGHT_LAG = 2
const ROUND_IN_FLIGHT_WAIT_MS = 20_000

interface RestartReport { signal: string, restartedAt: number, finalizedAfterMs: number }

/** Waits until the node finalized `height`; fails with where it stands after the timeout. */
async function waitFinalized (ctx: ScenarioContext, height: number): Promise<number> {
  const { ms } = await waitNodeHealth(ctx, NODE, h => h.finalizedHeight >= height, {
    timeoutMs: PROGRESS_TIMEOUT_MS, what: `finalize height ${height}`, describe: h => String(h?.finalizedHeight ?? 'no answer')
  })
  return ms
}

/**
 * Waits (a while) for consensus to be at most ROUND_IN_FLIGHT_LAG heights
 * ahead of execution: then it is not paused for the host but in the middle of
 * a round (the block proposed, its payload being built, its shares made),
 * which is what a restart must recover. Under heavy XNet load consensus is
 * mostly paused, and a stop then has no round in flight to recover. Returns the lag.
 */
async function waitRoundInFlight (ctx: ScenarioContext): Promise<number> {
  const until = Date.now() + ROUND_IN_FLIGHT_WAIT_MS
  for (;;) {
    const h = await nodeHealth(ctx, NODE)
    const lag = h === undefined ? Number.POSITIVE_INFINITY : h.finalizedHeight - h.height
    if (lag <= ROUND_IN_FLIGHT_LAG || Date.now() > until) return lag
    await new Promise(resolve => setTimeout(resolve, 50))
  }
}

/**
 * A subnet of one node (f = 0) has nobody to catch up from: after a restart
 * everything the round in flight needs comes from the node's own store. Its
 * node is stopped during the XNet traffic, once gracefully (SIGTERM) and once
 * by a crash (SIGKILL), and each time it must finalize again and every
 * cross-subnet request still gets its answer.
 */
describe('fault scenario: the only node of a subnet restarted', function () {
  this.timeout(300_000)

  it('a one-node subnet makes progress again after a SIGTERM and after a SIGKILL restart, and loses nothing', async () => {
    const restarts: RestartReport[] = []
    const r = await runScenario({
      name: 'one-node-subnet-restart',
      basePort: 8400,
      nodes: 1,
      durationS: 35,
      chaos: async ctx => {
        for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
          await ctx.waitHeight(1, ((await nodeHealth(ctx, NODE))?.height ?? 0) + 10)
          const lag = await waitRoundInFlight(ctx)
          ctx.log(`${signal}: stopping ${NODE} with consensus ${lag} heights ahead of execution`)
          await ctx.sup.stopNode(NODE, signal)
          ctx.sup.startNode(NODE)
          // Answering /health is not enough: the node must finalize beyond what its store had.
          await waitFinalized(ctx, 1)
          const from = (await nodeHealth(ctx, NODE))?.finalizedHeight ?? 0
          ctx.log(`${signal}: ${NODE} restarted at finalized height ${from}`)
          const finalizedAfterMs = await waitFinalized(ctx, from + PROGRESS_HEIGHTS)
          restarts.push({ signal, restartedAt: from, finalizedAfterMs })
          ctx.log(`${signal}: ${NODE} finalized ${PROGRESS_HEIGHTS} heights beyond ${from} in ${finalizedAfterMs} ms`)
        }
      }
    })
    assert.deepEqual(restarts.map(x => x.signal), ['SIGTERM', 'SIGKILL'])
    r.extra = { restarts }
    await recordResult(r)
    assertNothingLost(r)
  })
})
