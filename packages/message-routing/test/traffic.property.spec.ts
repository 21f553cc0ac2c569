import assert from 'node:assert/strict'
import fc from 'fast-check'
import { Network, canisterOf, loadMetrics } from './harness.js'

interface Pattern {
  rates: number[]
  /** Per sender: target subnets (never itself); an index >= subnets means "a canister that is not installed". */
  targets: number[][]
  slowBudget: boolean[]
  msgLimits: Array<number | undefined>
  streamLimit: number
  rounds: number
}

const SUBNETS = 3

const pattern: fc.Arbitrary<Pattern> = fc.record({
  rates: fc.array(fc.integer({ min: 0, max: 4 }), { minLength: SUBNETS, maxLength: SUBNETS }),
  targets: fc.tuple(...Array.from({ length: SUBNETS }, (_, i) =>
    fc.uniqueArray(fc.integer({ min: 0, max: SUBNETS }).filter(t => t !== i), { minLength: 1, maxLength: SUBNETS }))),
  slowBudget: fc.array(fc.boolean(), { minLength: SUBNETS, maxLength: SUBNETS }),
  msgLimits: fc.array(fc.option(fc.integer({ min: 1, max: 6 }), { nil: undefined }), { minLength: SUBNETS, maxLength: SUBNETS }),
  streamLimit: fc.integer({ min: 4, max: 40 }),
  rounds: fc.integer({ min: 2, max: 7 })
})

describe('random traffic (property)', function () {
  this.timeout(180_000)

  it('conserves messages: every request is answered exactly once, nothing is lost or duplicated', async () => {
    await fc.assert(fc.asyncProperty(pattern, async p => {
      const net = await Network.create({
        subnets: SUBNETS,
        sandbox: 'js',
        limits: { streamMaxMessages: p.streamLimit },
        limitsOf: i => p.slowBudget[i] === true ? { roundInstructions: 3_000n } : undefined
      })
      try {
        await net.installLoad()
        for (let i = 0; i < SUBNETS; i++) {
          // Target SUBNETS means canister 5 of the next subnet: in its range, never installed.
          const targets = p.targets[i]!.map(t => t === SUBNETS ? canisterOf((i + 1) % SUBNETS, 5) : canisterOf(t, 0))
          net.configure(i, 0, p.rates[i]!, targets)
        }
        net.msgLimit = [...p.msgLimits]
        await net.rounds(p.rounds)
        for (let i = 0; i < SUBNETS; i++) net.configure(i, 0, 0, [])
        net.msgLimit = []
        const busy = (): boolean => net.nodes.some(n => {
          const s = n.mr.stats()
          return s.messagesInStreams > 0 || s.outputsWaiting > 0 || s.canisters.some(c => c.outstandingCalls > 0 || c.inputRequests > 0 || c.inputIngress > 0 || c.inputResponses > 0)
        })
        for (let r = 0; r < 400 && busy(); r++) await net.round()
        assert.equal(busy(), false, 'the network drains')
        let replied = 0n
        let received = 0n
        for (const n of net.nodes) {
          const m = await loadMetrics(n.mr, canisterOf(n.subnet.index, 0))
          assert.equal(m.replied + m.rejected, m.sent, `subnet ${n.subnet.index}: sent = replied + rejected`)
          assert.equal(m.seqErrors, 0n)
          assert.equal(n.mr.stats().criticalErrors, 0)
          replied += m.replied
          received += m.received
        }
        assert.equal(replied, received, 'each request that arrived was answered once, and each answer arrived')
      } finally {
        await net.close()
      }
    }), { numRuns: 5, seed: 20261121, endOnFailure: true })
  })
})
