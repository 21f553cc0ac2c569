import assert from 'node:assert/strict'
import { assertNothingLost, nodeHealth, recordResult, runScenario, type ScenarioContext } from './harness.js'

const SUBNET = 1
const HALF_A = ['1-0', '1-1']
const HALF_B = ['1-2', '1-3']
/** How long the halves stay apart. */
const SPLIT_S = 10
/** Time for a height already signed before the split to finish certifying. */
const SETTLE_MS = 3_000

/** The highest certified height any node of the subnet reports. */
async function certifiedHeight (ctx: ScenarioContext): Promise<number> {
  const hs = await Promise.all([...HALF_A, ...HALF_B].map(async n => (await nodeHealth(ctx, n))?.certifiedHeight ?? 0))
  return Math.max(...hs)
}

async function admin (ctx: ScenarioContext, node: string, method: 'POST' | 'DELETE', deny?: string[]): Promise<void> {
  const n = ctx.testnet.nodes.find(x => x.name === node)!
  const res = await fetch(`http://${n.config.http!.host}:${n.config.http!.port}/api/faults/partition`, {
    method,
    ...(deny !== undefined ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ deny }) } : {}),
    signal: AbortSignal.timeout(5_000)
  })
  assert.equal(res.status, 204, `${method} /api/faults/partition on ${node}: ${res.status} ${await res.text()}`)
}

/**
 * Subnet 1's four nodes split into two halves of two that refuse each other's
 * connections (the admin partition route on each node) for a while during the
 * traffic. Neither half has the 2f + 1 = 3 signers a notarization, a
 * finalization or a certification needs, so the subnet's certified height
 * stands still; once healed it moves on, and every request (subnet 0's ones to
 * subnet 1 waited in its stream meanwhile) is answered. Each half backed a
 * block the other half never received during the split: it resumes because
 * consensus re-sends the proposals of a stuck round (docs/reliability.md).
 */
describe('fault scenario: a subnet split in two halves, then healed', function () {
  this.timeout(300_000)

  it('stops certifying without a quorum, resumes when healed, and loses nothing', async () => {
    const figures: Record<string, number> = {}
    const ids = (names: string[], ctx: ScenarioContext): string[] => names.map(n => ctx.testnet.nodes.find(x => x.name === n)!.config.nodeId)
    const r = await runScenario({
      name: 'split-heal',
      basePort: 7600,
      durationS: 30,
      faults: Object.fromEntries([...HALF_A, ...HALF_B].map(n => [n, { admin: true }])),
      chaos: async ctx => {
        await ctx.waitHeight(SUBNET, (await ctx.heightOf(SUBNET)) + 5)
        await Promise.all([
          ...HALF_A.map(async n => admin(ctx, n, 'POST', ids(HALF_B, ctx))),
          ...HALF_B.map(async n => admin(ctx, n, 'POST', ids(HALF_A, ctx)))
        ])
        const splitAt = Date.now()
        ctx.log(`split at certified height ${await certifiedHeight(ctx)}`)
        await new Promise(resolve => setTimeout(resolve, SETTLE_MS))
        const before = await certifiedHeight(ctx)
        await new Promise(resolve => setTimeout(resolve, SPLIT_S * 1000 - SETTLE_MS))
        const during = await certifiedHeight(ctx)
        ctx.log(`certified height ${before} after ${SETTLE_MS} ms of the split, ${during} at its end`)
        await Promise.all([...HALF_A, ...HALF_B].map(async n => admin(ctx, n, 'DELETE')))
        const healedAt = Date.now()
        ctx.log('healed')
        const until = healedAt + 60_000
        let after = during
        while (after < during + 5) {
          if (ctx.signal.aborted || Date.now() > until) throw new Error(`subnet ${SUBNET} did not certify 5 more heights within 60 s of the heal (at ${after})`)
          await new Promise(resolve => setTimeout(resolve, 250))
          after = await certifiedHeight(ctx)
        }
        Object.assign(figures, { certifiedAtSplit: before, certifiedAtHeal: during, splitS: (healedAt - splitAt) / 1000, resumeMs: Date.now() - healedAt })
        ctx.log(`certified ${after} ${Date.now() - healedAt} ms after the heal`)
      }
    })
    assert.ok(figures.resumeMs !== undefined, 'the subnet was split and healed')
    assert.equal(figures.certifiedAtHeal, figures.certifiedAtSplit, 'no height certified while split (no quorum)')
    r.extra = figures
    await recordResult(r)
    assertNothingLost(r)
  })
})
