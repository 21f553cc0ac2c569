import assert from 'node:assert/strict'
import '@icnet/types/polyfill'
import { PeerBanList, artifactGossip, artifactGossipsubOptions, subnetConnectionGater, type ArtifactGossipService, type SignatureVerifier } from '@icnet/artifact-gossip'
import { createTestNode, connectAll } from '@icnet/test-utils'
import { gossipsub } from '@libp2p/gossipsub'
import type { Libp2p } from '@libp2p/interface'
import { Consensus, GossipArtifactTransport, committeeFromRegistry, consensusArtifactKinds, consensusTransport, type ConsensusTransport } from '../src/index.js'
import { assertSameChains, startConsumer, waitFor, type TestNode } from './helpers.js'
import { dealLoopbackSubnet } from './libp2p-helpers.js'

/** Consensus kinds declare no signature sets, so the gossip layer's verifier has nothing to do. */
const noSignatures: SignatureVerifier = { verifyMany: async sets => sets.map(() => true) }

type GossipNode = Libp2p<{ pubsub: unknown, artifacts: ArtifactGossipService, consensusTransport: ConsensusTransport }>

describe('consensus over artifact gossip (gossipsub, loopback TCP)', function () {
  this.timeout(120_000)

  it('4 nodes finalize 30 heights with identical chains', async () => {
    const subnet = await dealLoopbackSubnet(4)
    const subnetId = subnet.registry.rootSubnetId()
    const kinds = consensusArtifactKinds()
    const libp2ps = await Promise.all(subnet.libp2pKeys.map(async privateKey => {
      const bans = new PeerBanList()
      return await createTestNode({
        privateKey,
        connectionGater: subnetConnectionGater({ subnetId, registry: subnet.registry, bans }),
        services: {
          pubsub: gossipsub(artifactGossipsubOptions({ subnetId, registry: subnet.registry, kinds: kinds.map(k => k.kind) })),
          artifacts: artifactGossip({ subnetId, registry: subnet.registry, verifier: noSignatures, bans, kinds }),
          consensusTransport: consensusTransport({ subnetId, registry: subnet.registry, dialMembers: false })
        }
      }) as unknown as GossipNode
    }))
    await connectAll(libp2ps)
    const topic = libp2ps[0]!.services.artifacts.topic('notarization-share')
    await waitFor(() => libp2ps.every(l => (l.services.pubsub as { getSubscribers(t: string): unknown[] }).getSubscribers(topic).length === 3), 'gossip subscriptions')
    const p = subnet.registry.requireSubnet(subnetId).params
    const nodes: TestNode[] = libp2ps.map((l, i) => {
      const consensus = new Consensus({
        committee: committeeFromRegistry(subnet.registry, subnetId),
        signer: subnet.signers[i]!,
        params: { unitDelayMs: p.unitDelayMs, maxBlockPayloadBytes: p.maxBlockPayloadBytes, checkpointInterval: p.checkpointInterval },
        transport: new GossipArtifactTransport(l.services.artifacts, l.services.consensusTransport)
      })
      const chain = new Map<number, string>()
      const batches: TestNode['batches'] = []
      return { consensus, chain, batches, consumer: Promise.resolve() }
    })
    for (const n of nodes) {
      await n.consensus.start()
      n.consumer = startConsumer(n.consensus, n.chain, n.batches)
    }
    try {
      await waitFor(() => nodes.every(n => n.chain.size >= 30), '30 heights on every node', 90_000)
      assert.ok(assertSameChains(nodes) >= 30)
      // Pools are purged as heights finalize: nothing far below the tip stays.
      const pool = libp2ps[0]!.services.artifacts.pool('notarization-share')
      assert.ok(pool.purgeHeight >= 20)
    } finally {
      await Promise.all(nodes.map(async n => { await n.consensus.stop() }))
      await Promise.all(libp2ps.map(async l => { await l.stop() }))
    }
  })
})
