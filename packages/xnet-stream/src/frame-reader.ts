import { StreamResetError, type Stream, type StreamCloseEvent, type StreamMessageEvent } from '@libp2p/interface'
import { InvalidDataLengthError, InvalidDataLengthLengthError, UnexpectedEOFError } from '@libp2p/utils'
import * as varint from 'uint8-varint'
import type { Uint8ArrayList } from 'uint8arraylist'
import { SliceDecodeError } from './errors.js'
import { unfilled } from './slice-codec.js'

/** A uvarint of more bytes than this is refused (5 cover every length up to 2^35). */
const MAX_LENGTH_BYTES = 5

export interface ReadFrameOptions {
  /** Longest frame body accepted; a longer announced length is refused before anything is allocated. */
  maxLength: number
  signal?: AbortSignal
}

/**
 * Reads one frame (`uvarint length ‖ body`, it-length-prefixed's framing) from a
 * stream on which it is the only reader, into a buffer of the frame's own: each
 * piece the stream delivers is copied into that buffer in the event that delivered
 * it, so no decrypted piece outlives its event (a 1 MiB response gathered whole
 * first would keep ~16 pieces alive across several young-generation collections,
 * and then be copied once more). The returned array is the whole of its buffer,
 * which the caller may move to another thread.
 *
 * One request, one response: bytes after the frame in the piece that completes it
 * are a protocol error. Rejects with `InvalidDataLengthError` for an announced
 * length over `maxLength`, `InvalidDataLengthLengthError` for a prefix over 5
 * bytes, `UnexpectedEOFError` if the stream's readable end closes first, the
 * stream's error if it is reset or aborted, and the signal's reason if it aborts.
 */
export async function readFrame (stream: Stream, options: ReadFrameOptions): Promise<Uint8Array> {
  const reader = new FrameAssembler(options.maxLength)
  let resolve!: (frame: Uint8Array) => void
  let reject!: (err: unknown) => void
  const promise = new Promise<Uint8Array>((res, rej) => { resolve = res; reject = rej })
  const onMessage = (evt: StreamMessageEvent): void => {
    try {
      const frame = reader.push(evt.data)
      if (frame !== undefined) resolve(frame)
    } catch (err) {
      reject(err)
    }
  }
  const onClose = (evt: StreamCloseEvent): void => {
    reject(evt.error ?? new UnexpectedEOFError(`stream closed after ${reader.received} bytes of a frame`))
  }
  // 'end': no more bytes will come, because the remote closed its writable end (all it sent was
  // delivered) or because the stream was reset (its 'close' event, with the error, follows).
  const onEnd = (): void => {
    if (stream.status === 'reset') reject(new StreamResetError(`stream reset after ${reader.received} bytes of a frame`))
    else reject(new UnexpectedEOFError(`stream ended after ${reader.received} bytes of a frame`))
  }
  const onAbort = (): void => { reject(options.signal?.reason ?? new Error('aborted')) }
  if (options.signal?.aborted === true) throw options.signal.reason
  if (stream.readableEnded || (stream.remoteWriteStatus !== 'writable' && stream.readBufferLength === 0)) {
    throw new UnexpectedEOFError('stream ended before a frame')
  }
  stream.addEventListener('message', onMessage)
  stream.addEventListener('close', onClose)
  stream.addEventListener('end', onEnd)
  options.signal?.addEventListener('abort', onAbort)
  try {
    return await promise
  } finally {
    stream.removeEventListener('message', onMessage)
    stream.removeEventListener('close', onClose)
    stream.removeEventListener('end', onEnd)
    options.signal?.removeEventListener('abort', onAbort)
  }
}

/**
 * The state of one frame being read: its length prefix (bytes kept until the
 * last one arrives, then decoded by `uint8-varint`), then its body, copied
 * piece by piece into a buffer allocated once the length is known and checked.
 */
export class FrameAssembler {
  private readonly prefix = new Uint8Array(MAX_LENGTH_BYTES)
  private prefixLength = 0
  private body: Uint8Array | undefined
  private filled = 0
  private done = false

  constructor (private readonly maxLength: number) {}

  /** Bytes of the frame taken so far (prefix and body). */
  get received (): number { return this.prefixLength + this.filled }

  /** Takes the next bytes; the whole body once it is complete. Throws for bad framing, or for bytes after the frame. */
  push (data: Uint8Array | Uint8ArrayList): Uint8Array | undefined {
    let frame: Uint8Array | undefined
    if (data instanceof Uint8Array) frame = this.consume(data)
    else for (const piece of data) frame = this.consume(piece) ?? frame
    return frame
  }

  private consume (piece: Uint8Array): Uint8Array | undefined {
    if (piece.length === 0) return undefined
    if (this.done) throw new SliceDecodeError('bytes after the response frame')
    let pos = 0
    while (this.body === undefined) {
      if (pos === piece.length) return undefined
      const b = piece[pos++]!
      this.prefix[this.prefixLength++] = b
      if (b >= 0x80) {
        if (this.prefixLength === MAX_LENGTH_BYTES) throw new InvalidDataLengthLengthError(`frame length prefix over ${MAX_LENGTH_BYTES} bytes`)
        continue
      }
      const length = varint.decode(this.prefix.subarray(0, this.prefixLength))
      if (length > this.maxLength) throw new InvalidDataLengthError(`frame of ${length} bytes exceeds ${this.maxLength}`)
      this.body = unfilled(length)
    }
    const n = Math.min(this.body.length - this.filled, piece.length - pos)
    this.body.set(n === piece.length ? piece : piece.subarray(pos, pos + n), this.filled)
    this.filled += n
    pos += n
    if (this.filled < this.body.length) return undefined
    this.done = true
    if (pos < piece.length) throw new SliceDecodeError('bytes after the response frame')
    return this.body
  }
}
