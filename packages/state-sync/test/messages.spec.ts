import assert from 'node:assert/strict'
import fc from 'fast-check'
import { BlockKind, decodeMessage, encodeMessage } from '../src/index.js'
import { encodeBlockMessage } from '../src/messages.js'

describe('block frames', () => {
  it('property: the copy-free block encoding is byte-identical to the protobuf encoder', () => {
    fc.assert(fc.property(
      fc.constantFrom(BlockKind.CHUNK, BlockKind.SUB_MANIFEST, BlockKind.META_MANIFEST),
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 0, max: 1024 * 1024 }).map(n => new Uint8Array(n).fill(7))),
      (kind, hash, data) => {
        const fast = encodeBlockMessage(kind, hash, data)
        const reference = encodeMessage({ blocks: [{ hash, kind, data }] })
        assert.deepEqual(fast.subarray(), reference)
        const back = decodeMessage(fast)
        assert.equal(back.blocks.length, 1)
        assert.equal(back.blocks[0]!.kind, kind)
        assert.deepEqual(back.blocks[0]!.data, data)
      }
    ), { numRuns: 60 })
  })
})
