// The README's example, run as a test: two subnet nodes, one publishes, the other receives.
import '@icnet/types/polyfill'
import assert from 'node:assert/strict'
import { BlsVerifierPool } from '@icnet/crypto'
import { createTestNode, connectAll, stopAll, waitFor } from '@icnet/test-utils'
import { gossipsub } from '@libp2p/gossipsub'
import { artifactGossip, artifactGossipsubOptions, subnetConnectionGater, PeerBanList, type ArtifactKind } from '../src/index.js'
import { SUBNET, TestRegistry } from './fixtures.js'

describe('README example', function () {
  this.timeout(60_000)
  it('gossips a text artifact between two subnet nodes', async () => {
    // An artifact kind: UTF-8 text whose first line is its height. No signatures here;
    // real kinds return the BLS signature sets that make them valid.
    const text: ArtifactKind<{ height: number, body: string }> = {
      kind: 'text',
      maxBytes: 4096,
      decode: bytes => {
        const [h, ...rest] = new TextDecoder().decode(bytes).split('\n')
        return { height: Number.parseInt(h!, 10), body: rest.join('\n') }
      },
      height: a => a.height,
      signatureSets: () => []
    }
    const registry = new TestRegistry()
    registry.addSubnet(SUBNET)
    const verifier = new BlsVerifierPool({ workers: 1 })
    const makeNode = async () => {
      const bans = new PeerBanList()
      return createTestNode({
        connectionGater: subnetConnectionGater({ subnetId: SUBNET, registry, bans }),
        services: {
          pubsub: gossipsub(artifactGossipsubOptions({ subnetId: SUBNET, registry, kinds: ['text'] })),
          artifacts: artifactGossip({ subnetId: SUBNET, registry, verifier, bans, kinds: [text] })
        }
      })
    }
    const a = await makeNode()
    const b = await makeNode()
    for (const n of [a, b]) registry.addNode(n.peerId.toString(), SUBNET)
    await connectAll([a, b])
    const topic = a.services.artifacts.topic('text')
    await waitFor(() => a.services.pubsub.getSubscribers(topic).length === 1)

    const received = new Promise<string>(resolve => {
      b.services.artifacts.addEventListener('artifact', evt => { resolve((evt.detail.artifact as { body: string }).body) })
    })
    await a.services.artifacts.publish('text', new TextEncoder().encode('7\nhello, subnet'))
    assert.equal(await received, 'hello, subnet')
    assert.equal([...b.services.artifacts.pool('text').validated()].length, 1)

    await stopAll([a, b])
    await verifier.close()
  })
})
