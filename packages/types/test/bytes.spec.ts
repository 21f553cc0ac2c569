import assert from 'node:assert/strict'
import fc from 'fast-check'
import { readU64be, u64be, utf8ByteLength } from '../src/index.js'

describe('byte helpers', () => {
  it('utf8ByteLength is the length TextEncoder gives, for any string (lone surrogates included)', () => {
    const encoder = new TextEncoder()
    const lone = fc.constantFrom('\ud800', '\udbff', '\udc00', '\udfff', '\ud83d\ude00', 'a\ud83d', '\ude00b')
    const text = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), fc.string({ unit: 'binary' }), fc.array(lone).map(a => a.join('')))
    fc.assert(fc.property(fc.array(text, { maxLength: 4 }), parts => {
      const s = parts.join('')
      assert.equal(utf8ByteLength(s), encoder.encode(s).length)
    }), { numRuns: 1000 })
  })

  it('u64be writes a safe integer as the BigInt path does, and reads back', () => {
    const reference = (v: bigint): Uint8Array => {
      const out = new Uint8Array(8)
      new DataView(out.buffer).setBigUint64(0, v, false)
      return out
    }
    fc.assert(fc.property(fc.oneof(fc.nat(), fc.maxSafeNat(), fc.integer({ min: 2 ** 32 - 2, max: 2 ** 32 + 2 })), n => {
      assert.deepEqual(u64be(n), reference(BigInt(n)))
      assert.deepEqual(u64be(n), u64be(BigInt(n)))
      assert.equal(readU64be(u64be(n)), BigInt(n))
    }), { numRuns: 500 })
  })
})
