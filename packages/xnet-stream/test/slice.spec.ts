import assert from 'node:assert/strict'
import fc from 'fast-check'
import { decodeStreamMessage, equalBytes } from '@icnet/types'
import { mergeWitness, reconstruct } from '@icnet/hashtree'
import { encodeStreamHeader } from '../src/header-codec.js'
import { InMemoryCertifiedStreamStore } from '../src/certified-store.js'
import { payloadLabeledTree } from '../src/slice-tree.js'
import {
  CertificationError,
  type InvalidSliceError,
  SliceDecodeError,
  SliceIndicesError,
  UnknownSubnetError,
  WrongSubnetError
} from '../src/errors.js'
import {
  decodeAndVerifySlice,
  decodeCertifiedSlice,
  encodeCertifiedSlice,
  mergeSuffix,
  sliceByteSize,
  sliceRootHash,
  takePrefix,
  verifyCertifiedSlice,
  type CertifiedStreamSlice
} from '../src/slice.js'
import { makeSubnet, request, threeSubnets } from './fixtures.js'

describe('certified slices', function () {
  this.timeout(60_000)
  const { a, b, c, registry } = threeSubnets()
  const ctx = { ourSubnet: b.id, sourceSubnet: a.id, registry }

  const toB = a.store.stream(b.id)
  for (let i = 0; i < 60; i++) toB.push(request(i, 10 + (i * 37) % 500))
  toB.pushAcceptSignal(); toB.pushRejectSignal(2); toB.pushAcceptSignal()
  a.store.stream(c.id).push(request(999))
  a.store.certify()

  const full = (): CertifiedStreamSlice => a.store.slice(b.id, { msgBegin: 0 }) as CertifiedStreamSlice

  it('round-trips through the wire encoding and verifies', () => {
    const s = full()
    const bytes = encodeCertifiedSlice(s)
    const d = decodeAndVerifySlice(bytes, ctx)
    assert.equal(d.messages.length, 60)
    assert.deepEqual(d.header, s.header)
    assert.equal(sliceByteSize(d), bytes.length)
    assert.deepEqual(d.messages[7]!.message, toB.get(7))
  })

  it('any prefix taken from a valid slice validates, and prefix + rest is the whole slice', () => {
    const s = full()
    fc.assert(fc.property(fc.nat(70), fc.integer({ min: 200, max: 40_000 }), (msgLimit, byteLimit) => {
      const { prefix, rest } = takePrefix(s, { msgLimit, byteLimit })
      if (prefix === undefined) { assert.equal(rest, s); return }
      assert.ok(prefix.messages.length <= msgLimit)
      assert.ok(sliceByteSize(prefix) <= byteLimit)
      const decoded = decodeAndVerifySlice(encodeCertifiedSlice(prefix), ctx)
      assert.equal(decoded.messages.length, prefix.messages.length)
      if (rest !== undefined) {
        verifyCertifiedSlice(rest, ctx)
        assert.deepEqual([...prefix.messages, ...rest.messages].map(m => m.index), s.messages.map(m => m.index))
      } else {
        assert.equal(prefix.messages.length, s.messages.length)
      }
    }), { numRuns: 40 })
  })

  it('a suffix pulled with witness_begin merges into the pooled prefix and equals the full slice', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 59 }), split => {
      const pooled = a.store.slice(b.id, { msgBegin: 0, msgLimit: split }) as CertifiedStreamSlice
      const suffix = decodeCertifiedSlice(encodeCertifiedSlice(a.store.slice(b.id, { msgBegin: split, witnessBegin: 0 }) as CertifiedStreamSlice))
      verifyCertifiedSlice(suffix, ctx) // the suffix's proof also holds alone
      const merged = mergeSuffix(pooled, suffix)
      verifyCertifiedSlice(merged, ctx)
      assert.ok(equalBytes(encodeCertifiedSlice(merged), encodeCertifiedSlice(full())))
    }), { numRuns: 15 })
  })

  it('a merge re-uses the pooled messages\' leaf digests only where they match the suffix\'s proof', () => {
    // A second store signing with A's key, whose stream to B holds other messages below `split`.
    const split = 20
    const other = new InMemoryCertifiedStreamStore({ subnetId: a.id, shares: a.keys.shares, threshold: 1 })
    const s2 = other.stream(b.id)
    for (let i = 0; i < 60; i++) s2.push(i < split ? request(1000 + i, 10) : toB.get(i)!)
    other.certify()
    const pooled = decodeCertifiedSlice(encodeCertifiedSlice(a.store.slice(b.id, { msgBegin: 0, msgLimit: split }) as CertifiedStreamSlice))
    verifyCertifiedSlice(pooled, ctx) // hashes (and remembers) the pooled messages' leaves
    const foreign = decodeCertifiedSlice(encodeCertifiedSlice(other.slice(b.id, { msgBegin: split, witnessBegin: 0 }) as CertifiedStreamSlice))
    verifyCertifiedSlice(foreign, ctx) // the suffix alone is genuine
    assert.throws(() => { verifyCertifiedSlice(mergeSuffix(pooled, foreign), ctx) }, CertificationError)
    const genuine = decodeCertifiedSlice(encodeCertifiedSlice(a.store.slice(b.id, { msgBegin: split, witnessBegin: 0 }) as CertifiedStreamSlice))
    const merged = mergeSuffix(pooled, genuine)
    verifyCertifiedSlice(merged, ctx)
    assert.ok(equalBytes(sliceRootHash(merged), sliceRootHash({ ...full() })))
  })

  it('computes the root as reconstruct(mergeWitness(proof, payload)) and counts bytes exactly', () => {
    fc.assert(fc.property(fc.nat(60), fc.nat(30), fc.nat(60), (begin, extra, limit) => {
      const msgBegin = Math.min(begin, 60)
      const witnessBegin = Math.max(0, msgBegin - extra)
      const s = a.store.slice(b.id, { msgBegin, witnessBegin, msgLimit: limit }) as CertifiedStreamSlice
      const merged = mergeWitness(s.merkleProof, payloadLabeledTree(s.subnet, s.headerBytes, s.messages))
      assert.ok(equalBytes(sliceRootHash(s), reconstruct(merged)))
      assert.equal(sliceByteSize(s), encodeCertifiedSlice({ ...s }).length)
      const { prefix } = takePrefix(s, { msgLimit: Math.floor(limit / 2) })
      assert.equal(sliceByteSize(prefix!), encodeCertifiedSlice({ ...prefix! }).length)
    }), { numRuns: 30 })
  })

  it('keeps at least one message under a tiny byte limit on the server, none in a payload prefix', () => {
    const one = a.store.slice(b.id, { msgBegin: 5, byteLimit: 10 }) as CertifiedStreamSlice
    assert.equal(one.messages.length, 1)
    const { prefix } = takePrefix(full(), { byteLimit: 10 })
    assert.equal(prefix, undefined)
  })

  it('refuses tampering with a typed error', () => {
    const s = full()
    const altered = (f: (s: CertifiedStreamSlice) => CertifiedStreamSlice): Uint8Array => encodeCertifiedSlice(f(s))
    const otherMessage = s.messages[4]!
    const cases: Array<[string, Uint8Array, new (...args: never[]) => InvalidSliceError]> = [
      ['altered message', altered(x => ({ ...x, messages: x.messages.map((m, i) => i === 3 ? { ...otherMessage, index: 3, message: decodeStreamMessage(otherMessage.bytes) } : m) })), CertificationError],
      ['bad signature', altered(x => ({ ...x, certification: { ...x.certification, signature: x.certification.signature.map((v, i) => i === 5 ? v ^ 1 : v) } })), CertificationError],
      ['gap inside', altered(x => ({ ...x, messages: x.messages.filter((_, i) => i !== 10) })), SliceIndicesError],
      ['beyond header', altered(x => ({ ...x, header: { ...x.header }, messages: [...x.messages, { ...x.messages[0]!, index: 60 }] })), SliceIndicesError]
    ]
    for (const [what, bytes, type] of cases) {
      assert.throws(() => decodeAndVerifySlice(bytes, ctx), (e: Error) => e instanceof type, what)
    }
    // Altered header: different bytes (signals_end changed) no longer hashes to the certified root.
    const h = { ...s.header, signalsEnd: 5 }
    assert.throws(() => decodeAndVerifySlice(altered(x => ({ ...x, header: h, headerBytes: encodeStreamHeader(h) })), ctx), CertificationError)
    // Wrong subnet: a valid slice for C handed to B.
    const forC = encodeCertifiedSlice(a.store.slice(c.id, { msgBegin: 0 }) as CertifiedStreamSlice)
    assert.throws(() => decodeAndVerifySlice(forC, ctx), WrongSubnetError)
    // Claiming another source subnet: its key did not sign.
    assert.throws(() => decodeAndVerifySlice(encodeCertifiedSlice(s), { ...ctx, sourceSubnet: c.id }), CertificationError)
    const unknown = makeSubnet()
    assert.throws(() => decodeAndVerifySlice(encodeCertifiedSlice(s), { ...ctx, sourceSubnet: unknown.id }), UnknownSubnetError)
    // Garbage and oversized input.
    assert.throws(() => decodeCertifiedSlice(new Uint8Array([1, 2, 3, 4])), SliceDecodeError)
    assert.throws(() => decodeCertifiedSlice(encodeCertifiedSlice(s), { maxBytes: 100 }), SliceDecodeError)
  })
})
