import assert from 'node:assert/strict'
import fc from 'fast-check'
import { decodeHashTree, encodeHashTree, leafDigest, type HashTree } from '@icnet/hashtree'
import { equalBytes } from '@icnet/types'
import { MAX_TREE_DEPTH } from '../src/constants.js'
import { InvalidSliceError } from '../src/errors.js'
import { CertifiedStreamSlice as PbSlice } from '../src/pb/xnet.js'
import { proofRootFromBytes } from '../src/proof-root.js'
import { DigestCache, indexLabel, labelIndex, sliceWitness } from '../src/slice-tree.js'
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

  it('hands out every payload message\'s leaf digest, in order, while computing the same root', () => {
    fc.assert(fc.property(fc.integer({ min: begin, max: end }), fc.nat(100), (msgBegin, msgLimit) => {
      const s = a.store.slice(b.id, { msgBegin, msgLimit }) as CertifiedStreamSlice
      const payload = { subnet: s.subnet, headerBytes: s.headerBytes, first: msgBegin, messages: s.messages }
      const out = new Uint8Array(s.messages.length * 32 + 5).fill(0xaa)
      const root = proofRootFromBytes(encodeHashTree(s.merkleProof), { ...payload, leafDigestsOut: out })
      assert.ok(equalBytes(root, sliceRootHash(s)))
      s.messages.forEach((m, k) => { assert.deepEqual(out.subarray(k * 32, k * 32 + 32), leafDigest(m.bytes)) })
      assert.deepEqual(out.subarray(s.messages.length * 32), new Uint8Array(5).fill(0xaa))
    }), { numRuns: 60 })
  })

  it('agrees with the tree walk on long labels, large leaves and large payload messages', () => {
    const own = threeSubnets() // its own stores: the other tests' stream stays as it is
    const big = own.a.store.stream(own.b.id)
    big.push(request(1))
    // Messages larger than @icnet/hashtree's scratch buffer (4 KiB) are hashed by streaming them.
    for (let i = 0; i < 3; i++) big.push(request(5000 + i, 20_000 + i))
    own.a.store.certify()
    const s = own.a.store.slice(own.b.id, { msgBegin: 0 }) as CertifiedStreamSlice
    assert.equal(s.messages.length, 4)
    assert.ok(s.messages.some(m => m.bytes.length > 16 * 1024))
    // Beside the slice's path: a label longer than the walk's reused frame, over a leaf larger than its scratch.
    fc.assert(fc.property(fc.uint8Array({ minLength: 65, maxLength: 300 }), fc.uint8Array({ maxLength: 40_000 }), (label, value) => {
      const proof: HashTree = { kind: 'fork', left: s.merkleProof, right: { kind: 'labeled', label, subtree: { kind: 'leaf', value } } }
      const payload = { subnet: s.subnet, headerBytes: s.headerBytes, first: s.messages[0]!.index, messages: s.messages }
      assert.ok(equalBytes(proofRootFromBytes(encodeHashTree(proof), payload), sliceRootHash({ ...s, merkleProof: proof })))
    }), { numRuns: 20 })
    assert.ok(equalBytes(proofRootFromBytes(encodeHashTree(s.merkleProof), { subnet: s.subnet, headerBytes: s.headerBytes, first: s.messages[0]!.index, messages: s.messages }), sliceRootHash(s)))
  })

  it('verifies again from the cache and still refuses a wrong signature at the same root', () => {
    const s = a.store.slice(b.id, { msgBegin: begin }) as CertifiedStreamSlice
    verifyCertifiedSlice(s, ctx)
    verifyCertifiedSlice(s, ctx)
    const forged: CertifiedStreamSlice = { ...s, certification: { ...s.certification, signature: new Uint8Array(48).fill(1) } }
    assert.throws(() => verifyCertifiedSlice(forged, ctx), (e: unknown) => e instanceof InvalidSliceError)
  })
})

describe('stream index labels', () => {
  it('indexLabel is the 8-byte big-endian index and labelIndex reads it back, for every safe index', () => {
    fc.assert(fc.property(fc.oneof(fc.nat(), fc.maxSafeNat(), fc.integer({ min: 2 ** 32 - 2, max: 2 ** 32 + 2 })), i => {
      const expected = new Uint8Array(8)
      new DataView(expected.buffer).setBigUint64(0, BigInt(i), false)
      assert.deepEqual(indexLabel(i), expected)
      assert.equal(labelIndex(indexLabel(i)), i)
    }), { numRuns: 500 })
    for (const bad of [-1, 1.5, Number.MAX_SAFE_INTEGER + 1, Number.NaN]) assert.throws(() => indexLabel(bad), RangeError)
  })
})
