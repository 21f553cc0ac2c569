import assert from 'node:assert/strict'
import fc from 'fast-check'
import {
  combineAndVerifyThreshold,
  combineShares,
  dealThresholdKeys,
  InvalidShareSetError,
  InvalidSignatureError,
  signShare,
  loadThresholdLibraries,
  thresholdScheme,
  verifiedSignatureCacheStats,
  verifyShare,
  verifyThreshold,
  type SignedShare
} from '../src/index.js'

/** Every threshold library on this platform, mcl-wasm included (loaded for these cross-checks). */
const libraries = await loadThresholdLibraries()

const text = (s: string): Uint8Array => new TextEncoder().encode(s)

describe('combineAndVerify: combining shares and checking the result in one step', () => {
  const keys = dealThresholdKeys({ n: 4, t: 3 })
  const other = dealThresholdKeys({ n: 4, t: 3 })
  const sharesOf = (message: Uint8Array, set = keys): SignedShare[] => set.shares.map(s => ({ index: s.index, signature: signShare(s, message) }))

  for (const library of libraries) {
    const scheme = thresholdScheme(library)

    it(`${library}: gives exactly the signature combineShares gives, for any t of n shares`, () => {
      const message = text(`beacon ${library}`)
      const all = sharesOf(message)
      const expected = scheme.combineShares(all.slice(0, 3))
      fc.assert(fc.property(fc.shuffledSubarray(all, { minLength: 3, maxLength: 3 }), chosen => {
        assert.deepEqual(scheme.combineAndVerify(keys.publicKey, message, chosen, { threshold: 3 }), expected)
      }), { numRuns: 8 })
      assert.deepEqual(scheme.combineAndVerify(keys.publicKeyDer, message, all, { threshold: 3 }), expected, 'the DER key too')
    })

    it(`${library}: undefined for a bad share, another message or another key; typed errors for malformed sets`, () => {
      const message = text(`certification ${library}`)
      const good = sharesOf(message)
      // A well-formed G1 point that is not this share's signature (share 1's signature on another message).
      const bad: SignedShare = { index: 1, signature: signShare(keys.shares[1]!, text('something else')) }
      assert.equal(scheme.combineAndVerify(keys.publicKey, message, [good[0]!, bad, good[2]!], { threshold: 3 }), undefined)
      assert.equal(scheme.combineAndVerify(keys.publicKey, text('another message'), good, { threshold: 3 }), undefined)
      assert.equal(scheme.combineAndVerify(other.publicKey, message, good, { threshold: 3 }), undefined)
      assert.equal(scheme.combineAndVerify(keys.publicKey, message, good.slice(0, 2)), undefined, 'fewer than t shares do not verify')
      assert.throws(() => scheme.combineAndVerify(keys.publicKey, message, good.slice(0, 2), { threshold: 3 }), InvalidShareSetError)
      assert.throws(() => scheme.combineAndVerify(keys.publicKey, message, [good[0]!, good[0]!, good[2]!]), InvalidShareSetError)
      const notAPoint = Uint8Array.from(good[1]!.signature)
      notAPoint[5]! ^= 0x40
      assert.throws(() => scheme.combineAndVerify(keys.publicKey, message, [good[0]!, { index: 1, signature: notAPoint }, good[2]!]), InvalidSignatureError)
    })
  }

  it('a failed combination leaves the bad share to be found one by one', () => {
    const message = text('beacon 17')
    const good = sharesOf(message)
    const bad: SignedShare = { index: 0, signature: signShare(keys.shares[0]!, text('beacon 16')) }
    const candidates = [bad, good[1]!, good[2]!, good[3]!]
    assert.equal(combineAndVerifyThreshold(keys.publicKey, message, candidates, { threshold: 3 }), undefined)
    const honest = candidates.filter(s => verifyShare(keys.sharePublicKeys[s.index]!, message, s.signature))
    assert.deepEqual(honest.map(s => s.index), [1, 2, 3], 'only the bad share fails its own check')
    assert.deepEqual(combineAndVerifyThreshold(keys.publicKey, message, honest, { threshold: 3 }), combineShares(honest.slice(0, 3)))
  })

  it('a combined signature that verified is cached for exactly its inputs: the identical copy hits, nothing else does', () => {
    const message = text('certified root, height 41')
    const signature = combineAndVerifyThreshold(keys.publicKey, message, sharesOf(message), { threshold: 3 })
    assert.ok(signature !== undefined)
    const before = verifiedSignatureCacheStats()
    assert.equal(verifyThreshold(keys.publicKey, message, Uint8Array.from(signature)), true, 'the same signature from a peer')
    const hit = verifiedSignatureCacheStats()
    assert.equal(hit.hits, before.hits + 1)
    const tampered = Uint8Array.from(signature)
    tampered[20]! ^= 1
    assert.equal(verifyThreshold(keys.publicKey, message, tampered), false)
    assert.equal(verifyThreshold(keys.publicKey, text('certified root, height 42'), signature), false)
    assert.equal(verifyThreshold(other.publicKey, message, signature), false)
    assert.equal(verifiedSignatureCacheStats().hits, hit.hits, 'a different artifact is never answered by the cache')
  })

  it('signing and verifying stay right across many messages (hashed messages are remembered, bounded)', () => {
    const scheme = thresholdScheme('mcl')
    fc.assert(fc.property(fc.uint8Array({ minLength: 0, maxLength: 64 }), fc.uint8Array({ minLength: 0, maxLength: 64 }), (m1, m2) => {
      const s1 = scheme.signShare(keys.shares[0]!, m1)
      assert.equal(scheme.verifyShare(keys.sharePublicKeys[0]!, m1, s1), true)
      const same = m1.length === m2.length && m1.every((b, i) => b === m2[i])
      assert.equal(scheme.verifyShare(keys.sharePublicKeys[0]!, m2, s1), same)
    }), { numRuns: 60 })
  })
})
