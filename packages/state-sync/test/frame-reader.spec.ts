import assert from 'node:assert/strict'
import fc from 'fast-check'
import { Uint8ArrayList } from 'uint8arraylist'
import { BlockKind, decodeMessage, encodeMessage, MAX_MESSAGE_BYTES, Message } from '../src/index.js'
import { pooledBufferOf, ChunkBufferPool } from '../src/block-buffers.js'
import { FrameReader } from '../src/frame-reader.js'
import { decodeBlockFrame, encodeBlockMessage, varint } from '../src/messages.js'
import { inPieces } from './helpers.js'

const kinds = fc.constantFrom(BlockKind.CHUNK, BlockKind.SUB_MANIFEST, BlockKind.META_MANIFEST)
const hash32 = fc.uint8Array({ minLength: 32, maxLength: 32 })
const entry = fc.record({ hash: hash32, kind: kinds, type: fc.constantFrom(Message.WantType.WANT_BLOCK, Message.WantType.CANCEL) })

/** One frame as a peer sends it: a one-block frame (the copy-free encoding) or any other message. */
const frame = fc.oneof(
  fc.record({ kind: kinds, hash: hash32, data: fc.oneof(fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 0, max: 300_000 }).map(n => new Uint8Array(n).fill(n & 0xff))) })
    .map(b => ({ bytes: encodeBlockMessage(b.kind, b.hash, b.data).subarray(), expect: encodeMessage({ blocks: [b] }) })),
  fc.record({ wantlist: fc.array(entry, { maxLength: 4 }), blocks: fc.array(fc.record({ hash: hash32, kind: kinds, data: fc.uint8Array({ maxLength: 40 }) }), { maxLength: 3 }), wantCheckpoints: fc.boolean() })
    .map(m => { const bytes = encodeMessage(m); return { bytes, expect: bytes } })
)

function lengthPrefixed (bytes: Uint8Array): Uint8Array {
  const prefix = Uint8Array.from(varint(bytes.length))
  const out = new Uint8Array(prefix.length + bytes.length)
  out.set(prefix, 0)
  out.set(bytes, prefix.length)
  return out
}

/** What a reader makes of the frames, re-encoded as messages so any decoding can be compared. */
function readAll (stream: Uint8ArrayList, pool?: ChunkBufferPool): { messages: Uint8Array[], pooled: number } {
  const messages: Uint8Array[] = []
  let pooled = 0
  const reader = new FrameReader({
    block: (kind, hash, data) => {
      if (pooledBufferOf(data) !== undefined) pooled++
      messages.push(encodeMessage({ blocks: [{ kind, hash, data }] }))
    },
    message: (m) => { messages.push(encodeMessage(m)) }
  }, pool)
  for (const piece of stream) reader.push(piece)
  return { messages, pooled }
}

describe('frame reader (frames taken apart as the bytes arrive)', () => {
  it('property: any sequence of frames, split anywhere, reads as the protobuf decoder reads each frame', () => {
    fc.assert(fc.property(fc.array(frame, { minLength: 1, maxLength: 5 }), fc.array(fc.nat(), { maxLength: 30 }), (frames, cuts) => {
      const wire = new Uint8ArrayList(...frames.map(f => lengthPrefixed(f.bytes)))
      const pool = new ChunkBufferPool(2)
      const { messages, pooled } = readAll(inPieces(wire.subarray(), cuts), pool)
      assert.equal(messages.length, frames.length)
      messages.forEach((m, i) => { assert.deepEqual(decodeMessage(m), decodeMessage(frames[i]!.expect)) })
      // Chunks in one-block frames go into pooled buffers; manifest pieces (kept by the caller) do not.
      const chunks = frames.filter(f => decodeBlockFrame(new Uint8ArrayList(f.bytes))?.kind === BlockKind.CHUNK)
      assert.equal(pooled, chunks.length)
    }), { numRuns: 80 })
  })

  it('refuses a frame longer than MAX_MESSAGE_BYTES from its length prefix, before reading its body', () => {
    const reader = new FrameReader({ block: () => { assert.fail('no block') }, message: () => { assert.fail('no message') } })
    assert.throws(() => { reader.push(Uint8Array.from(varint(MAX_MESSAGE_BYTES + 1))) }, { name: 'InvalidEncodingError' })
  })

  it('refuses a length prefix that never ends', () => {
    const reader = new FrameReader({ block: () => {}, message: () => {} })
    assert.throws(() => { reader.push(Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x80)) }, { name: 'InvalidEncodingError' })
  })

  it('refuses a frame that does not decode', () => {
    const reader = new FrameReader({ block: () => {}, message: () => {} })
    assert.throws(() => { reader.push(lengthPrefixed(Uint8Array.of(0xff, 0xff, 0xff))) }, { name: 'InvalidEncodingError' })
  })
})
