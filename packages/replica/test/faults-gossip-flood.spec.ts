import '@icnet/types/polyfill'
import assert from 'node:assert/strict'
import { PeerBanList, artifactGossip, artifactGossipsubOptions, artifactTopic, readGossipMessage, artifactId, encodeInline, subnetConnectionGater, type ArtifactGossipService, type GossipsubRouter } from '@icnet/artifact-gossip'
import { ARTIFACT_KINDS } from '@icnet/consensus'
import { createTestNode, stopAll, waitFor } from '@icnet/test-utils'
import { Principal, type RegistryView } from '@icnet/types'
import { StaticRegistryView } from '@icnet/xnet-stream'
import { gossipsub, type GossipSub } from '@libp2p/gossipsub'
import { FLOOD_KINDS, GossipFlood, PromMetrics, consensusArtifactKinds, invalidArtifact } from '../src/index.js'
import { refuseAllVerifier } from '../src/consensus-artifacts.js'
import type { Libp2p } from '@libp2p/interface'

const SUBNET = Principal.fromUint8Array(new Uint8Array([0xf1, 0x00, 0x0d, 1, 2, 3, 4, 5, 6, 0x02]))

type GossipNode = Libp2p<{ pubsub: GossipSub & GossipsubRouter, artifacts: ArtifactGossipService }>

function metricSum (text: string, name: string, labels: string): number {
  let sum = 0
  for (const line of text.split('\n')) if (line.startsWith(`${name}{`) && line.includes(labels)) sum += Number(line.split(' ').pop())
  return sum
}

describe('faults: gossip flood', function () {
  this.timeout(90_000)

  it('every flooded artifact has a well-formed envelope and is refused by its consensus kind', () => {
    const kinds = new Map(consensusArtifactKinds.map(k => [k.kind, k]))
    for (let i = 0; i < 50; i++) {
      const bytes = invalidArtifact()
      const { body } = readGossipMessage(encodeInline(bytes), 64 * 1024, artifactId)
      assert.equal(body.type, 'inline')
      for (const kind of ARTIFACT_KINDS) assert.throws(() => kinds.get(kind)!.decode(bytes), `${kind} refuses it`)
    }
    assert.ok(FLOOD_KINDS.length >= 5 && !(FLOOD_KINDS as readonly string[]).includes('block-proposal'))
  })

  describe('on a 4-node subnet mesh configured as the replica configures it', () => {
    let nodes: GossipNode[] = []
    const bans: PeerBanList[] = []
    const metrics: PromMetrics[] = []
    let view: RegistryView

    before(async () => {
      const registry = (): RegistryView => view
      for (let i = 0; i < 4; i++) {
        const b = new PeerBanList()
        const m = new PromMetrics({ processMetrics: false })
        bans.push(b)
        metrics.push(m)
        nodes.push(await createTestNode({
          connectionGater: subnetConnectionGater({ subnetId: SUBNET, registry, bans: b }),
          services: {
            pubsub: gossipsub({ ...artifactGossipsubOptions({ subnetId: SUBNET, kinds: ARTIFACT_KINDS as unknown as string[], registry }), emitSelf: false }),
            artifacts: artifactGossip({ subnetId: SUBNET, registry, verifier: refuseAllVerifier, kinds: consensusArtifactKinds, bans: b, metrics: m })
          }
        }) as unknown as GossipNode)
      }
      view = new StaticRegistryView({ subnets: [{ id: SUBNET, type: 'application', nodes: nodes.map(n => n.peerId.toString()), publicKey: new Uint8Array(96), publicKeyDer: new Uint8Array(0) }] })
      for (let i = 0; i < nodes.length; i++) for (let j = i + 1; j < nodes.length; j++) await nodes[i]!.dial(nodes[j]!.getMultiaddrs())
      const topic = artifactTopic(SUBNET, 'notarization-share')
      await waitFor(() => nodes.every(n => n.services.pubsub.getMeshPeers(topic).length > 0), { timeoutMs: 60_000, what: 'gossipsub mesh' })
    })
    after(async () => { await stopAll(nodes); nodes = [] })

    it('a member flooding 200 invalid artifacts/s is refused, scored below the graylist, disconnected and banned by every honest node', async () => {
      const flooder = nodes[3]!
      const honest = nodes.slice(0, 3)
      let published = 0
      const flood = new GossipFlood({ pubsub: flooder.services.pubsub, subnetId: SUBNET, perSecond: 200, onPublished: ok => { if (ok) published++ } })
      flood.start()
      try {
        await waitFor(() => honest.every((n, i) => n.getConnections(flooder.peerId).length === 0 && bans[i]!.isBanned(flooder.peerId.toString())),
          { timeoutMs: 60_000, what: 'honest nodes to disconnect and ban the flooder' })
      } finally {
        flood.stop()
      }
      assert.ok(published > 0)
      for (const [i, n] of honest.entries()) {
        const text = (await metrics[i]!.exposition()).body
        assert.ok(metricSum(text, 'icnet_artifact_validated_total', 'outcome="reject"') > 0, `node ${i} rejected flooded artifacts`)
        assert.equal(metricSum(text, 'icnet_artifact_validated_total', 'outcome="accept"'), 0, `node ${i} accepted none`)
        assert.match(text, /^icnet_artifact_peers_disconnected_total [1-9]/m, `node ${i} disconnected it`)
        assert.ok(n.services.pubsub.getScore(flooder.peerId.toString()) < -80, 'flooder below the graylist threshold')
      }
      // The honest nodes still talk to each other, and the ban holds against a redial.
      assert.ok(honest[0]!.getConnections(honest[1]!.peerId).length > 0)
      await assert.rejects(honest[0]!.dial(flooder.getMultiaddrs(), { signal: AbortSignal.timeout(5_000) }))
    })
  })
})
