import assert from 'node:assert/strict'
import { limitsFromSubnetParams } from '../src/index.js'
import { Network, canisterOf, loadMetrics } from './harness.js'

describe('stream backpressure', function () {
  this.timeout(120_000)

  it('a slow receiver fills the sender stream to its limit; outputs wait, then drain with nothing lost', async () => {
    const STREAM_LIMIT = 50
    const net = await Network.create({
      subnets: 2,
      sandbox: 'js',
      limits: { streamMaxMessages: STREAM_LIMIT },
      // Subnet 1 is slow: a tiny round budget (a handful of messages per round).
      limitsOf: i => i === 1 ? { roundInstructions: 6_000n } : undefined
    })
    try {
      await net.installLoad()
      net.configure(0, 0, 20, [canisterOf(1, 0)])
      // ...and it takes few messages per block from subnet 0.
      net.msgLimit[1] = 3
      const a = net.nodes[0]!.mr
      let maxStream = 0
      let maxWaiting = 0
      for (let r = 0; r < 15; r++) {
        await net.round()
        const st = a.stats()
        maxStream = Math.max(maxStream, st.messagesInStreams)
        maxWaiting = Math.max(maxWaiting, st.outputsWaiting)
        assert.ok(st.messagesInStreams <= STREAM_LIMIT, 'the stream never grows past its limit')
      }
      assert.equal(maxStream, STREAM_LIMIT, 'the stream filled up to its limit')
      assert.ok(maxWaiting > 100, `outputs waited in the output queue (max ${maxWaiting})`)
      net.configure(0, 0, 0, [])
      net.msgLimit[1] = undefined
      for (let r = 0; r < 200 && (a.stats().outputsWaiting > 0 || a.stats().messagesInStreams > 0 || a.stats().canisters[0]!.outstandingCalls > 0); r++) await net.round()
      const st = a.stats()
      assert.equal(st.outputsWaiting, 0)
      assert.equal(st.messagesInStreams, 0)
      const sender = await loadMetrics(a, canisterOf(0, 0))
      const receiver = await loadMetrics(net.nodes[1]!.mr, canisterOf(1, 0))
      assert.equal(sender.sent, 15n * 20n)
      assert.equal(sender.replied, sender.sent, 'every request was answered with a reply')
      assert.equal(sender.rejected, 0n)
      assert.equal(receiver.received, sender.sent)
      assert.equal(receiver.seqErrors, 0n)
      assert.equal(st.criticalErrors + net.nodes[1]!.mr.stats().criticalErrors, 0)
    } finally {
      await net.close()
    }
  })
})

describe('limitsFromSubnetParams', () => {
  it('takes the round budget and the stream limit from the registry parameters, and refuses a stream that holds nothing', () => {
    assert.deepEqual(limitsFromSubnetParams({ maxInstructionsPerRound: 5_000_000, streamMaxMessages: 40 }), { roundInstructions: 5_000_000n, streamMaxMessages: 40 })
    assert.deepEqual(limitsFromSubnetParams({}), {})
    assert.throws(() => limitsFromSubnetParams({ streamMaxMessages: 0 }), RangeError)
    assert.throws(() => limitsFromSubnetParams({ maxInstructionsPerRound: -1 }), RangeError)
  })

  it('a registry stream limit holds in a subnet that routes more than it', async () => {
    const net = await Network.create({ subnets: 2, sandbox: 'js', limits: limitsFromSubnetParams({ streamMaxMessages: 7 }) })
    try {
      await net.installLoad()
      net.configure(0, 0, 20, [canisterOf(1, 0)])
      net.msgLimit[1] = 1
      await net.round()
      await net.round()
      const st = net.nodes[0]!.mr.stats()
      assert.deepEqual(st.streams.map(s => [s.messages, s.maxMessages]), [[7, 7]])
      assert.ok(st.outputsWaiting > 0)
    } finally {
      await net.close()
    }
  })
})
