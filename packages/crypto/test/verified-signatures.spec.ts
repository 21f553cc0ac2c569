import assert from 'node:assert/strict'
import {
  VerifiedSignatureCache,
  combineShares,
  dealThresholdKeys,
  signShare,
  verifiedSignatureCacheStats,
  verifyThreshold
} from '../src/index.js'

const text = (s: string): Uint8Array => new TextEncoder().encode(s)

describe('verifyThreshold: the cache of verified signatures', () => {
  const keys = dealThresholdKeys({ n: 4, t: 3 })
  const other = dealThresholdKeys({ n: 4, t: 3 })
  const sign = (message: Uint8Array): Uint8Array =>
    combineShares(keys.shares.slice(0, 3).map(s => ({ index: s.index, signature: signShare(s, message) })))

  it('answers a repeated successful verification from the cache, for the raw and the DER key alike', () => {
    const message = text('certified root, height 7')
    const signature = sign(message)
    const before = verifiedSignatureCacheStats()
    assert.equal(verifyThreshold(keys.publicKey, message, signature), true)
    const first = verifiedSignatureCacheStats()
    assert.equal(first.misses, before.misses + 1)
    assert.equal(verifyThreshold(keys.publicKey, message, signature), true)
    assert.equal(verifyThreshold(keys.publicKeyDer, message, signature), true)
    const after = verifiedSignatureCacheStats()
    assert.equal(after.hits, first.hits + 2)
    assert.equal(after.misses, first.misses)
  })

  it('never caches a failure, and a cached success answers only its exact inputs', () => {
    const message = text('certified root, height 8')
    const signature = sign(message)
    assert.equal(verifyThreshold(keys.publicKey, message, signature), true)
    const tampered = Uint8Array.from(signature)
    tampered[10]! ^= 1
    const before = verifiedSignatureCacheStats()
    for (let i = 0; i < 2; i++) {
      assert.equal(verifyThreshold(keys.publicKey, message, tampered), false)
      assert.equal(verifyThreshold(keys.publicKey, text('certified root, height 9'), signature), false)
      assert.equal(verifyThreshold(other.publicKey, message, signature), false)
    }
    const after = verifiedSignatureCacheStats()
    assert.equal(after.hits, before.hits, 'no other input is answered by the cached success')
    assert.equal(after.misses, before.misses + 6, 'every failure is recomputed')
  })

  it('keeps at most its capacity, dropping the oldest entry first', () => {
    const cache = new VerifiedSignatureCache(2)
    const pk = keys.publicKey
    const sig = new Uint8Array(48)
    const k = (s: string): string => VerifiedSignatureCache.key(pk, text(s), sig)!
    cache.add(k('a'))
    cache.add(k('b'))
    cache.add(k('c'))
    assert.equal(cache.stats().size, 2)
    assert.equal(cache.has(k('a')), false)
    assert.equal(cache.has(k('b')), true)
    assert.equal(cache.has(k('c')), true)
    assert.deepEqual({ hits: cache.stats().hits, misses: cache.stats().misses }, { hits: 2, misses: 1 })
    assert.equal(VerifiedSignatureCache.key(pk, text('a'), new Uint8Array(47)), undefined, 'inputs of other sizes have no key')
    assert.throws(() => new VerifiedSignatureCache(0), RangeError)
  })
})
