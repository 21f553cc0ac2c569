/**
 * The interface specification's representation-independent hash
 * (`hash_of_map`), which names requests (request ids) and is what senders and
 * nodes sign. SHA-256 by node:crypto's one-shot `hash` (no Hash object per
 * call); it runs on every request and response, so the field-name hashes of
 * the specification's own fields are computed once.
 */
import { createHash, hash as oneShotHash } from 'node:crypto'

/** A value the hash covers: blobs, text, naturals, arrays and nested maps. */
export type HashableValue = Uint8Array | string | bigint | number | readonly HashableValue[] | HashableMap
export type HashableMap = ReadonlyMap<string, HashableValue> | { readonly [key: string]: HashableValue | undefined }

const HASH_BYTES = 32

/** SHA-256 as a Buffer (a Uint8Array); node:crypto's one-shot form where this Node has it. */
const sha256: (bytes: Uint8Array | string) => Buffer = typeof oneShotHash === 'function'
  ? bytes => oneShotHash('sha256', bytes, 'buffer')
  : bytes => createHash('sha256').update(bytes).digest()

/** Field names of requests, delegations and query responses: their hashes never change. */
const KNOWN_KEYS = [
  'request_type', 'canister_id', 'method_name', 'arg', 'sender', 'ingress_expiry', 'nonce', 'paths',
  'pubkey', 'expiration', 'targets', 'sender_info',
  'status', 'reply', 'reject_code', 'reject_message', 'error_code', 'timestamp', 'request_id'
]
const keyHashes = new Map<string, Buffer>(KNOWN_KEYS.map(k => [k, sha256(k)]))
/** Text values that recur in every request or answer (request types, statuses). */
const KNOWN_TEXT = ['call', 'query', 'read_state', 'replied', 'rejected']
const textHashes = new Map<string, Buffer>(KNOWN_TEXT.map(t => [t, sha256(t)]))
/** The anonymous principal, the sender of most queries. */
const ANONYMOUS_HASH = sha256(Uint8Array.of(0x04))

function keyHash (key: string): Buffer {
  return keyHashes.get(key) ?? sha256(key)
}

/** Shortest unsigned LEB128. */
export function leb128 (value: bigint | number): Uint8Array {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError('naturals only')
    if (value < 0x80) return Uint8Array.of(value)
  }
  let v = BigInt(value)
  if (v < 0n) throw new RangeError('naturals only')
  const out: number[] = []
  do {
    let b = Number(v & 0x7fn)
    v >>= 7n
    if (v !== 0n) b |= 0x80
    out.push(b)
  } while (v !== 0n)
  return Uint8Array.from(out)
}

export function hashValue (value: HashableValue): Uint8Array {
  return new Uint8Array(digestOf(value))
}

/** The hash of a value; cached digests are shared, so this stays internal (callers only read it). */
function digestOf (value: HashableValue): Buffer {
  if (typeof value === 'string') return textHashes.get(value) ?? sha256(value)
  if (value instanceof Uint8Array) return value.length === 1 && value[0] === 0x04 ? ANONYMOUS_HASH : sha256(value)
  if (typeof value === 'bigint' || typeof value === 'number') return sha256(leb128(value))
  if (Array.isArray(value)) {
    const items = value as readonly HashableValue[]
    const joined = Buffer.allocUnsafe(items.length * HASH_BYTES)
    for (let i = 0; i < items.length; i++) joined.set(digestOf(items[i]!), i * HASH_BYTES)
    return sha256(joined)
  }
  return mapDigest(value as HashableMap)
}

/** `hash_of_map`: fields sorted by their hashed pair, absent (undefined) fields omitted. */
export function hashOfMap (map: HashableMap): Uint8Array {
  const d = mapDigest(map)
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength)
}

function mapDigest (map: HashableMap): Buffer {
  const pairs: Buffer[] = []
  const add = (k: string, v: HashableValue): void => {
    const pair = Buffer.allocUnsafe(2 * HASH_BYTES)
    pair.set(keyHash(k), 0)
    pair.set(digestOf(v), HASH_BYTES)
    pairs.push(pair)
  }
  if (map instanceof Map) {
    for (const [k, v] of map as ReadonlyMap<string, HashableValue>) add(k, v)
  } else {
    for (const k of Object.keys(map)) {
      const v = (map as Record<string, HashableValue | undefined>)[k]
      if (v !== undefined) add(k, v)
    }
  }
  pairs.sort(Buffer.compare)
  return sha256(Buffer.concat(pairs, pairs.length * 2 * HASH_BYTES))
}

/** The request id of a request's `content` map. */
export function requestIdOf (content: HashableMap): Uint8Array {
  return hashOfMap(content)
}
