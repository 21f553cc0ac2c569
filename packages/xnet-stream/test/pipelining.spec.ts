import assert from 'node:assert/strict'
import { stopAll } from '@icnet/test-utils'
import type { RegistryView } from '@icnet/types'
import { CertificationError } from '../src/errors.js'
import { StaticRegistryView } from '../src/static-registry.js'
import { verifyCertifiedSlice } from '../src/slice.js'
import { TestHost } from './host.js'
import { makeSubnet, request, type TestSubnet } from './fixtures.js'

async function sourceAndPuller (messages: number): Promise<{ a: TestSubnet, b: TestSubnet, ha: TestHost, hb: TestHost, registry: () => RegistryView }> {
  const a = makeSubnet()
  const b = makeSubnet()
  for (let k = 0; k < messages; k++) a.store.stream(b.id).push(request(k, 2000))
  a.store.certify()
  let registry!: RegistryView
  const ha = new TestHost(a, () => registry)
  const hb = new TestHost(b, () => registry)
  await Promise.all([ha.start(), hb.start({ backgroundRefill: false })])
  registry = new StaticRegistryView({
    subnets: [a.record([ha.node.peerId.toString()]), b.record([hb.node.peerId.toString()])],
    nodes: [ha, hb].map(h => ({ id: h.node.peerId.toString(), subnetId: h.subnet.id, p2pAddresses: h.node.getMultiaddrs().map(String), blsPublicKey: new Uint8Array(48) }))
  })
  return { a, b, ha, hb, registry: () => registry }
}

describe('pipelined pulls', function () {
  this.timeout(60_000)

  it('an answered request leaves the node\'s window while its slice is verified, and is scored once', async () => {
    const { a, b, ha, hb, registry } = await sourceAndPuller(40)
    const xnet = hb.node.services.xnet
    const node = ha.node.peerId.toString()
    try {
      const inFlightDuringVerification: number[] = []
      const verify = (slice: Parameters<typeof verifyCertifiedSlice>[0]): number => {
        inFlightDuringVerification.push(xnet.peerStats(a.id, node)!.inFlight)
        verifyCertifiedSlice(slice, { ourSubnet: b.id, sourceSubnet: a.id, registry: registry() })
        return slice.messages.length
      }
      assert.equal(await xnet.pull(a.id, { msgBegin: 0, msgLimit: 10 }, verify), 10)
      assert.equal(await xnet.pull(a.id, { msgBegin: 10, msgLimit: 10 }, verify), 10)
      assert.deepEqual(inFlightDuringVerification, [0, 0])
      const s = xnet.peerStats(a.id, node)!
      assert.equal(s.inFlight, 0)
      assert.equal(s.cwnd, 3, 'two successes, each counted once')

      // A slice refused by verification after it was answered still scores the node down, once.
      await assert.rejects(xnet.pull(a.id, { msgBegin: 20, msgLimit: 10 }, () => { throw new CertificationError('refused by the test') }))
      const after = xnet.peerStats(a.id, node)!
      assert.equal(after.inFlight, 0)
      assert.equal(after.consecutiveFailures >= 1, true)
      assert.equal(after.cwnd, 1)
    } finally {
      await stopAll([ha.node, hb.node])
    }
  })

  it('concurrent requests on one connection, each answered beyond the muxer\'s window, all arrive whole and verify', async () => {
    const { a, b, ha, hb, registry } = await sourceAndPuller(1600)
    const xnet = hb.node.services.xnet
    try {
      // Grow the window to 4 first (it starts at 1 and grows by one per success).
      for (let k = 0; k < 3; k++) await xnet.pull(a.id, { msgBegin: 0, msgLimit: 1 }, s => s.messages.length)
      // ~800 KB a response: each write waits for the muxer, and the next response's for it.
      const pulls = [0, 400, 800, 1200].map(async begin => await xnet.pull(a.id, { msgBegin: begin, msgLimit: 400 }, slice => {
        verifyCertifiedSlice(slice, { ourSubnet: b.id, sourceSubnet: a.id, registry: registry() })
        assert.equal(slice.messages[0]!.index, begin)
        return slice.messages.length
      }))
      assert.deepEqual(await Promise.all(pulls), [400, 400, 400, 400])
    } finally {
      await stopAll([ha.node, hb.node])
    }
  })
})
