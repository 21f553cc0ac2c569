import assert from 'node:assert/strict'
import fc from 'fast-check'
import {
  aggregateMultiSignature,
  decodeSignerBitmap,
  encodeSignerBitmap,
  generateNodeKeyPair,
  InvalidKeyError,
  InvalidShareSetError,
  InvalidSignatureError,
  nodePublicKeyFromSecret,
  nodeSign,
  nodeVerify,
  parseNodePublicKey,
  proveNodeKeyPossession,
  verifyBatch,
  verifyMultiSignature,
  verifyNodeKeyPossession
} from '../src/index.js'

const text = (s: string): Uint8Array => new TextEncoder().encode(s)

describe('node keys', () => {
  const a = generateNodeKeyPair()
  const b = generateNodeKeyPair()
  const message = text('block proposal')

  it('signs and verifies; wrong key, message or bytes fail', () => {
    assert.equal(a.publicKey.length, 48)
    assert.equal(a.secretKey.length, 32)
    const sig = nodeSign(a.secretKey, message)
    assert.equal(sig.length, 96)
    assert.equal(nodeVerify(a.publicKey, message, sig), true)
    assert.equal(nodeVerify(parseNodePublicKey(a.publicKey), message, sig), true)
    assert.equal(nodeVerify(b.publicKey, message, sig), false)
    assert.equal(nodeVerify(a.publicKey, text('other'), sig), false)
    assert.equal(nodeVerify(a.publicKey, message, sig.subarray(1)), false)
    assert.equal(nodeVerify(new Uint8Array(48), message, sig), false)
  })

  it('derives deterministically from entropy and rejects malformed keys with typed errors', () => {
    const seed = new Uint8Array(32).fill(9)
    assert.deepEqual(generateNodeKeyPair(seed), generateNodeKeyPair(seed))
    assert.deepEqual(nodePublicKeyFromSecret(a.secretKey), a.publicKey)
    assert.throws(() => nodeSign(new Uint8Array(31), message), InvalidKeyError)
    assert.throws(() => parseNodePublicKey(new Uint8Array(47)), InvalidKeyError)
    assert.throws(() => parseNodePublicKey(new Uint8Array(48).fill(0xab)), InvalidKeyError)
  })

  it('proofs of possession verify only for their own key', () => {
    const pop = proveNodeKeyPossession(a.secretKey)
    assert.equal(verifyNodeKeyPossession(a.publicKey, pop), true)
    assert.equal(verifyNodeKeyPossession(b.publicKey, pop), false)
    // A plain signature over the key bytes is not a proof: the domain differs.
    assert.equal(verifyNodeKeyPossession(a.publicKey, nodeSign(a.secretKey, a.publicKey)), false)
  })

  it('batch verification: all good is true, one bad set makes it false, 0 and 1 sets work', () => {
    const keys = Array.from({ length: 5 }, () => generateNodeKeyPair())
    const sets = keys.map((k, i) => ({ publicKey: k.publicKey, message: text(`m${i}`), signature: nodeSign(k.secretKey, text(`m${i}`)) }))
    assert.equal(verifyBatch(sets), true)
    assert.equal(verifyBatch([]), true)
    assert.equal(verifyBatch(sets.slice(0, 1)), true)
    assert.equal(verifyBatch([{ ...sets[0]!, message: text('x') }]), false)
    const bad = sets.map(s => ({ ...s }))
    bad[3]!.signature = sets[2]!.signature
    assert.equal(verifyBatch(bad), false)
  })
})

