import { MAX_STREAM_MESSAGES } from '@icnet/types'
import type { Uint8ArrayList } from 'uint8arraylist'
import { SliceDecodeError } from './errors.js'

/**
 * The protobuf `CertifiedStreamSlice` (src/pb/xnet.proto), read and written by
 * hand on the hot path. Reading keeps every byte string as a view into the input
 * (messages are not copied, indices are not BigInts); writing assembles a slice
 * from parts encoded once, so a server cuts any range of a certified stream by
 * copying one run of pre-encoded message fields. The bytes are exactly those of
 * the generated codec (tested), which remains the reference.
 */
export interface SliceWireParts {
  subnet: Uint8Array
  headerBytes: Uint8Array
  /** Message indices and CBOR bytes, in order (not checked here). */
  messages: Array<{ index: number, bytes: Uint8Array }>
  proof: Uint8Array
  height: number
  signature: Uint8Array
}

// Field keys: (field number << 3) | wire type.
const KEY_VARINT_1 = 0x08
const KEY_BYTES_1 = 0x0a
const KEY_BYTES_2 = 0x12
const KEY_BYTES_3 = 0x1a

class Reader {
  readonly buf: Uint8Array
  end: number
  pos: number
  constructor (buf: Uint8Array, pos: number, end: number) { this.buf = buf; this.pos = pos; this.end = end }

  varint (): number {
    let v = 0
    let mul = 1
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new SliceDecodeError('truncated varint')
      const b = this.buf[this.pos++]!
      v += (b & 0x7f) * mul
      if (b < 0x80) {
        if (!Number.isSafeInteger(v)) throw new SliceDecodeError('varint beyond 2^53')
        return v
      }
      mul *= 128
    }
    throw new SliceDecodeError('varint longer than 10 bytes')
  }

  /** A length-delimited field's body, as a view. */
  bytes (): Uint8Array {
    const n = this.varint()
    if (n > this.end - this.pos) throw new SliceDecodeError(`field of ${n} bytes runs past its message`)
    const v = this.buf.subarray(this.pos, this.pos + n)
    this.pos += n
    return v
  }

  /** A length-delimited field as a nested reader. */
  nested (): Reader {
    const n = this.varint()
    if (n > this.end - this.pos) throw new SliceDecodeError(`field of ${n} bytes runs past its message`)
    const r = new Reader(this.buf, this.pos, this.pos + n)
    this.pos += n
    return r
  }

  skip (wireType: number): void {
    switch (wireType) {
      case 0: this.varint(); return
      case 1: this.advance(8); return
      case 2: this.advance(this.varint()); return
      case 5: this.advance(4); return
      default: throw new SliceDecodeError(`unsupported protobuf wire type ${wireType}`)
    }
  }

  private advance (n: number): void {
    if (n > this.end - this.pos) throw new SliceDecodeError('truncated field')
    this.pos += n
  }

  get done (): boolean { return this.pos >= this.end }
}

/** A message as read off the wire: its index and a view of its CBOR bytes. */
export interface WireMessage { index: number, bytes: Uint8Array }

/**
 * Parses the wire form of a slice. Bounds: the caller bounds the input; messages by
 * MAX_STREAM_MESSAGES. `makeMessage` builds each message from its index and bytes
 * (a view into `bytes`), so a caller that keeps its own message objects does not
 * pay for an intermediate one per message.
 */
export function readSliceWire (bytes: Uint8Array): SliceWireParts
export function readSliceWire<M> (bytes: Uint8Array, makeMessage: (index: number, bytes: Uint8Array) => M): Omit<SliceWireParts, 'messages'> & { messages: M[] }
export function readSliceWire<M> (bytes: Uint8Array, makeMessage?: (index: number, bytes: Uint8Array) => M): Omit<SliceWireParts, 'messages'> & { messages: Array<M | WireMessage> } {
  const make: (index: number, b: Uint8Array) => M | WireMessage = makeMessage ?? ((index, b) => ({ index, bytes: b }))
  const r = new Reader(bytes, 0, bytes.length)
  const seen = new Set<number>()
  const once = (key: number, what: string): void => {
    if (seen.has(key)) throw new SliceDecodeError(`${what} appears twice`)
    seen.add(key)
  }
  let payload: { subnet: Uint8Array, headerBytes: Uint8Array, messages: Array<M | WireMessage> } | undefined
  let proof: Uint8Array = new Uint8Array(0)
  let cert: { height: number, signature: Uint8Array } | undefined
  while (!r.done) {
    const key = r.varint()
    if (key === KEY_BYTES_1) { once(key, 'payload'); payload = readPayload(r.nested(), make) } else if (key === KEY_BYTES_2) { once(key, 'merkle_proof'); proof = r.bytes() } else if (key === KEY_BYTES_3) { once(key, 'certification'); cert = readCertification(r.nested()) } else r.skip(key & 7)
  }
  if (payload === undefined || cert === undefined) throw new SliceDecodeError('slice lacks payload or certification')
  return { ...payload, proof, height: cert.height, signature: cert.signature }
}

