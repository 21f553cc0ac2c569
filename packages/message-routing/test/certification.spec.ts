import assert from 'node:assert/strict'
import { certificateMessage, verifyCertificate } from '@icnet/crypto'
import { lookupPath } from '@icnet/hashtree'
import { toHex } from '@icnet/types'
import { decodeCertifiedSlice, encodeCertifiedSlice, verifyCertifiedSlice } from '@icnet/xnet-stream'
import { CertificationMismatchError } from '../src/index.js'
import { Network, canisterOf } from './harness.js'

describe('certification and the certified stream store', function () {
  this.timeout(60_000)

  it('serves slices from the latest certified height only', async () => {
    const net = await Network.create({ subnets: 2, sandbox: 'js' })
    try {
      await net.installLoad()
      net.configure(0, 0, 3, [canisterOf(1, 0)])
      await net.rounds(3)
      const a = net.nodes[0]!
      const to = net.subnets[1]!.id
      assert.equal(a.mr.latestCertifiedHeight, 3)
      const before = a.mr.certifiedStreamStore.slice(to, { msgBegin: 0 })
      assert.ok(!('code' in before))
      assert.equal(before.certification.height, 3)
      // Height 4 executes but is not certified yet: the store still serves height 3, byte for byte.
      const r = await a.mr.executeBatch({ height: 4, time: net.time + 1000, xnetSlices: net.slicesFor(0) })
      const during = a.mr.certifiedStreamStore.encodeSlice(to, { msgBegin: 0 })
      assert.ok(during.ok)
      assert.equal(during.height, 3)
      assert.equal(during.messages, before.messages.length)
      // A signature over anything else is refused.
      assert.throws(() => a.mr.setCertification(4, net.subnets[0]!.sign(certificateMessage(new Uint8Array(32)))), CertificationMismatchError)
      assert.throws(() => a.mr.setCertification(4, net.subnets[1]!.sign(certificateMessage(r.stateRoot))), CertificationMismatchError)
      assert.equal(a.mr.latestCertifiedHeight, 3)
      assert.equal(a.mr.setCertification(4, net.subnets[0]!.sign(certificateMessage(r.stateRoot))), true)
      assert.equal(a.mr.setCertification(3, net.subnets[0]!.sign(certificateMessage(net.roots[0]![2]!))), false, 'an older height is ignored')
      // Certified and executed states are now the same: slice from our stream's begin.
      const begin = a.mr.ownStream(to)!.begin
      const after = a.mr.certifiedStreamStore.slice(to, { msgBegin: begin })
      assert.ok(!('code' in after))
      assert.equal(after.certification.height, 4)
      assert.ok(after.header.end > before.header.end)
      // Bad begins and unknown streams answer with the protocol's codes.
      assert.deepEqual(a.mr.certifiedStreamStore.encodeSlice(to, { msgBegin: after.header.end + 1 }), { ok: false, code: 'BAD_BEGIN' })
      assert.deepEqual(a.mr.certifiedStreamStore.encodeSlice(a.subnet.id, { msgBegin: 0 }), { ok: false, code: 'NO_STREAM' })
      // Limits: a prefix that still verifies.
      const small = a.mr.certifiedStreamStore.slice(to, { msgBegin: begin + 1, witnessBegin: begin, msgLimit: 2 })
      assert.ok(!('code' in small))
      assert.deepEqual(small.messages.map(m => m.index), [begin + 1, begin + 2])
      verifyCertifiedSlice(decodeCertifiedSlice(encodeCertifiedSlice(small)), { ourSubnet: to, sourceSubnet: a.subnet.id, registry: net.registry })
    } finally {
      await net.close()
    }
  })

  it('gives read_state certificates that verify against the subnet key', async () => {
    const net = await Network.create({ subnets: 2, sandbox: 'js' })
    try {
      await net.installLoad()
      await net.rounds(2)
      const a = net.nodes[0]!
      const id = canisterOf(0, 0)
      const bytes = a.mr.readStateCertificate([['canister', id.toUint8Array(), 'module_hash']])
      assert.ok(bytes !== undefined)
      const cert = await verifyCertificate(bytes, net.subnets[0]!.keys.publicKeyDer, { now: () => net.time })
      assert.equal(toHex(cert.rootHash), toHex(net.roots[0]![1]!))
      const hash = cert.lookup(['canister', id.toUint8Array(), 'module_hash'])
      assert.equal(hash.status, 'found')
      assert.equal(lookupPath(cert.tree, ['metadata', 'height']).status, 'unknown', 'everything else is pruned')
    } finally {
      await net.close()
    }
  })
})
