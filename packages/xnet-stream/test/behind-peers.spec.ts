import assert from 'node:assert/strict'
import { stopAll, waitFor } from '@icnet/test-utils'
import { InMemoryMetrics, type RegistryView } from '@icnet/types'
import { InMemoryCertifiedStreamStore } from '../src/certified-store.js'
import { BEHIND_RETRY_MS } from '../src/constants.js'
import { sliceMessagesBegin, sliceMessagesEnd } from '../src/slice.js'
import { StaticRegistryView } from '../src/static-registry.js'
import { makeSubnet, request, type TestSubnet } from './fixtures.js'
import { TestHost } from './host.js'

/**
 * Source subnet A has two honest nodes: `ahead` has certified its stream to B twice
 * (40 messages, height 2); `behind` is another replica of A that has certified only
 * once so far. Both sign with A's key, so everything `behind` serves is authentic.
 */
async function twoNodesOfA (behindMessages: number): Promise<{ a: TestSubnet, ahead: TestHost, behind: TestHost, hb: TestHost, behindStore: InMemoryCertifiedStreamStore, metrics: InMemoryMetrics, registry: RegistryView }> {
  const a = makeSubnet()
  const b = makeSubnet()
  const behindStore = new InMemoryCertifiedStreamStore({ subnetId: a.id, shares: a.keys.shares, threshold: 1 })
  for (let k = 0; k < 40; k++) a.store.stream(b.id).push(request(k, 64))
  for (let k = 0; k < behindMessages; k++) behindStore.stream(b.id).push(request(k, 64))
  a.store.certify()
  a.store.certify()
  behindStore.certify()
  let registry!: RegistryView
  const ahead = new TestHost(a, () => registry)
  const behind = new TestHost({ ...a, store: behindStore }, () => registry)
  const hb = new TestHost(b, () => registry)
  const metrics = new InMemoryMetrics()
  // The 60 s penalty for invalid slices is kept: a peer wrongly penalised would not be asked again in this test.
  await Promise.all([ahead.start(), behind.start(), hb.start({ backgroundRefill: false, metrics })])
  const hosts = [ahead, behind, hb]
  registry = new StaticRegistryView({
    subnets: [a.record([ahead.node.peerId.toString(), behind.node.peerId.toString()]), b.record([hb.node.peerId.toString()])],
    nodes: hosts.map(h => ({ id: h.node.peerId.toString(), subnetId: h.subnet.id, p2pAddresses: h.node.getMultiaddrs().map(String), blsPublicKey: new Uint8Array(48) }))
  })
  return { a, ahead, behind, hb, behindStore, metrics, registry }
}

