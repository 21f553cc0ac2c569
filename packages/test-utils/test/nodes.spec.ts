import assert from 'node:assert/strict'
import { createTestNode, connectAll, stopAll, waitFor } from '../src/index.js'

describe('test-utils', () => {
  it('starts two nodes on loopback TCP that connect and ping', async () => {
    const nodes = [await createTestNode(), await createTestNode()]
    try {
      await connectAll(nodes)
      await waitFor(() => nodes[1]!.getConnections(nodes[0]!.peerId).length > 0, { what: 'connection' })
      const rtt = await (nodes[0]!.services.ping as { ping(p: unknown): Promise<number> }).ping(nodes[1]!.peerId)
      assert.ok(rtt >= 0)
    } finally {
      await stopAll(nodes)
    }
  })

  it('works over the memory transport', async () => {
    const nodes = [await createTestNode({ transport: 'memory' }), await createTestNode({ transport: 'memory' })]
    try {
      await connectAll(nodes)
      assert.equal(nodes[0]!.getConnections(nodes[1]!.peerId).length, 1)
    } finally {
      await stopAll(nodes)
    }
  })
})
