import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { InMemoryMetrics } from '@icnet/types'
import { LmdbConsensusStore } from '../src/index.js'
import { assertSameChains, waitFor } from './helpers.js'
import { dealLoopbackSubnet, startConsensusOn, startLibp2pNode, startLoopbackSubnet, stopLoopbackNodes, type LoopbackNode } from './libp2p-helpers.js'

describe('consensus between real libp2p nodes on loopback TCP', function () {
  this.timeout(180_000)

  it('a 4-node subnet finalizes 200 heights with identical chains on every node', async () => {
    const subnet = await dealLoopbackSubnet(4)
    const metrics = new InMemoryMetrics()
    const nodes = await startLoopbackSubnet(subnet, [0, 1, 2, 3], i => i === 0 ? { metrics } : {})
    try {
      await waitFor(() => nodes.every(n => n.chain.size >= 200), '200 heights on every node', 150_000)
      assert.ok(assertSameChains(nodes) >= 200)
      for (const n of nodes) assert.deepEqual([...n.chain.keys()].slice(0, 200), Array.from({ length: 200 }, (_, i) => i + 1))
      assert.ok(metrics.get('icnet_consensus_finalized_height') >= 200)
      assert.ok(metrics.observed('icnet_consensus_finalization_latency_seconds').length >= 200)
    } finally {
      await stopLoopbackNodes(nodes)
    }
  })

  it('stays live with 1 of 4 nodes crashed (f = 1)', async () => {
    const subnet = await dealLoopbackSubnet(4)
    const nodes = await startLoopbackSubnet(subnet, [0, 1, 2, 3])
    try {
      await waitFor(() => nodes.every(n => n.chain.size >= 10), '10 heights')
      const crashed = nodes.pop()!
      await crashed.consensus.stop()
      await crashed.libp2p.stop()
      const base = Math.max(...nodes.map(n => n.chain.size))
      await waitFor(() => nodes.every(n => n.chain.size >= base + 40), '40 more heights with 3 nodes')
      assertSameChains(nodes)
    } finally {
      await stopLoopbackNodes(nodes)
    }
  })

  it('with 1 node equivocating (two blocks at a height, shares for both) the honest nodes agree', async () => {
    const subnet = await dealLoopbackSubnet(4)
    const nodes = await startLoopbackSubnet(subnet, [0, 1, 2, 3], i => i === 2 ? { faults: { equivocate: true } } : {})
    const honest = nodes.filter((_, i) => i !== 2)
    try {
      await waitFor(() => honest.every(n => n.chain.size >= 60), '60 heights on the honest nodes')
      assert.ok(assertSameChains(honest) >= 60)
    } finally {
      await stopLoopbackNodes(nodes)
    }
  })

  it('a node stopped and restarted resumes from its store and catches up', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'icnet-consensus-loopback-'))
    const subnet = await dealLoopbackSubnet(4)
    const store = (i: number): LmdbConsensusStore => new LmdbConsensusStore(join(dir, `n${i}`))
    const nodes: LoopbackNode[] = await startLoopbackSubnet(subnet, [0, 1, 2, 3], i => ({ store: store(i) }))
    try {
      await waitFor(() => nodes.every(n => n.chain.size >= 20), '20 heights')
      const old = nodes[1]!
      await old.consensus.stop()
      await old.libp2p.stop()
      await old.consumer
      const stoppedAt = old.consensus.deliveredHeight
      const live = [nodes[0]!, nodes[2]!, nodes[3]!]
      await waitFor(() => live.every(n => n.chain.size >= stoppedAt + 30), '30 heights without node 1')
      const libp2p = await startLibp2pNode(subnet, 1)
      for (const n of live) await libp2p.dial(n.libp2p.getMultiaddrs()[0]!)
      const restarted = await startConsensusOn(subnet, 1, libp2p, { store: store(1) })
      nodes[1] = restarted
      assert.ok(restarted.consensus.finalizedHeight >= stoppedAt, 'resumed from its store')
      const target = Math.max(...live.map(n => Math.max(...n.chain.keys()))) + 10
      await waitFor(() => restarted.chain.size > 0 && Math.max(...restarted.chain.keys()) >= target, 'the restarted node to catch up')
      assert.equal(Math.min(...restarted.chain.keys()), stoppedAt + 1)
      for (const [h, hash] of old.chain) assert.equal(nodes[0]!.chain.get(h), hash)
      assertSameChains(nodes)
    } finally {
      await stopLoopbackNodes(nodes)
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('a 7-node subnet tolerates 2 crashed nodes', async () => {
    const subnet = await dealLoopbackSubnet(7)
    const nodes = await startLoopbackSubnet(subnet, [0, 1, 2, 4, 6])
    try {
      await waitFor(() => nodes.every(n => n.chain.size >= 30), '30 heights on the 5 live nodes')
      assert.ok(assertSameChains(nodes) >= 30)
    } finally {
      await stopLoopbackNodes(nodes)
    }
  })
})
