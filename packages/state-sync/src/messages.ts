import { InvalidEncodingError, ProtocolViolationError } from '@icnet/types'
import { MAX_ADVERTISED_CHECKPOINTS, MAX_BLOCK_BYTES, MAX_BLOCKS_PER_MESSAGE, MAX_MESSAGE_BYTES, MAX_WANTLIST_ENTRIES } from './constants.js'
import { HASH_BYTES } from './hashing.js'
import { Message } from './pb/state-sync.js'
import type { Uint8ArrayList } from 'uint8arraylist'

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
