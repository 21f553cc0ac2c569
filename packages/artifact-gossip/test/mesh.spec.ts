import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { connectAll, stopAll, waitFor } from '@icnet/test-utils'
import { artifactIdHex } from '../src/index.js'
import { createMesh, createMeshNode, makeNote, sharedVerifier, waitForMesh, type MeshNode, type TestRegistry } from './fixtures.js'
import type { BlsVerifierPool } from '@icnet/crypto'

/** Counts 'artifact' events per id on a node: the pool's deliveries. */
function deliveries (m: MeshNode): Map<string, number> {
  const seen = new Map<string, number>()
  m.service.addEventListener('artifact', evt => { seen.set(evt.detail.id, (seen.get(evt.detail.id) ?? 0) + 1) })
  return seen
}

describe('artifact gossip on a 4-node loopback TCP mesh', function () {
  this.timeout(120_000)
  let verifier: BlsVerifierPool
  let nodes: MeshNode[] = []
  let registry: TestRegistry
  const extra: MeshNode[] = []

  before(async () => {
    verifier = sharedVerifier()
    ;({ nodes, registry } = await createMesh(4, { verifier, transport: 'tcp' }))
    await connectAll(nodes.map(m => m.node))
    await waitForMesh(nodes, waitFor)
  })

  after(async () => {
    await stopAll([...nodes, ...extra].map(m => m.node))
    await verifier.close()
  })

  it('delivers every artifact, small and large, to every node exactly once', async () => {
    const seen = nodes.map(deliveries)
    const published: string[] = []
    for (let i = 0; i < 20; i++) {
      const from = nodes[i % nodes.length]!
      const res = await from.service.publish('note', makeNote(from.keys, 100 + i, randomBytes(1024)))
      assert.equal(res.mode, 'inline')
      published.push(res.id)
    }
    await waitFor(() => nodes.every(m => published.every(id => m.service.pool('note').get(id)?.section === 'validated')),
      { timeoutMs: 60_000, what: 'all artifacts everywhere' })
    for (const [i, m] of nodes.entries()) {
      for (const id of published) {
        const entry = m.service.pool('note').get(id)
        assert.equal(entry?.section, 'validated', `node ${i} holds ${id} validated`)
        // Our own artifacts are stored at publish time and never delivered back.
        assert.equal(seen[i]!.get(id) ?? 0, entry.from === undefined ? 0 : 1, `node ${i} received ${id} once`)
      }
    }
  })

  it('fetches a large artifact once per node, from peers that advertised it', async () => {
    const servedBefore = nodes.reduce((s, m) => s + m.service.served.ok, 0)
    const attemptsBefore = nodes.map(m => m.service.fetcher.attempts)
    const seen = nodes.map(deliveries)
    const bytes = makeNote(nodes[0]!.keys, 500, randomBytes(300 * 1024))
    const res = await nodes[0]!.service.publish('note', bytes)
    assert.equal(res.mode, 'advert')
    assert.equal(res.id, artifactIdHex(bytes))
    await waitFor(() => nodes.slice(1).every((_, i) => seen[i + 1]!.has(res.id)), { timeoutMs: 60_000, what: 'large artifact everywhere' })
    const served = nodes.reduce((s, m) => s + m.service.served.ok, 0) - servedBefore
    assert.equal(served, nodes.length - 1, 'one successful fetch per other node')
    for (let i = 1; i < nodes.length; i++) {
      assert.equal(nodes[i]!.service.fetcher.attempts - attemptsBefore[i]!, 1, `node ${i} fetched once`)
      assert.equal(seen[i]!.get(res.id), 1)
      assert.deepEqual(nodes[i]!.service.pool('note').get(res.id)?.bytes, bytes)
    }
  })

  it('drops artifacts below the purge height without validating them', async () => {
    const target = nodes[1]!
    target.service.purgeBelow('note', 1000)
    const seen = deliveries(target)
    const setsBefore = target.counters.signatureSets
    const low = await nodes[0]!.service.publish('note', makeNote(nodes[0]!.keys, 999, randomBytes(64)))
    const lowLarge = await nodes[0]!.service.publish('note', makeNote(nodes[0]!.keys, 998, randomBytes(100 * 1024)))
    const high = await nodes[0]!.service.publish('note', makeNote(nodes[0]!.keys, 1000, randomBytes(64)))
    const attemptsBefore = target.service.fetcher.attempts
    await waitFor(() => seen.has(high.id), { timeoutMs: 30_000, what: 'the artifact at the purge height' })
    // Both low artifacts were received (and dropped) before `high`, which was published last by the same peer.
    assert.equal(target.service.pool('note').has(low.id), false)
    assert.equal(target.service.pool('note').has(lowLarge.id), false)
    assert.equal(target.counters.signatureSets - setsBefore, 1, 'only the artifact at the purge height reached signature checks')
    assert.deepEqual(target.counters.heightsSigned.filter(h => h < 1000 && h >= 998), [])
    assert.equal(target.service.fetcher.attempts, attemptsBefore, 'the low large artifact was never fetched')
  })

  it('scores out and disconnects a member that publishes invalid artifacts', async () => {
    const bad = nodes[3]!
    const honest = nodes.slice(0, 3)
    for (let i = 0; i < 6; i++) {
      await bad.service.publish('note', makeNote(bad.keys, 2000 + i, randomBytes(128), { corrupt: true }))
    }
    await waitFor(() => honest.every(m => m.node.getConnections(bad.node.peerId).length === 0 && m.bans.isBanned(bad.id)),
      { timeoutMs: 60_000, what: 'honest nodes to disconnect the offender' })
    for (const m of honest) {
      assert.ok(m.node.services.pubsub.getScore(bad.id) < -80, 'offender below the graylist threshold')
      for (const e of m.service.pool('note').validated()) assert.ok(e.height < 2000 || e.height >= 3000, 'no invalid artifact was accepted')
    }
    // The ban holds: a redial is refused by the gater.
    await assert.rejects(honest[0]!.node.dial(bad.node.getMultiaddrs()[0]!))
  })

  it('keeps a node outside the subnet out of the mesh and its artifacts out of every pool', async () => {
    const honest = nodes.slice(0, 3)
    const outsider = await createMeshNode({ verifier, registry, member: false })
    extra.push(outsider)
    for (const m of honest) await outsider.node.dial(m.node.getMultiaddrs()[0]!)
    const topic = honest[0]!.service.topic('note')
    // The outsider sees the members' subscriptions; they ignore its RPCs (graylisted), subscriptions included.
    await waitFor(() => outsider.node.services.pubsub.getSubscribers(topic).length >= honest.length,
      { timeoutMs: 30_000, what: 'the outsider to see the members subscribe' })
    const res = await outsider.service.publish('note', makeNote(outsider.keys, 3000, randomBytes(64)))
    assert.equal(res.recipients, honest.length, 'the outsider did send its artifact to every member')
    // A member's artifact published afterwards proves the path works while the outsider's never lands.
    const marker = await honest[0]!.service.publish('note', makeNote(honest[0]!.keys, 3001, randomBytes(64)))
    await waitFor(() => honest.every(m => m.service.pool('note').has(marker.id)), { timeoutMs: 30_000, what: 'marker artifact' })
    for (const m of honest) {
      assert.equal(m.service.pool('note').has(res.id), false, 'outsider artifact not injected')
      assert.ok(!m.node.services.pubsub.getMeshPeers(topic).includes(outsider.id), 'outsider not in the mesh')
      assert.ok(m.node.services.pubsub.getScore(outsider.id) < -80, 'outsider below graylist')
    }
  })

  it('tells the host when a member subscribes to its kinds, never when an outsider does', async () => {
    const host = nodes[0]!
    const subscribed: Array<{ peer: string, kinds: string[] }> = []
    host.service.addEventListener('peer-subscribed', evt => { subscribed.push(evt.detail) })
    const outsider = await createMeshNode({ verifier, registry, member: false })
    const newcomer = await createMeshNode({ verifier, registry })
    extra.push(outsider, newcomer)
    await outsider.node.dial(host.node.getMultiaddrs()[0]!)
    await newcomer.node.dial(host.node.getMultiaddrs()[0]!)
    const topic = host.service.topic('note')
    await waitFor(() => subscribed.some(s => s.peer === newcomer.id),
      { timeoutMs: 30_000, what: 'the host to hear of the newcomer subscribing' })
    assert.deepEqual(subscribed.find(s => s.peer === newcomer.id)?.kinds, ['note'])
    // The outsider dialled first and is connected too; its subscription is never announced
    // (gossipsub scores it as a non-member, and the service checks membership besides).
    await waitFor(() => outsider.node.services.pubsub.getSubscribers(topic).some(p => p.toString() === host.id),
      { timeoutMs: 30_000, what: 'the outsider to see the host subscribe' })
    assert.equal(subscribed.some(s => s.peer === outsider.id), false, 'no event for the outsider')
  })

  it('refuses connections from outside the subnet with the strict connection gater', async () => {
    const strict = await createMeshNode({ verifier, registry, strictGater: true })
    extra.push(strict)
    const outsider = await createMeshNode({ verifier, registry, member: false })
    extra.push(outsider)
    // Outbound: refused before dialing. Inbound: closed once the outsider's identity is known.
    await assert.rejects(strict.node.dial(outsider.node.getMultiaddrs()[0]!))
    await outsider.node.dial(strict.node.getMultiaddrs()[0]!).catch(() => {})
    await waitFor(() => strict.node.getConnections(outsider.node.peerId).length === 0 && outsider.node.getConnections(strict.node.peerId).length === 0,
      { timeoutMs: 10_000, what: 'no connection between the outsider and the strict node' })
    assert.equal(strict.node.services.pubsub.getSubscribers(strict.service.topic('note')).length, 0)
    // A member is admitted.
    await nodes[0]!.node.dial(strict.node.getMultiaddrs()[0]!)
    await waitFor(() => strict.node.getConnections(nodes[0]!.node.peerId).length > 0, { timeoutMs: 10_000, what: 'the member admitted' })
  })
})