describe('source nodes that are behind (honest, not yet at the newest height)', function () {
  this.timeout(60_000)

  it('an authentic stale slice is dropped, not handed to the host, and its node asked again soon', async () => {
    const { a, ahead, behind, hb, behindStore, metrics } = await twoNodesOfA(40)
    const xnet = hb.node.services.xnet
    const aheadId = ahead.node.peerId.toString()
    const behindId = behind.node.peerId.toString()
    let added = 0
    const accept = (slice: Parameters<typeof hb.pool.put>[1]): number => { const n = hb.pool.put(a.id, slice, hb.expected(a.id)); added += n; return n }
    try {
      assert.equal(await xnet.pull(a.id, { msgBegin: 0, msgLimit: 10, prefer: aheadId }, accept), 10)
      assert.equal(hb.pool.peek(a.id)!.certification.height, 2)

      // The suffix from `behind` is authentic but certified at height 1, older than the pooled
      // slice: dropped, and the same pull goes on to `ahead`.
      assert.equal(await xnet.pull(a.id, { msgBegin: 10, witnessBegin: 0, msgLimit: 10, prefer: behindId }, accept), 10)
      assert.equal(metrics.get('xnet_slice_dropped_total', { reason: 'stale' }), 1)
      assert.equal(metrics.get('xnet_builder_pull_attempt_count', { status: 'stale' }), 1)
      assert.equal(metrics.get('xnet_slice_invalid_total', { reason: 'stale' }), 0)
      const pooled = hb.pool.peek(a.id)!
      assert.equal(pooled.certification.height, 2, 'nothing of height 1 reached the pool')
      assert.deepEqual([sliceMessagesBegin(pooled), sliceMessagesEnd(pooled)], [0, 20])
      assert.equal(added, 20)

      // Not scored down: no failure counted, its window kept, asked again after the short delay.
      const s = xnet.peerStats(a.id, behindId)!
      assert.equal(s.consecutiveFailures, 0)
      assert.equal(s.cwnd, 1)
      assert.ok(s.notBefore - Date.now() <= BEHIND_RETRY_MS, `retry in ${s.notBefore - Date.now()} ms`)
      await waitFor(() => xnet.peerStats(a.id, behindId)!.notBefore <= Date.now(), { timeoutMs: 5_000, what: 'the stale node to be ready again' })

      // Once it has caught up, it serves the next suffix.
      behindStore.certify()
      assert.equal(await xnet.pull(a.id, { msgBegin: 20, witnessBegin: 0, msgLimit: 10, prefer: behindId }, accept), 10)
      assert.notEqual(xnet.peerStats(a.id, behindId)!.rttMs, undefined, 'the formerly stale node answered')
      assert.equal(metrics.get('xnet_slice_dropped_total', { reason: 'stale' }), 1)
    } finally {
      await stopAll([ahead.node, behind.node, hb.node])
    }
  })

  it('a BAD_BEGIN node is retried after a short fixed delay, not an exponential one, and another node answers meanwhile', async () => {
    // `behind` has certified only 10 messages: asked from 20, it answers BAD_BEGIN.
    const { a, ahead, behind, hb, metrics } = await twoNodesOfA(10)
    const xnet = hb.node.services.xnet
    const aheadId = ahead.node.peerId.toString()
    const behindId = behind.node.peerId.toString()
    try {
      for (let round = 1; round <= 5; round++) {
        await waitFor(() => xnet.peerStats(a.id, behindId)!.notBefore <= Date.now(), { timeoutMs: 5_000, what: 'the behind node to be ready' })
        const got = await xnet.pull(a.id, { msgBegin: 20, msgLimit: 5, prefer: behindId }, slice => xnet.verify(a.id, slice))
        assert.equal(sliceMessagesBegin(got), 20, 'the other node served the slice')
        assert.equal(metrics.get('xnet_builder_pull_attempt_count', { status: 'bad_begin' }), round)
        const s = xnet.peerStats(a.id, behindId)!
        // Exponential backoff would reach 100 ms * 2^4 by the fifth round; this stays fixed.
        assert.ok(s.notBefore - Date.now() <= BEHIND_RETRY_MS, `round ${round}: retry in ${s.notBefore - Date.now()} ms`)
        assert.equal(s.consecutiveFailures, 0)
        assert.equal(s.rttMs, undefined)
      }
      assert.notEqual(xnet.peerStats(a.id, aheadId)!.rttMs, undefined)
    } finally {
      await stopAll([ahead.node, behind.node, hb.node])
    }
  })

  it('an advert makes the receiver pull from the node that sent it', async () => {
    const { a, ahead, behind, hb } = await twoNodesOfA(40)
    const xnet = hb.node.services.xnet
    // Without the advert, `ahead` (unmeasured, listed first) would be asked first.
    const advertiser = behind
    try {
      await advertiser.node.services.xnet.advertise(hb.subnet.id, 40, 1)
      await waitFor(() => hb.pool.peek(a.id) !== undefined, { timeoutMs: 20_000, what: 'the advertised slice in the pool' })
      assert.equal(hb.pool.peek(a.id)!.certification.height, 1, 'pulled from the advertiser (height 1)')
      assert.notEqual(xnet.peerStats(a.id, advertiser.node.peerId.toString())!.rttMs, undefined)
    } finally {
      await stopAll([ahead.node, behind.node, hb.node])
    }
  })
})
