import { strict as assert } from 'node:assert'
import { createHash } from 'node:crypto'
import fc from 'fast-check'
import { concatBytes, domainSeparator } from '@icnet/types'
import { DIGEST_BYTES, forkDigest, labeledDigest, leafDigest, sha256Digest, sha256Into } from '../src/index.js'

const sha256 = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(createHash('sha256').update(concatBytes(...parts)).digest())

describe('digests', () => {
  it('sha256Digest equals node:crypto SHA-256 for any input, as a plain 32-byte array of its own', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 10_000 }), data => {
      const d = sha256Digest(data)
      assert.equal(d.constructor, Uint8Array)
      assert.equal(d.length, DIGEST_BYTES)
      assert.deepEqual(d, sha256(data))
      // Each call returns a fresh array: mutating one digest never changes another.
      const again = sha256Digest(data)
      again[0] ^= 0xff
      assert.deepEqual(d, sha256(data))
    }), { numRuns: 300 })
  })

  it('sha256Into writes SHA-256 of any input at the offset and leaves every other byte of the output alone', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 5000 }), fc.uint8Array({ minLength: 32, maxLength: 200 }), fc.nat(), (data, out, at) => {
      const offset = at % (out.length - DIGEST_BYTES + 1)
      const before = out.slice()
      sha256Into(data, out, offset)
      assert.deepEqual(out.subarray(offset, offset + DIGEST_BYTES), sha256(data))
      assert.deepEqual(out.subarray(0, offset), before.subarray(0, offset))
      assert.deepEqual(out.subarray(offset + DIGEST_BYTES), before.subarray(offset + DIGEST_BYTES))
    }), { numRuns: 300 })
  })

  it('fork, labeled and leaf digests are SHA-256 over the domain separator and the parts, within and beyond the scratch size', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 9000 }), (l, r, label, value) => {
        assert.deepEqual(forkDigest(l, r), sha256(domainSeparator('ic-hashtree-fork'), l, r))
        assert.deepEqual(labeledDigest(label, l), sha256(domainSeparator('ic-hashtree-labeled'), label, l))
        assert.deepEqual(leafDigest(value), sha256(domainSeparator('ic-hashtree-leaf'), value))
      }), { numRuns: 200 })
  })
})
