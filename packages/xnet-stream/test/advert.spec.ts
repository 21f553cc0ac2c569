import assert from 'node:assert/strict'
import { connectAll, stopAll, waitFor } from '@icnet/test-utils'
import type { RegistryView } from '@icnet/types'
import { sliceMessagesEnd } from '../src/slice.js'
import { StaticRegistryView } from '../src/static-registry.js'
import { makeSubnet, request } from './fixtures.js'
import { TestHost } from './host.js'

describe('stream adverts (/icnet/xnet/advert/1.0.0)', function () {
  this.timeout(60_000)
  it('an advert makes the receiver pull at once; without one nothing is pulled', async () => {
    let registry!: RegistryView
    const ha = new TestHost(makeSubnet(), () => registry)
    const hb = new TestHost(makeSubnet(), () => registry)
    // No background polling anywhere: only an advert can start a pull.
    await Promise.all([ha.start({ backgroundRefill: false }), hb.start({ backgroundRefill: false })])
    const hosts = [ha, hb]
    registry = new StaticRegistryView({
      subnets: hosts.map(h => h.subnet.record([h.node.peerId.toString()])),
      nodes: hosts.map(h => ({ id: h.node.peerId.toString(), subnetId: h.subnet.id, p2pAddresses: h.node.getMultiaddrs().map(String), blsPublicKey: new Uint8Array(48) }))
    })
    try {
      await connectAll([ha.node, hb.node])
      const toB = ha.subnet.store.stream(hb.subnet.id)
      for (let i = 0; i < 5; i++) toB.push(request(i))
      const { height } = ha.subnet.store.certify()
      // Give a (wrongly) polling receiver every chance to pull: it must not.
      await new Promise(resolve => setTimeout(resolve, 300))
      assert.equal(hb.pool.peek(ha.subnet.id), undefined)

      await ha.node.services.xnet.advertise(hb.subnet.id, toB.end, height)
      await waitFor(() => hb.pool.peek(ha.subnet.id) !== undefined, { what: 'the advertised slice in the pool' })
      assert.equal(sliceMessagesEnd(hb.pool.peek(ha.subnet.id)!), 5)
    } finally {
      await stopAll([ha.node, hb.node])
    }
  })
})
