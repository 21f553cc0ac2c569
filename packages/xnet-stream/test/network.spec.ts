import assert from 'node:assert/strict'
import { stopAll, waitFor } from '@icnet/test-utils'
import { InMemoryMetrics, type RegistryView } from '@icnet/types'
import { StaticRegistryView } from '../src/static-registry.js'
import { TestHost } from './host.js'
import { makeSubnet, request } from './fixtures.js'

describe('xnet stream service over loopback TCP', function () {
  this.timeout(90_000)

  it('3 subnets exchange streams both ways until every message is signalled and collected', async () => {
    const subnets = [makeSubnet(), makeSubnet(), makeSubnet()]
    let registry!: RegistryView
    const hosts = subnets.map((s, i) => new TestHost(s, () => registry, i === 1 ? 5 : 0))
    const metrics = new InMemoryMetrics()
    await Promise.all(hosts.map(async (h, i) => h.start(i === 0 ? { metrics } : {})))
    registry = new StaticRegistryView({ subnets: hosts.map(h => h.subnet.record([h.node.peerId.toString()])), nodes: hosts.map(h => ({ id: h.node.peerId.toString(), subnetId: h.subnet.id, p2pAddresses: h.node.getMultiaddrs().map(a => a.toString()), blsPublicKey: new Uint8Array(48) })) })
    const PER_STREAM = 150
    let seq = 0
    const sent = new Map<string, number[]>()
    for (const h of hosts) {
      for (const dest of h.others()) {
        const list: number[] = []
        for (let k = 0; k < PER_STREAM; k++) { h.subnet.store.stream(dest).push(request(seq, 100)); list.push(seq++) }
        sent.set(`${h.subnet.id.toText()}>${dest.toText()}`, list)
      }
      h.subnet.store.certify()
    }
    try {
      await waitFor(() => {
        for (const h of hosts) h.round()
        return hosts.every(h => h.others().every(d => { const s = h.subnet.store.stream(d); return s.begin === PER_STREAM && s.end === PER_STREAM }))
      }, { timeoutMs: 60_000, intervalMs: 30, what: 'all streams signalled and collected' })
      for (const h of hosts) {
        for (const src of h.others()) {
          const expected = sent.get(`${src.toText()}>${h.subnet.id.toText()}`)!
          const rejectedBySomeone = hosts[1]!.subnet.id.toText() === h.subnet.id.toText() ? expected.filter((_, k) => k % 5 === 4) : []
          assert.deepEqual(h.received.get(src.toText()), expected.filter(x => !rejectedBySomeone.includes(x)), 'in order, complete, no duplicates')
        }
      }
      // Subnet 1 rejected every 5th message: both senders got exactly those back from GC.
      const rejected = [...hosts[0]!.rejectedBack, ...hosts[2]!.rejectedBack].sort((a, b) => a - b)
      const expectedRejects = [0, 2].flatMap(i => sent.get(`${hosts[i]!.subnet.id.toText()}>${hosts[1]!.subnet.id.toText()}`)!.filter((_, k) => k % 5 === 4)).sort((a, b) => a - b)
      assert.deepEqual(rejected, expectedRejects)
      assert.ok(metrics.get('xnet_builder_pull_attempt_count', { status: 'success' }) > 0)
    } finally {
      await stopAll(hosts.map(h => h.node))
    }
  })

  it('fails over to another node of the source subnet when one dies mid-pull', async () => {
    const a = makeSubnet()
    const b = makeSubnet()
    let registry!: RegistryView
    // Two nodes of A serve the same certified state (one store); B pulls in small slices.
    const a1 = new TestHost(a, () => registry)
    const a2 = new TestHost(a, () => registry)
    const hb = new TestHost(b, () => registry)
    await Promise.all([a1.start(), a2.start(), hb.start({ msgLimit: 10, backoffBaseMs: 20, requestTimeoutMs: 2000 })])
    const nodes = [a1, a2, hb]
    registry = new StaticRegistryView({
      subnets: [a.record([a1.node.peerId.toString(), a2.node.peerId.toString()]), b.record([hb.node.peerId.toString()])],
      nodes: nodes.map(h => ({ id: h.node.peerId.toString(), subnetId: h.subnet.id, p2pAddresses: h.node.getMultiaddrs().map(x => x.toString()), blsPublicKey: new Uint8Array(48) }))
    })
    for (let k = 0; k < 400; k++) a.store.stream(b.id).push(request(k, 50))
    a.store.certify()
    try {
      await waitFor(() => { hb.round(); return (hb.received.get(a.id.toText())?.length ?? 0) >= 20 }, { timeoutMs: 30_000, what: 'first slices' })
      // B has been pulling from a1 (round-robin among equally fast nodes); now a1 dies.
      await waitFor(() => { hb.round(); return hb.node.services.xnet.peerStats(a.id, a1.node.peerId.toString())?.rttMs !== undefined }, { timeoutMs: 30_000, what: 'a pull from a1' })
      await a1.node.stop()
      await waitFor(() => { hb.round(); return (hb.received.get(a.id.toText())?.length ?? 0) === 400 }, { timeoutMs: 60_000, what: 'all 400 messages after failover' })
      assert.deepEqual(hb.received.get(a.id.toText()), Array.from({ length: 400 }, (_, k) => k))
    } finally {
      await stopAll([a2.node, hb.node])
    }
  })
})
