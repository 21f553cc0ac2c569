import assert from 'node:assert/strict'
import fc from 'fast-check'
import { decodeHashTree, encodeHashTree } from '@icnet/hashtree'
import { equalBytes } from '@icnet/types'
import { MAX_TREE_DEPTH } from '../src/constants.js'
import { InvalidSliceError } from '../src/errors.js'
import { CertifiedStreamSlice as PbSlice } from '../src/pb/xnet.js'
import { proofRootFromBytes } from '../src/proof-root.js'
import { DigestCache, sliceWitness } from '../src/slice-tree.js'
import {
  decodeCertifiedSlice,
  encodeCertifiedSlice,
  sliceRootHash,
  verifyCertifiedSlice,
  type CertifiedStreamSlice
} from '../src/slice.js'
import { SliceWitnessWriter } from '../src/witness-writer.js'
import { request, threeSubnets } from './fixtures.js'

// The hand-written fast paths against the reference implementations they replace.
describe('slice wire fast paths', function () {
  this.timeout(60_000)
  const { a, b, c, registry } = threeSubnets()
  const ctx = { ourSubnet: b.id, sourceSubnet: a.id, registry }
  const toB = a.store.stream(b.id)
  for (let i = 0; i < 90; i++) toB.push(request(i, 1 + (i * 53) % 700))
  toB.pushAcceptSignal(); toB.pushRejectSignal(2)
  toB.discardMessagesBefore(7, [])
  for (let i = 0; i < 3; i++) a.store.stream(c.id).push(request(1000 + i))
  a.store.certify()
  const begin = toB.begin
  const end = toB.end

  it('writes the same witness bytes as encodeHashTree(sliceWitness(...)) for any range', () => {
    const digests = new DigestCache()
    const writer = new SliceWitnessWriter(digests)
    const tree = a.store.certifiedTree()!
    const subnet = b.id.toUint8Array()
    fc.assert(fc.property(fc.integer({ min: begin, max: end }), fc.integer({ min: begin, max: end }), (x, y) => {
      const [from, to] = x <= y ? [x, y] : [y, x]
      assert.ok(equalBytes(writer.write(tree, subnet, from, to), encodeHashTree(sliceWitness(tree, subnet, from, to, digests))))
    }), { numRuns: 200 })
  })

  it('assembles the same bytes as the generated protobuf codec, and reads them back as it does', () => {
    fc.assert(fc.property(fc.integer({ min: begin, max: end }), fc.nat(100), (msgBegin, msgLimit) => {
      const s = a.store.slice(b.id, { msgBegin, msgLimit }) as CertifiedStreamSlice
      const bytes = encodeCertifiedSlice(s)
      const reference = PbSlice.encode({
        payload: {
          subnet: s.subnet as Uint8Array<ArrayBuffer>,
          header: s.headerBytes as Uint8Array<ArrayBuffer>,
          messages: s.messages.map(m => ({ index: BigInt(m.index), message: m.bytes as Uint8Array<ArrayBuffer> }))
        },
        merkleProof: encodeHashTree(s.merkleProof) as Uint8Array<ArrayBuffer>,
        certification: { height: BigInt(s.certification.height), signature: s.certification.signature as Uint8Array<ArrayBuffer> }
      })
      assert.ok(equalBytes(bytes, reference))
      const d = decodeCertifiedSlice(bytes)
      assert.deepEqual(d.messages.map(m => m.index), s.messages.map(m => m.index))
      assert.ok(d.messages.every((m, k) => equalBytes(m.bytes, s.messages[k]!.bytes)))
      assert.ok(equalBytes(encodeHashTree(d.merkleProof), encodeHashTree(s.merkleProof)))
    }), { numRuns: 60 })
  })

  it('computes the same root from the proof bytes as from the proof tree', () => {
    fc.assert(fc.property(fc.integer({ min: begin, max: end }), fc.nat(100), (msgBegin, msgLimit) => {
      const wire = decodeCertifiedSlice(encodeCertifiedSlice(a.store.slice(b.id, { msgBegin, msgLimit }) as CertifiedStreamSlice))
      const asTree: CertifiedStreamSlice = { ...wire } // a plain copy: the tree path
      assert.ok(equalBytes(sliceRootHash(wire), sliceRootHash(asTree)))
    }), { numRuns: 60 })
  })

  it('agrees with decodeHashTree + the tree walk on a proof with any byte changed, and fails only with typed errors', () => {
    const s = a.store.slice(b.id, { msgBegin: begin, msgLimit: 12 }) as CertifiedStreamSlice
    const proof = encodeHashTree(s.merkleProof)
    const payload = { subnet: s.subnet, headerBytes: s.headerBytes, first: begin, messages: s.messages }
    fc.assert(fc.property(fc.nat(proof.length - 1), fc.integer({ min: 1, max: 255 }), (at, xor) => {
      const bad = proof.slice()
      bad[at]! ^= xor
      let fast: Uint8Array | undefined
      try {
        fast = proofRootFromBytes(bad, payload)
      } catch (err) {
        assert.ok(err instanceof InvalidSliceError, String(err))
      }
      let reference: Uint8Array | undefined
      try {
        reference = sliceRootHash({ ...s, merkleProof: decodeHashTree(bad, { maxDepth: MAX_TREE_DEPTH }) })
      } catch { /* refused there too */ }
      assert.equal(fast === undefined, reference === undefined)
      if (fast !== undefined) assert.ok(equalBytes(fast, reference!))
    }), { numRuns: 300 })
  })

  it('verifies again from the cache and still refuses a wrong signature at the same root', () => {
    const s = a.store.slice(b.id, { msgBegin: begin }) as CertifiedStreamSlice
    verifyCertifiedSlice(s, ctx)
    verifyCertifiedSlice(s, ctx)
    const forged: CertifiedStreamSlice = { ...s, certification: { ...s.certification, signature: new Uint8Array(48).fill(1) } }
    assert.throws(() => verifyCertifiedSlice(forged, ctx), (e: unknown) => e instanceof InvalidSliceError)
  })
})
