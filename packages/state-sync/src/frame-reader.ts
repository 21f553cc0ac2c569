import type { Uint8ArrayList } from 'uint8arraylist'
import { InvalidEncodingError } from '@icnet/types'
import type { ChunkBufferPool } from './block-buffers.js'
import { MAX_MESSAGE_BYTES } from './constants.js'
import { BLOCK_HEADER_MAX, BlockKind, decodeMessage, parseBlockHeader } from './messages.js'
import type { Message } from './messages.js'

/** Where a `FrameReader` hands what it decoded. */
export interface FrameSink {
  /** A one-block frame: `data` holds exactly the block's bytes (a chunk: a view of a pooled buffer). */
  block(kind: BlockKind, hash: Uint8Array, data: Uint8Array): void
  /** Any other frame, decoded and checked by `decodeMessage`. */
  message(m: Message): void
}

/** Where the reader is within a frame. */
const State = { Length: 0, Head: 1, Data: 2, Body: 3 } as const
type State = typeof State[keyof typeof State]

/** Bytes of a frame's length prefix: 5 varint bytes cover any length up to MAX_MESSAGE_BYTES. */
const MAX_LENGTH_BYTES = 5

/**
 * Takes a session's incoming bytes apart into frames (`varint length ‖ Message`) as they
 * arrive, piece by piece, without gathering a frame first. The first bytes of each frame
 * are parsed as a one-block frame (`parseBlockHeader`); if they are one, the block's bytes
 * are copied straight into their final buffer (a pooled chunk buffer for chunks) as each
 * decrypted piece arrives, so no piece outlives the event that delivered it. Any other
 * frame is gathered into one buffer and decoded with `decodeMessage`.
 *
 * A frame's length is checked against MAX_MESSAGE_BYTES before anything is allocated for
 * it, and a block's length against MAX_BLOCK_BYTES (by `parseBlockHeader`). Errors are
 * thrown from `push`; the reader must not be used afterwards.
 */
export class FrameReader {
  private state: State = State.Length
  private length = 0
  private lengthBytes = 0
  private frameLength = 0
  private readonly head = new Uint8Array(BLOCK_HEADER_MAX)
  private headWant = 0
  private got = 0
  /** The block being received, or the body of another frame. */
  private target: Uint8Array = new Uint8Array(0)
  private block?: { kind: BlockKind, hash: Uint8Array }

  constructor (private readonly sink: FrameSink, private readonly pool?: ChunkBufferPool) {}

  push (data: Uint8Array | Uint8ArrayList): void {
    if (data instanceof Uint8Array) this.consume(data)
    else for (const piece of data) this.consume(piece)
  }

  private consume (buf: Uint8Array): void {
    let pos = 0
    while (pos < buf.length) {
      switch (this.state) {
        case State.Length: {
          const b = buf[pos++]!
          this.length += (b & 0x7f) * 2 ** (7 * this.lengthBytes++)
          if (this.length > MAX_MESSAGE_BYTES) throw new InvalidEncodingError('state-sync frame too large')
          if ((b & 0x80) !== 0) {
            if (this.lengthBytes >= MAX_LENGTH_BYTES) throw new InvalidEncodingError('state-sync frame length does not decode')
            continue
          }
          this.frameLength = this.length
          this.length = 0
          this.lengthBytes = 0
          if (this.frameLength === 0) { this.sink.message(decodeMessage(new Uint8Array(0))); continue }
          this.headWant = Math.min(BLOCK_HEADER_MAX, this.frameLength)
          this.got = 0
          this.state = State.Head
          break
        }
        case State.Head: {
          const n = Math.min(this.headWant - this.got, buf.length - pos)
          this.head.set(buf.subarray(pos, pos + n), this.got)
          this.got += n
          pos += n
          if (this.got === this.headWant) this.startFrame()
          break
        }
        default: {
          const n = Math.min(this.target.length - this.got, buf.length - pos)
          this.target.set(buf.subarray(pos, pos + n), this.got)
          this.got += n
          pos += n
          if (this.got === this.target.length) this.endFrame()
        }
      }
    }
  }

  /** The frame's first bytes are in: a block streams into its buffer, anything else into a body buffer. */
  private startFrame (): void {
    const head = this.head.subarray(0, this.headWant)
    const h = parseBlockHeader(head, this.frameLength)
    if (h !== undefined) {
      this.block = { kind: h.kind, hash: h.hash }
      this.target = h.kind === BlockKind.CHUNK && this.pool !== undefined ? this.pool.view(h.dataLength) : new Uint8Array(h.dataLength)
      const inHead = head.subarray(h.dataOffset)
      this.target.set(inHead, 0)
      this.got = inHead.length
      this.state = State.Data
    } else {
      this.block = undefined
      this.target = new Uint8Array(this.frameLength)
      this.target.set(head, 0)
      this.state = State.Body
    }
    if (this.got === this.target.length) this.endFrame()
  }

  private endFrame (): void {
    const { target, block } = this
    this.target = new Uint8Array(0)
    this.block = undefined
    this.state = State.Length
    if (block !== undefined) this.sink.block(block.kind, block.hash, target)
    else this.sink.message(decodeMessage(target))
  }
}
