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

function varint (n: number): number[] {
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
