/** The harness itself: it must catch what it claims to catch, or every fuzz target could pass vacuously. */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { InvalidEncodingError } from '@icnet/types'
import { expectDecoderContract, fuzz, UntypedFailure } from './harness.js'
import { applyMutation } from './mutate.js'

describe('fuzz harness', () => {
  it('accepts typed errors and results, flags RangeErrors, TypeErrors and untyped throws', () => {
    assert.deepEqual(expectDecoderContract(Uint8Array.of(1), b => b.length), { ok: true, value: 1 })
    assert.equal(expectDecoderContract(Uint8Array.of(1), () => { throw new InvalidEncodingError('bad') }).ok, false)
    for (const err of [new RangeError('Invalid array length'), new TypeError('x is undefined'), new Error('plain')]) {
      assert.throws(() => expectDecoderContract(Uint8Array.of(1), () => { throw err }), UntypedFailure)
    }
  })

  it('flags a decoder that allocates from a length field instead of the input', () => {
    assert.throws(() => expectDecoderContract(Uint8Array.of(0xff, 0xff, 0xff, 0x0f), () => new Uint8Array(256 * 1024 * 1024)), /allocated at least/)
  })

  it('shrinks a failure to a minimal input and reports its seed', async () => {
    // A decoder with a planted bug: it crashes on any input containing 0x42.
    const planted = (b: Uint8Array): number => { if (b.includes(0x42)) throw new RangeError('planted'); return b.length }
    await assert.rejects(fuzz('harness/planted', fc.uint8Array({ minLength: 8, maxLength: 64 }), input => { expectDecoderContract(input, planted) }, 2000),
      (err: Error) => {
        // Shrunk from up to 64 random bytes to (about) the 8 the generator needs at least, one of them the trigger.
        const input = /"input": "([0-9a-f]*)"/.exec(err.message)?.[1] ?? ''
        return /FUZZ_SEED=-?\d+ FUZZ_PATH=[\d:]+/.test(err.message) && input.length <= 20 && /^(..)*42/.test(input)
      })
  })

  it('mutations keep their inputs intact and stay within bounds', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ maxLength: 64 }), fc.context(), (input, donor, ctx) => {
      const copy = input.slice()
      for (const m of fc.sample(fc.constantFrom(
        { op: 'truncate' as const, at: 0.5 }, { op: 'delete' as const, at: 0.99, length: 64 }, { op: 'splice' as const, at: 0, from: 0.99, length: 256 }, { op: 'nest' as const, depth: 3, prefix: Uint8Array.of(0x81) }
      ), 4)) {
        const out = applyMutation(input, m, donor)
        ctx.log(`${m.op} -> ${out.length}`)
        assert.ok(out.length <= input.length + donor.length + 3)
      }
      assert.deepEqual(input, copy)
    }))
  })
})
