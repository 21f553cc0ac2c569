import assert from 'node:assert/strict'
import { createTestNode, stopAll } from '@icnet/test-utils'
import { StreamResetError, type Libp2p, type Stream } from '@libp2p/interface'
import { InvalidDataLengthError, InvalidDataLengthLengthError, UnexpectedEOFError } from '@libp2p/utils'
import fc from 'fast-check'
import * as lp from 'it-length-prefixed'
import { Uint8ArrayList } from 'uint8arraylist'
import { SliceDecodeError } from '../src/errors.js'
import { FrameAssembler, readFrame } from '../src/frame-reader.js'

/** `bytes` cut at the given offsets (sorted, deduplicated, inside the array). */
function split (bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const at = [...new Set(cuts.map(c => c % (bytes.length + 1)))].sort((a, b) => a - b)
  const out: Uint8Array[] = []
  let from = 0
  for (const c of at) { out.push(bytes.subarray(from, c)); from = c }
  out.push(bytes.subarray(from))
  return out
}

const framed = (body: Uint8Array): Uint8Array => lp.encode.single(body).subarray()

describe('FrameAssembler', () => {
  it('gives back exactly the body of a length-prefixed frame, however its bytes are split into pieces', () => {
    fc.assert(fc.property(
      fc.uint8Array({ maxLength: 3000 }), fc.array(fc.nat(), { maxLength: 12 }), fc.boolean(),
      (body, cuts, asLists) => {
        const pieces = split(framed(body), cuts)
        const reader = new FrameAssembler(4000)
        let got: Uint8Array | undefined
        let completedAt = -1
        pieces.forEach((piece, k) => {
          const r = reader.push(asLists && k % 2 === 0 ? new Uint8ArrayList(piece.subarray(0, piece.length >> 1), piece.subarray(piece.length >> 1)) : piece)
          if (r !== undefined) { assert.equal(got, undefined, 'one frame, given once'); got = r; completedAt = k }
        })
        assert.ok(got !== undefined, 'the frame completed')
        assert.ok(pieces.slice(completedAt + 1).every(p => p.length === 0), 'with its last byte')
        assert.deepEqual(got, body)
        // A buffer of its own, that can be moved to another thread.
        assert.equal(got.byteOffset, 0)
        assert.equal(got.buffer.byteLength, body.length)
        assert.equal(reader.received, framed(body).length)
      }
    ))
  })

  it('refuses bytes after the frame, in the piece that completes it or in a later one', () => {
    const frame = framed(Uint8Array.of(1, 2, 3))
    assert.throws(() => new FrameAssembler(100).push(Uint8Array.of(...frame, 9)), SliceDecodeError)
    const reader = new FrameAssembler(100)
    assert.deepEqual(reader.push(frame), Uint8Array.of(1, 2, 3))
    assert.throws(() => reader.push(Uint8Array.of(0)), SliceDecodeError)
  })

  it('refuses an announced length over the limit as soon as the prefix is complete, before any body byte', () => {
    const reader = new FrameAssembler(1000)
    // 200 MiB announced: only the 4-byte prefix is pushed.
    assert.throws(() => reader.push(varintOf(200 * 1024 * 1024)), InvalidDataLengthError)
    assert.equal(new FrameAssembler(1000).push(varintOf(1000)), undefined, 'exactly the limit is accepted')
  })

  it('refuses a length prefix of more than five bytes', () => {
    assert.throws(() => new FrameAssembler(Number.MAX_SAFE_INTEGER).push(Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x80, 0x01)), InvalidDataLengthLengthError)
  })

  it('takes an empty frame', () => {
    assert.deepEqual(new FrameAssembler(10).push(Uint8Array.of(0)), new Uint8Array(0))
  })
})

function varintOf (n: number): Uint8Array {
  const out: number[] = []
  while (n >= 0x80) { out.push((n & 0x7f) | 0x80); n = Math.floor(n / 128) }
  out.push(n)
  return Uint8Array.from(out)
}

describe('readFrame over a libp2p stream', function () {
  this.timeout(30_000)
  const PROTOCOL = '/icnet/test/frame/1.0.0'
  let server: Libp2p
  let client: Libp2p
  /** What the server does with each stream opened to it. */
  let serve: (s: Stream) => Promise<void>

  before(async () => {
    server = await createTestNode()
    client = await createTestNode()
    await server.handle(PROTOCOL, async (s) => { await serve(s) }, { maxInboundStreams: 16 })
  })
  after(async () => { await stopAll([client, server]) })

  const open = async (): Promise<Stream> => await client.dialProtocol(server.getMultiaddrs()[0]!, PROTOCOL)

  it('reads a 1 MiB frame written in small pieces over time, then the next frame on the same stream', async () => {
    const body = new Uint8Array(1024 * 1024).map((_, i) => i * 7)
    serve = async (s) => {
      const bytes = framed(body)
      for (let at = 0; at < bytes.length; at += 100_000) {
        s.send(bytes.subarray(at, at + 100_000))
        await new Promise(resolve => setTimeout(resolve, 1))
      }
      s.send(framed(Uint8Array.of(42)))
      await s.close()
    }
    const s = await open()
    assert.deepEqual(await readFrame(s, { maxLength: 2 * 1024 * 1024 }), body)
    assert.deepEqual(await readFrame(s, { maxLength: 10 }), Uint8Array.of(42))
    await assert.rejects(readFrame(s, { maxLength: 10 }), UnexpectedEOFError, 'the stream has ended')
  })

  it('rejects with UnexpectedEOFError when the stream ends inside a frame', async () => {
    serve = async (s) => {
      s.send(framed(new Uint8Array(5000)).subarray(0, 3000))
      await s.close()
    }
    await assert.rejects(readFrame(await open(), { maxLength: 10_000 }), UnexpectedEOFError)
  })

  it('rejects with the stream\'s error when the sender resets it, and with the signal\'s reason when it aborts', async () => {
    serve = async (s) => {
      s.send(varintOf(5000))
      await new Promise(resolve => setTimeout(resolve, 50))
      s.abort(new Error('gone'))
    }
    await assert.rejects(readFrame(await open(), { maxLength: 10_000 }), StreamResetError)

    serve = async () => { await new Promise(resolve => setTimeout(resolve, 2000)) }
    const t0 = Date.now()
    await assert.rejects(readFrame(await open(), { maxLength: 10, signal: AbortSignal.timeout(100) }), (e: Error) => e.name === 'TimeoutError')
    assert.ok(Date.now() - t0 < 1500, 'the signal ended the read, not the sender')
  })

  it('rejects an oversized announcement without waiting for its body', async () => {
    serve = async (s) => {
      s.send(varintOf(200 * 1024 * 1024))
      await new Promise(resolve => setTimeout(resolve, 2000))
      await s.close().catch(() => {})
    }
    await assert.rejects(readFrame(await open(), { maxLength: 4 * 1024 * 1024, signal: AbortSignal.timeout(1500) }), InvalidDataLengthError)
  })
})