describe('multi-signatures with a signer bitmap', () => {
  const committee = Array.from({ length: 13 }, (_, i) => generateNodeKeyPair(new Uint8Array(32).fill(i + 1)))
  const publicKeys = committee.map(k => k.publicKey)
  const message = text('notarization of block 42')
  const sigs = committee.map((k, i) => ({ signerIndex: i, signature: nodeSign(k.secretKey, message) }))

  it('any signer subset aggregates and verifies; the bitmap names exactly the signers', () => {
    fc.assert(fc.property(fc.shuffledSubarray([...Array(13).keys()], { minLength: 1, maxLength: 13 }), subset => {
      const multi = aggregateMultiSignature(subset.map(i => sigs[i]!), 13)
      assert.equal(multi.signers.length, 2)
      assert.deepEqual(decodeSignerBitmap(multi.signers, 13), [...subset].sort((x, y) => x - y))
      assert.equal(verifyMultiSignature(publicKeys, message, multi), true)
      assert.equal(verifyMultiSignature(publicKeys, message, multi, { threshold: subset.length }), true)
      assert.equal(verifyMultiSignature(publicKeys, message, multi, { threshold: subset.length + 1 }), false)
    }), { numRuns: 20 })
  })

  it('a bitmap naming a signer who did not sign, or missing one, fails', () => {
    const multi = aggregateMultiSignature(sigs.slice(0, 9), 13)
    assert.equal(verifyMultiSignature(publicKeys, message, multi, { threshold: 9 }), true)
    const extra = encodeSignerBitmap([...Array(10).keys()], 13)
    assert.equal(verifyMultiSignature(publicKeys, message, { ...multi, signers: extra }), false)
    const fewer = encodeSignerBitmap([...Array(8).keys()], 13)
    assert.equal(verifyMultiSignature(publicKeys, message, { ...multi, signers: fewer }), false)
    assert.equal(verifyMultiSignature(publicKeys, text('other block'), multi), false)
  })

  it('bitmap edge cases: wrong length, bits beyond the committee, empty, committee of 8 and 9', () => {
    const multi = aggregateMultiSignature(sigs.slice(0, 3), 13)
    assert.equal(verifyMultiSignature(publicKeys, message, { ...multi, signers: new Uint8Array([0x07]) }), false)
    assert.equal(verifyMultiSignature(publicKeys, message, { ...multi, signers: new Uint8Array([0x07, 0x00, 0x00]) }), false)
    assert.equal(verifyMultiSignature(publicKeys, message, { ...multi, signers: new Uint8Array([0x07, 0x20]) }), false) // bit 13
    assert.equal(verifyMultiSignature(publicKeys, message, { ...multi, signers: new Uint8Array(2) }), false)
    assert.throws(() => decodeSignerBitmap(new Uint8Array([0x00, 0x80]), 13), InvalidShareSetError)
    assert.deepEqual(decodeSignerBitmap(new Uint8Array([0x80, 0x10]), 13), [7, 12])
    assert.equal(encodeSignerBitmap([7], 8).length, 1)
    assert.deepEqual(encodeSignerBitmap([8], 9), new Uint8Array([0, 1]))
    const eight = committee.slice(0, 8)
    const m8 = aggregateMultiSignature([{ signerIndex: 7, signature: sigs[7]!.signature }], 8)
    assert.equal(verifyMultiSignature(eight.map(k => k.publicKey), message, m8), true)
  })

  it('a single signer verifies (plain verify path)', () => {
    const multi = aggregateMultiSignature([sigs[4]!], 13)
    assert.equal(verifyMultiSignature(publicKeys, message, multi), true)
    assert.equal(verifyMultiSignature(publicKeys.map(k => parseNodePublicKey(k)), message, multi), true)
  })

  it('aggregation refuses duplicates, out-of-range signers, empty sets and bad bytes', () => {
    assert.throws(() => aggregateMultiSignature([], 13), InvalidShareSetError)
    assert.throws(() => aggregateMultiSignature([sigs[1]!, sigs[1]!], 13), InvalidShareSetError)
    assert.throws(() => aggregateMultiSignature([{ signerIndex: 13, signature: sigs[0]!.signature }], 13), InvalidShareSetError)
    assert.throws(() => aggregateMultiSignature([{ signerIndex: 0, signature: new Uint8Array(95) }], 13), InvalidSignatureError)
    assert.throws(() => aggregateMultiSignature([{ signerIndex: 0, signature: new Uint8Array(96).fill(0x11) }], 13), InvalidSignatureError)
    assert.throws(() => aggregateMultiSignature([sigs[0]!], 0), RangeError)
  })

  it('malformed multi-signatures are false, never a throw', () => {
    assert.equal(verifyMultiSignature([], message, { signature: sigs[0]!.signature, signers: new Uint8Array(0) }), false)
    assert.equal(verifyMultiSignature(publicKeys, message, { signature: new Uint8Array(96), signers: new Uint8Array([1, 0]) }), false)
    assert.equal(verifyMultiSignature(publicKeys, message, undefined as never), false)
  })
})
