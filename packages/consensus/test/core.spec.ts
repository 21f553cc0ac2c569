import assert from 'node:assert/strict'
import { assertSameChains, startBusSubnet, waitFor } from './helpers.js'

describe('consensus core over an in-memory bus', function () {
  this.timeout(120_000)

  it('4 nodes finalize 50 heights with identical chains, delivered in order exactly once', async () => {
    const { nodes } = await startBusSubnet(4)
    try {
      await waitFor(() => nodes.every(n => n.chain.size >= 50), '50 heights everywhere')
      assertSameChains(nodes)
      for (const n of nodes) {
        const heights = n.batches.map(b => b.height)
        assert.deepEqual(heights.slice(0, 50), Array.from({ length: 50 }, (_, i) => i + 1))
        for (let i = 1; i < n.batches.length; i++) assert.ok(n.batches[i]!.time >= n.batches[i - 1]!.time)
      }
      // Randomness is agreed too.
      assert.deepEqual(nodes[0]!.batches[10]!.randomness, nodes[3]!.batches[10]!.randomness)
    } finally {
      await Promise.all(nodes.map(async n => { await n.consensus.stop() }))
    }
  })
})