const EMPTY = new Uint8Array(0)

function readPayload<M> (r: Reader, make: (index: number, bytes: Uint8Array) => M): { subnet: Uint8Array, headerBytes: Uint8Array, messages: M[] } {
  let subnet: Uint8Array = EMPTY
  let headerBytes: Uint8Array = EMPTY
  const messages: M[] = []
  while (!r.done) {
    const key = r.varint()
    if (key === KEY_BYTES_3) {
      if (messages.length >= MAX_STREAM_MESSAGES) throw new SliceDecodeError(`more than ${MAX_STREAM_MESSAGES} messages`)
      // One SliceMessage, read in place: the reader's bounds are narrowed to it and restored.
      const n = r.varint()
      if (n > r.end - r.pos) throw new SliceDecodeError(`field of ${n} bytes runs past its message`)
      const outer = r.end
      r.end = r.pos + n
      let index = 0
      let body: Uint8Array = EMPTY
      while (!r.done) {
        const k = r.varint()
        if (k === KEY_VARINT_1) index = r.varint()
        else if (k === KEY_BYTES_2) body = r.bytes()
        else r.skip(k & 7)
      }
      r.end = outer
      messages.push(make(index, body))
    } else if (key === KEY_BYTES_1) subnet = r.bytes()
    else if (key === KEY_BYTES_2) headerBytes = r.bytes()
    else r.skip(key & 7)
  }
  return { subnet, headerBytes, messages }
}

function readCertification (r: Reader): { height: number, signature: Uint8Array } {
  let height = 0
  let signature: Uint8Array = new Uint8Array(0)
  while (!r.done) {
    const key = r.varint()
    if (key === KEY_VARINT_1) height = r.varint()
    else if (key === KEY_BYTES_2) signature = r.bytes()
    else r.skip(key & 7)
  }
  return { height, signature }
}

export function varintLength (n: number): number {
  let len = 1
  while (n >= 0x80) { n = Math.floor(n / 0x80); len++ }
  return len
}

function writeVarint (out: Uint8Array, pos: number, n: number): number {
  while (n >= 0x80) { out[pos++] = (n % 0x80) | 0x80; n = Math.floor(n / 0x80) }
  out[pos++] = n
  return pos
}

function messageBodyLength (index: number, length: number): number {
  return (index === 0 ? 0 : 1 + varintLength(index)) + (length === 0 ? 0 : 1 + varintLength(length) + length)
}

/** Bytes of one message's `SliceMessage` field inside `SlicePayload` (key, length, body). */
export function messageFieldLength (index: number, length: number): number {
  const body = messageBodyLength(index, length)
  return 1 + varintLength(body) + body
}

/** Writes one message's `SliceMessage` field at `p`; returns the end. */
function writeMessageField (out: Uint8Array, p: number, index: number, bytes: Uint8Array): number {
  out[p++] = KEY_BYTES_3
  p = writeVarint(out, p, messageBodyLength(index, bytes.length))
  if (index !== 0) { out[p++] = KEY_VARINT_1; p = writeVarint(out, p, index) }
  if (bytes.length > 0) { out[p++] = KEY_BYTES_2; p = writeVarint(out, p, bytes.length); out.set(bytes, p); p += bytes.length }
  return p
}

/** The `SliceMessage` field of one message inside `SlicePayload` (key, length, body). */
export function encodeMessageField (index: number, bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(messageFieldLength(index, bytes.length))
  writeMessageField(out, 0, index, bytes)
  return out
}

/** Bytes of a length-delimited field; proto3 omits an empty one unless it is a message. */
function delimited (bodyLength: number, omitEmpty = true): number {
  return bodyLength === 0 && omitEmpty ? 0 : 1 + varintLength(bodyLength) + bodyLength
}

