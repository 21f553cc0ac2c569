import assert from 'node:assert/strict'
import { Network, canisterOf, loadMetrics } from './harness.js'

/**
 * Requests that are rejected before they reach their receiver (a reject signal
 * for a full input queue, or an immediate reject for a caller with too many
 * calls waiting) leave gaps in the receiver's view of the sender's sequence
 * numbers. Guaranteed delivery promises order and exactly one answer, not that
 * every request arrives, so a gap is not a sequence error: the load canister
 * counts it apart, and every gap matches a reject its sender saw.
 */
for (const kind of ['js', 'wasm'] as const) {
  describe(`sequence numbers across rejects (${kind} sandbox)`, function () {
    this.timeout(120_000)

    it('requests refused by a full input queue leave gaps, never sequence errors', async () => {
      const net = await Network.create({
        subnets: 2,
        sandbox: kind,
        // Subnet 1 executes a handful of messages per round and queues few: a burst overflows it.
        limitsOf: i => i === 1 ? { inputQueueCapacity: 8, roundInstructions: 1n } : undefined
      })
      try {
        await net.installLoad()
        net.configure(0, 0, 10, [canisterOf(1, 0)])
        await net.rounds(12)
        net.configure(0, 0, 0, [])
        const a = net.nodes[0]!.mr
        for (let r = 0; r < 200 && a.stats().canisters[0]!.outstandingCalls > 0; r++) await net.round()
        const sender = await loadMetrics(a, canisterOf(0, 0))
        const receiver = await loadMetrics(net.nodes[1]!.mr, canisterOf(1, 0))
        assert.ok(sender.rejected > 0n, 'the burst overflowed the input queue')
        assert.equal(sender.replied + sender.rejected, sender.sent, 'every request got one answer')
        assert.equal(receiver.received, sender.replied, 'what ran is what was replied')
        assert.equal(receiver.seqErrors, 0n, 'no request arrived twice or out of order')
        assert.ok(receiver.seqGaps > 0n, 'the receiver saw gaps')
        assert.ok(receiver.seqGaps <= sender.rejected, `each gap is a rejected request (${receiver.seqGaps} gaps, ${sender.rejected} rejects)`)
        assert.equal(a.stats().criticalErrors + net.nodes[1]!.mr.stats().criticalErrors, 0)
      } finally {
        await net.close()
      }
    })

    it('calls refused for a full output queue leave gaps, never sequence errors', async () => {
      const net = await Network.create({
        subnets: 2,
        sandbox: kind,
        // A short stream and output queue towards a receiver that takes 2 messages per block.
        limitsOf: i => i === 0 ? { streamMaxMessages: 4, outputQueueCapacity: 6 } : undefined
      })
      try {
        await net.installLoad()
        net.msgLimit[1] = 2
        net.configure(0, 0, 5, [canisterOf(1, 0)])
        await net.rounds(10)
        net.configure(0, 0, 0, [])
        net.msgLimit[1] = undefined
        const a = net.nodes[0]!.mr
        for (let r = 0; r < 200 && a.stats().canisters[0]!.outstandingCalls > 0; r++) await net.round()
        const sender = await loadMetrics(a, canisterOf(0, 0))
        const receiver = await loadMetrics(net.nodes[1]!.mr, canisterOf(1, 0))
        assert.ok(sender.rejected > 0n, 'calls were refused at the full output queue')
        assert.equal(sender.replied + sender.rejected, sender.sent)
        assert.equal(receiver.received, sender.replied)
        assert.equal(receiver.seqErrors, 0n)
        assert.ok(receiver.seqGaps > 0n && receiver.seqGaps <= sender.rejected, `${receiver.seqGaps} gaps, ${sender.rejected} rejects`)
      } finally {
        await net.close()
      }
    })
  })
}
