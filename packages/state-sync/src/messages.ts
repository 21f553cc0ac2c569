import { InvalidEncodingError, ProtocolViolationError } from '@icnet/types'
import { MAX_ADVERTISED_CHECKPOINTS, MAX_BLOCK_BYTES, MAX_BLOCKS_PER_MESSAGE, MAX_MESSAGE_BYTES, MAX_WANTLIST_ENTRIES } from './constants.js'
import { HASH_BYTES } from './hashing.js'
import { Message } from './pb/state-sync.js'
import { Uint8ArrayList } from 'uint8arraylist'

export { Message }
export type BlockKind = Message.BlockKind
export const BlockKind = Message.BlockKind

/** A checkpoint a peer can serve. */
export interface CheckpointInfo {
  height: bigint
  stateHash: Uint8Array
}

export function emptyMessage (): Message {
  return { wantlist: [], presences: [], blocks: [], wantCheckpoints: false, checkpoints: [], hasCheckpoints: false }
}

export function encodeMessage (m: Partial<Message>): Uint8Array {
  return Message.encode({ ...emptyMessage(), ...m })
}

/** Unsigned LEB128, as protobuf and the length prefix use it. */
export function varint (n: number): number[] {
  const out: number[] = []
  while (n > 0x7f) { out.push((n & 0x7f) | 0x80); n = Math.floor(n / 128) }
  out.push(n)
  return out
}

/**
 * `encodeMessage({ blocks: [{ hash, kind, data }] })` without copying `data`: the protobuf
 * headers go in one small buffer and the block bytes follow as a second part. The bytes
 * are identical to what the protobuf encoder produces.
 */
export function encodeBlockMessage (kind: BlockKind, hash: Uint8Array, data: Uint8Array): Uint8ArrayList {
  const kindValue = kind === BlockKind.CHUNK ? 0 : kind === BlockKind.SUB_MANIFEST ? 1 : 2
  // Block { 1: hash, 2: kind (omitted when 0), 3: data (omitted when empty) }
  const head = [0x0a, ...varint(hash.length), ...hash]
  if (kindValue !== 0) head.push(0x10, ...varint(kindValue))
  if (data.length > 0) head.push(0x1a, ...varint(data.length))
  const blockLength = head.length + data.length
  // Message { 3: repeated Block }
  const header = Uint8Array.from([0x1a, ...varint(blockLength), ...head])
  return data.length > 0 ? new Uint8ArrayList(header, data) : new Uint8ArrayList(header)
}

/** Block bytes as they came off the wire: one buffer, or the decrypted pieces of a frame. */
export type BlockData = Uint8Array | Uint8ArrayList

/** The block bytes in one buffer (copies only when they arrived in pieces). */
export function contiguous (data: BlockData): Uint8Array {
  return data instanceof Uint8Array ? data : data.subarray()
}

/** Reads a varint at `pos`; undefined when it runs past `end` or beyond 32 bits. */
function readVarint (b: Uint8Array, pos: number, end: number): { value: number, next: number } | undefined {
  let value = 0
  for (let shift = 0, i = pos; i < end && shift < 35; shift += 7, i++) {
    value += (b[i]! & 0x7f) * 2 ** shift
    if ((b[i]! & 0x80) === 0) return { value, next: i + 1 }
  }
  return undefined
}

/** Frame bytes that hold every header of a one-block frame (tags, lengths, a 32-byte hash). */
export const BLOCK_HEADER_MAX = 64

/** Where the block bytes of a one-block frame start and how long they are. */
export interface BlockFrameHeader { kind: BlockKind, hash: Uint8Array, dataOffset: number, dataLength: number }

/**
 * Parses the headers of a frame of `total` bytes that carries exactly one block laid out
 * as `encodeBlockMessage` writes it, from its first bytes (`head`: all of them, or at least
 * BLOCK_HEADER_MAX). Returns undefined for any other frame (the caller then decodes it with
 * `decodeMessage`, which accepts every valid encoding); throws when the block is larger
 * than MAX_BLOCK_BYTES.
 */