export interface SliceAssembly {
  subnet: Uint8Array
  headerBytes: Uint8Array
  /** The messages, in order (their fields are written straight into the output). */
  messages: ReadonlyArray<{ readonly index: number, readonly bytes: Uint8Array }>
  proof: Uint8Array
  height: number
  signature: Uint8Array
}

/** The exact encoded length of an assembled slice. */
export function assembledLength (a: Omit<SliceAssembly, 'messages' | 'proof'> & { messageFieldsLength: number, proofLength: number }): number {
  const payload = delimited(a.subnet.length) + delimited(a.headerBytes.length) + a.messageFieldsLength
  const cert = (a.height === 0 ? 0 : 1 + varintLength(a.height)) + delimited(a.signature.length)
  return delimited(payload, false) + delimited(a.proofLength) + delimited(cert, false)
}

/**
 * A new byte array of `length` bytes that are not zeroed first, for output that is
 * written whole (a megabyte slice would otherwise be written twice). A plain
 * Uint8Array over a buffer of its own: not a Node Buffer (whose `slice` shares
 * memory) and not from Node's shared pool.
 */
export function unfilled (length: number): Uint8Array {
  return new Uint8Array(Buffer.allocUnsafeSlow(length).buffer, 0, length)
}

/** Writes the slice with one copy of each part; every byte of the output is written. */
export function assembleSlice (a: SliceAssembly): Uint8Array {
  let fieldsLength = 0
  for (const m of a.messages) fieldsLength += messageFieldLength(m.index, m.bytes.length)
  const payloadLength = delimited(a.subnet.length) + delimited(a.headerBytes.length) + fieldsLength
  const certLength = (a.height === 0 ? 0 : 1 + varintLength(a.height)) + delimited(a.signature.length)
  const out = unfilled(delimited(payloadLength, false) + delimited(a.proof.length) + delimited(certLength, false))
  let p = 0
  const field = (key: number, v: Uint8Array): void => {
    if (v.length === 0) return
    out[p++] = key
    p = writeVarint(out, p, v.length)
    out.set(v, p)
    p += v.length
  }
  out[p++] = KEY_BYTES_1
  p = writeVarint(out, p, payloadLength)
  field(KEY_BYTES_1, a.subnet)
  field(KEY_BYTES_2, a.headerBytes)
  for (const m of a.messages) p = writeMessageField(out, p, m.index, m.bytes)
  field(KEY_BYTES_2, a.proof)
  out[p++] = KEY_BYTES_3
  p = writeVarint(out, p, certLength)
  if (a.height !== 0) { out[p++] = KEY_VARINT_1; p = writeVarint(out, p, a.height) }
  field(KEY_BYTES_2, a.signature)
  if (p !== out.length) throw new Error(`assembled ${p} of ${out.length} bytes`) // never: the lengths above are exact
  return out
}

/**
 * The start of a `SliceResponse` that carries a slice of `sliceLength` bytes and no
 * error (NONE is the default, so proto3 leaves it out): field 2's key and length.
 * Followed by the slice's bytes it is exactly `SliceResponse.encode({ error: NONE, slice })`.
 */
export function sliceResponseHead (sliceLength: number): Uint8Array {
  const out = new Uint8Array(1 + varintLength(sliceLength))
  out[0] = KEY_BYTES_2
  writeVarint(out, 1, sliceLength)
  return out
}

/**
 * The slice a `SliceResponse` frame carries, as a view of the frame (nothing is
 * copied), if the frame is exactly field 2's key and length followed by that many
 * bytes: what `SliceResponse.decode` would read as `error: NONE` and this `slice`.
 * Any other frame (an error, an empty response, another encoding of the same
 * message) gives `undefined`, and the generated codec decodes it.
 */
export function sliceOfResponse (frame: Uint8Array): Uint8Array | undefined {
  const total = frame.byteLength
  if (total < 2 || frame[0] !== KEY_BYTES_2) return undefined
  let length = 0
  let mul = 1
  let pos = 1
  for (; pos < total && pos <= 10; pos++) {
    const b = frame[pos]!
    length += (b & 0x7f) * mul
    mul *= 128
    if (b < 0x80) return length === total - pos - 1 ? frame.subarray(pos + 1) : undefined
  }
  return undefined
}

/** Copies `list`'s bytes, chunk by chunk, to the start of `target` (which must be large enough); returns the view written. */
export function copyChunks (list: Uint8ArrayList | Iterable<Uint8Array>, target: Uint8Array): Uint8Array {
  let at = 0
  for (const chunk of list) { target.set(chunk, at); at += chunk.byteLength }
  return target.subarray(0, at)
}
