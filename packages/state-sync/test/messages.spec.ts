import assert from 'node:assert/strict'
import fc from 'fast-check'
import { BlockKind, chunkHash, decodeMessage, encodeMessage, Message } from '../src/index.js'
import { decodeBlockFrame, encodeBlockMessage } from '../src/messages.js'
import { Uint8ArrayList } from 'uint8arraylist'
import { inPieces } from './helpers.js'

const kinds = fc.constantFrom(BlockKind.CHUNK, BlockKind.SUB_MANIFEST, BlockKind.META_MANIFEST)
const hash32 = fc.uint8Array({ minLength: 32, maxLength: 32 })
const blockData = fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.integer({ min: 0, max: 1024 * 1024 }).map(n => new Uint8Array(n).fill(7)))

describe('block frames', () => {
  it('property: the copy-free block encoding is byte-identical to the protobuf encoder', () => {
    fc.assert(fc.property(kinds, hash32, blockData, (kind, hash, data) => {
      const fast = encodeBlockMessage(kind, hash, data)
      const reference = encodeMessage({ blocks: [{ hash, kind, data }] })
      assert.deepEqual(fast.subarray(), reference)
      const back = decodeMessage(fast)
      assert.equal(back.blocks.length, 1)
      assert.equal(back.blocks[0]!.kind, kind)
      assert.deepEqual(back.blocks[0]!.data, data)
    }), { numRuns: 60 })
  })

  it('property: a block frame split anywhere decodes in place to what the protobuf decoder reads', () => {
    fc.assert(fc.property(kinds, hash32, blockData, fc.array(fc.nat(), { maxLength: 20 }), (kind, hash, data, cuts) => {
      const frame = inPieces(encodeBlockMessage(kind, hash, data).subarray(), cuts)
      const fast = decodeBlockFrame(frame)
      if (data.length === 0) { assert.equal(fast, undefined); return } // no data field: the general decoder handles it
      assert.ok(fast !== undefined)
      assert.equal(fast.kind, kind)
      assert.deepEqual(fast.hash, hash)
      assert.deepEqual(fast.data.subarray(), data)
      assert.deepEqual(chunkHash(fast.data), chunkHash(data), 'hashing the pieces equals hashing the joined bytes')
    }), { numRuns: 60 })
  })

  it('property: any other frame is left to the protobuf decoder, never misread', () => {
    const entry = fc.record({ hash: hash32, kind: kinds, type: fc.constantFrom(Message.WantType.WANT_BLOCK, Message.WantType.CANCEL) })
    fc.assert(fc.property(fc.array(entry, { maxLength: 5 }), fc.array(fc.record({ hash: hash32, kind: kinds, data: fc.uint8Array({ maxLength: 64 }) }), { maxLength: 3 }), fc.boolean(), (wantlist, blocks, wantCheckpoints) => {
      const bytes = encodeMessage({ wantlist, blocks, wantCheckpoints })
      const fast = decodeBlockFrame(new Uint8ArrayList(bytes))
      if (fast === undefined) return
      // Only a frame that is exactly one block may take the fast path, and it must agree.
      const m = decodeMessage(bytes)
      assert.equal(m.blocks.length, 1)
      assert.equal(m.wantlist.length + (m.wantCheckpoints ? 1 : 0), 0)
      assert.deepEqual(fast.data.subarray(), m.blocks[0]!.data)
      assert.deepEqual(fast.hash, m.blocks[0]!.hash)
    }), { numRuns: 200 })
    // Arbitrary bytes: the fast path either declines or agrees with the full decoder.
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      let fast: ReturnType<typeof decodeBlockFrame>
      try { fast = decodeBlockFrame(new Uint8ArrayList(bytes)) } catch { return }
      if (fast === undefined) return
      assert.deepEqual(fast.data.subarray(), decodeMessage(bytes).blocks[0]!.data)
    }), { numRuns: 500 })
  })
})