export function parseBlockHeader (head: Uint8Array, total: number): BlockFrameHeader | undefined {
  const end = head.length
  if (head[0] !== 0x1a) return undefined
  const outer = readVarint(head, 1, end)
  if (outer === undefined || outer.next + outer.value !== total) return undefined
  let pos = outer.next
  if (head[pos] !== 0x0a || head[pos + 1] !== HASH_BYTES || pos + 2 + HASH_BYTES > end) return undefined
  const hash = head.slice(pos + 2, pos + 2 + HASH_BYTES)
  pos += 2 + HASH_BYTES
  let kind: BlockKind = BlockKind.CHUNK
  if (head[pos] === 0x10) {
    const k = readVarint(head, pos + 1, end)
    if (k === undefined || k.value > 2) return undefined
    kind = k.value === 0 ? BlockKind.CHUNK : k.value === 1 ? BlockKind.SUB_MANIFEST : BlockKind.META_MANIFEST
    pos = k.next
  }
  if (head[pos] !== 0x1a) return undefined
  const len = readVarint(head, pos + 1, end)
  if (len === undefined || len.next + len.value !== total) return undefined
  if (len.value > MAX_BLOCK_BYTES) throw new ProtocolViolationError('block too large')
  return { kind, hash, dataOffset: len.next, dataLength: len.value }
}

/**
 * Decodes a frame that carries exactly one block laid out as `encodeBlockMessage` writes
 * it, without joining its pieces: `data` is a view of the frame. Returns undefined for any
 * other frame (the caller then uses `decodeMessage`, which accepts every valid encoding).
 */
export function decodeBlockFrame (frame: Uint8ArrayList): { kind: BlockKind, hash: Uint8Array, data: Uint8ArrayList } | undefined {
  const total = frame.byteLength
  const h = parseBlockHeader(frame.subarray(0, Math.min(BLOCK_HEADER_MAX, total)), total)
  if (h === undefined) return undefined
  return { kind: h.kind, hash: h.hash, data: frame.sublist(h.dataOffset, total) }
}

/**
 * Decodes one frame. The frame length was already bounded by the reader (MAX_MESSAGE_BYTES);
 * repeated fields are bounded while decoding, then every hash and block is checked.
 */
export function decodeMessage (bytes: Uint8Array | Uint8ArrayList): Message {
  if (bytes.byteLength > MAX_MESSAGE_BYTES) throw new InvalidEncodingError('state-sync frame too large')
  let m: Message
  try {
    m = Message.decode(bytes, {
      limits: {
        wantlist: MAX_WANTLIST_ENTRIES,
        presences: MAX_WANTLIST_ENTRIES,
        blocks: MAX_BLOCKS_PER_MESSAGE,
        checkpoints: MAX_ADVERTISED_CHECKPOINTS
      }
    })
  } catch (err) {
    throw new InvalidEncodingError('state-sync frame does not decode', { cause: err })
  }
  for (const w of m.wantlist) if (w.hash.length !== HASH_BYTES) throw new ProtocolViolationError('bad hash length in wantlist')
  for (const p of m.presences) if (p.hash.length !== HASH_BYTES) throw new ProtocolViolationError('bad hash length in presence')
  for (const b of m.blocks) {
    if (b.hash.length !== HASH_BYTES) throw new ProtocolViolationError('bad hash length in block')
    if (b.data.length > MAX_BLOCK_BYTES) throw new ProtocolViolationError('block too large')
  }
  for (const c of m.checkpoints) if (c.stateHash.length !== HASH_BYTES) throw new ProtocolViolationError('bad state hash length')
  return m
}

/** Map key of a block: its kind and hash (the same hash never names two kinds thanks to domain separation, but be explicit). */
export function blockKey (kind: BlockKind, hash: Uint8Array): string {
  return `${kind}:${Buffer.from(hash.buffer, hash.byteOffset, hash.byteLength).toString('hex')}`
}
