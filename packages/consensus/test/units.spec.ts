import assert from 'node:assert/strict'
import '@icnet/types/polyfill'
import { InMemoryMetrics } from '@icnet/types'
import { createTestNode } from '@icnet/test-utils'
import { lpStream } from '@libp2p/utils'
import fc from 'fast-check'
import { ARTIFACT_PROTOCOL, ArtifactFrame, pb, rankNodes } from '../src/index.js'
import { waitFor } from './helpers.js'
import { dealLoopbackSubnet, startLibp2pNode } from './libp2p-helpers.js'

describe('block maker ranking', () => {
  it('is a permutation, determined by the beacon hash', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.integer({ min: 1, max: 64 }), (hash, n) => {
      const ranks = rankNodes(hash, n)
      assert.deepEqual([...ranks].sort((a, b) => a - b), Array.from({ length: n }, (_, i) => i))
      assert.deepEqual(rankNodes(hash, n), ranks)
    }), { numRuns: 200 })
  })

  it('gives every node rank 0 about equally often', () => {
    const zero = new Array<number>(4).fill(0)
    for (let i = 0; i < 4000; i++) {
      const hash = new Uint8Array(32)
      new DataView(hash.buffer).setUint32(0, i)
      zero[rankNodes(hash, 4).indexOf(0)]!++
    }
    for (const c of zero) assert.ok(c > 850 && c < 1150, `rank-0 count ${c}`)
  })
})

describe('consensus transport', function () {
  this.timeout(60_000)

  it('refuses artifact streams from nodes outside the subnet', async () => {
    const subnet = await dealLoopbackSubnet(4)
    const metrics = new InMemoryMetrics()
    const member = await startLibp2pNode(subnet, 0, { metrics })
    const received: string[] = []
    member.services.consensusTransport.onArtifact(kind => { received.push(kind) })
    const outsider = await createTestNode()
    try {
      await outsider.dial(member.getMultiaddrs()[0]!)
      const stream = await outsider.dialProtocol(member.getMultiaddrs()[0]!, ARTIFACT_PROTOCOL)
      const lp = lpStream(stream)
      const share = pb.BlockShare.encode({ height: 1n, block: new Uint8Array(32), signer: 1, signature: new Uint8Array(96) })
      await lp.write(ArtifactFrame.encode({ kind: 3, artifact: share })).catch(() => {})
      await waitFor(() => metrics.get('icnet_consensus_transport_refused_total', { reason: 'not-a-member' }) === 1, 'the refusal')
      assert.deepEqual(received, [])
    } finally {
      await outsider.stop()
      await member.stop()
    }
  })
})
