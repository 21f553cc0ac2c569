import assert from 'node:assert/strict'
import type { XnetLoadMetrics } from '@icnet/execution'
import { Network, canisterOf, loadMetrics, type SandboxKind } from './harness.js'

async function allMetrics (net: Network): Promise<XnetLoadMetrics[]> {
  return await Promise.all(net.nodes.map(async n => await loadMetrics(n.mr, canisterOf(n.subnet.index, 0))))
}

/** Traffic both ways, then quiet rounds until every call is answered. */
async function trafficBothWays (kind: SandboxKind, rounds: number, rate: number): Promise<{ net: Network, metrics: XnetLoadMetrics[] }> {
  const net = await Network.create({ subnets: 2, sandbox: kind })
  await net.installLoad()
  net.configure(0, 0, rate, [canisterOf(1, 0)])
  net.configure(1, 0, rate, [canisterOf(0, 0)])
  await net.rounds(rounds)
  net.configure(0, 0, 0, [])
  net.configure(1, 0, 0, [])
  await net.rounds(8)
  return { net, metrics: await allMetrics(net) }
}

for (const kind of ['js', 'wasm'] as const) {
  describe(`xnet traffic between two subnets (${kind} sandbox)`, function () {
    this.timeout(120_000)

    it('answers every request exactly once, in order, with nothing lost', async () => {
      const { net, metrics } = await trafficBothWays(kind, 20, 5)
      try {
        for (const [i, m] of metrics.entries()) {
          assert.ok(m.sent > 0n, `subnet ${i} sent nothing`)
          assert.equal(m.replied + m.rejected, m.sent, `subnet ${i}: every request gets one reply or reject`)
          assert.equal(m.rejected, 0n)
          assert.equal(m.seqErrors, 0n)
          assert.equal(m.callErrors, 0n)
        }
        // What one side sent is what the other received.
        assert.equal(metrics[1]!.received, metrics[0]!.sent)
        assert.equal(metrics[0]!.received, metrics[1]!.sent)
        for (const n of net.nodes) {
          const st = n.mr.stats()
          assert.equal(st.criticalErrors, 0)
          assert.equal(st.outputsWaiting, 0)
          assert.equal(st.messagesInStreams, 0, 'streams are garbage-collected once signals come back')
          assert.equal(st.canisters[0]!.outstandingCalls, 0)
        }
      } finally {
        await net.close()
      }
    })
  })
}
