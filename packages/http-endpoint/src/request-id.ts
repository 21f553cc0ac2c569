/**
 * The interface specification's representation-independent hash
 * (`hash_of_map`), which names requests (request ids) and is what senders and
 * nodes sign. SHA-256 by node:crypto's one-shot `hash` (no Hash object per
 * call); it runs on every request and response, so the hashes of the
 * specification's field names and recurring values are computed once.
 */
import { createHash, hash as oneShotHash } from 'node:crypto'
import { RECURRING_DIGEST_CACHE_SIZE } from './constants.js'

/** A value the hash covers: blobs, text, naturals, arrays and nested maps. */
export type HashableValue = Uint8Array | string | bigint | number | readonly HashableValue[] | HashableMap
export type HashableMap = ReadonlyMap<string, HashableValue> | { readonly [key: string]: HashableValue | undefined }

/**
 * SHA-256 digests travel as 32-character latin1 strings inside this module:
 * node:crypto returns a string without allocating an ArrayBuffer, pairs and
 * lists are string concatenations, and comparing latin1 strings orders them
 * as their bytes. Only the final hash becomes a Uint8Array.
 */
type Digest = string

const sha256: (data: Uint8Array | string) => Digest = typeof oneShotHash === 'function'
  ? data => oneShotHash('sha256', data, 'binary')
  : data => createHash('sha256').update(data).digest('binary')

function digestOfDigests (joined: string): Digest {
  return sha256(Buffer.from(joined, 'latin1'))
}

function toBytes (d: Digest): Uint8Array {
  // 32 bytes: V8 keeps a typed array this small on its heap (no separate backing store).
  const out = new Uint8Array(32)
  for (let i = 0; i < 32; i++) out[i] = d.charCodeAt(i)
  return out
}

/** Field names of requests, delegations and query responses: their hashes never change. */
const KNOWN_KEYS = [
  'request_type', 'canister_id', 'method_name', 'arg', 'sender', 'ingress_expiry', 'nonce', 'paths',
  'pubkey', 'expiration', 'targets', 'sender_info',
  'status', 'reply', 'reject_code', 'reject_message', 'error_code', 'timestamp', 'request_id'
]
const keyHashes = new Map<string, Digest>(KNOWN_KEYS.map(k => [k, sha256(k)]))
/** Text values that recur in every request or answer (request types, statuses). */
const KNOWN_TEXT = ['call', 'query', 'read_state', 'replied', 'rejected']
const textHashes = new Map<string, Digest>(KNOWN_TEXT.map(t => [t, sha256(t)]))
/** The anonymous principal, the sender of most queries. */
const ANONYMOUS_HASH = sha256(Uint8Array.of(0x04))

function keyHash (key: string): Digest {
  return keyHashes.get(key) ?? sha256(key)
}

/** A bounded map of digests, emptied when full (see RECURRING_DIGEST_CACHE_SIZE). */
class RecentDigests<K> {
  readonly #map = new Map<K, Digest>()
  get size (): number { return this.#map.size }
  get (key: K): Digest | undefined { return this.#map.get(key) }
  set (key: K, digest: Digest): Digest {
    if (this.#map.size >= RECURRING_DIGEST_CACHE_SIZE) this.#map.clear()
    this.#map.set(key, digest)
    return digest
  }
}
/** Method names (short text only). */
const recentTexts = new RecentDigests<string>()
/** Naturals: ingress expiries. */
const recentNaturals = new RecentDigests<bigint | number>()
/** Principals under the fields that name one (canister_id, sender), keyed by their latin1 text. */
const recentPrincipals = new RecentDigests<string>()
const RECENT_TEXT_MAX_LENGTH = 64
const PRINCIPAL_MAX_BYTES = 29
/** The fields whose blob is a principal: the same few recur, unlike nonces and arguments. */
const PRINCIPAL_FIELDS = new Set(['canister_id', 'sender'])

/** Entries in the recurring-value digest caches (for tests: each stays within RECURRING_DIGEST_CACHE_SIZE). */
export function recurringDigestCacheSizes (): { texts: number, naturals: number, principals: number } {
  return { texts: recentTexts.size, naturals: recentNaturals.size, principals: recentPrincipals.size }
}

function textDigest (value: string): Digest {
  const known = textHashes.get(value)
  if (known !== undefined) return known
  if (value.length > RECENT_TEXT_MAX_LENGTH) return sha256(value)
  return recentTexts.get(value) ?? recentTexts.set(value, sha256(value))
}

function naturalDigest (value: bigint | number): Digest {
  return recentNaturals.get(value) ?? recentNaturals.set(value, sha256(leb128(value)))
}

function principalDigest (value: Uint8Array): Digest {
  if (value.length === 1 && value[0] === 0x04) return ANONYMOUS_HASH
  if (value.length > PRINCIPAL_MAX_BYTES) return sha256(value)
  let key = ''
  for (let i = 0; i < value.length; i++) key += String.fromCharCode(value[i]!)
  return recentPrincipals.get(key) ?? recentPrincipals.set(key, sha256(value))
}

/** Shortest unsigned LEB128. */
export function leb128 (value: bigint | number): Uint8Array {
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) throw new RangeError('naturals only')
    if (value < 0x80) return Uint8Array.of(value)
    value = BigInt(value)
  }
  if (value < 0n) throw new RangeError('naturals only')
  if (value < 1n << 64n) {
    // Timestamps and expiries (nanoseconds, above 2^53) on every request: two 32-bit halves, no BigInt per byte.
    let lo = Number(value & 0xffffffffn)
    let hi = Number(value >> 32n)
    const out: number[] = []
    for (;;) {
      const b = lo & 0x7f
      lo = (lo >>> 7) | ((hi & 0x7f) << 25)
      hi >>>= 7
      if (lo === 0 && hi === 0) { out.push(b); break }
      out.push(b | 0x80)
    }
    return Uint8Array.from(out)
  }
  let v = value
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
  return toBytes(digestOf(value))
}

function digestOf (value: HashableValue): Digest {
  if (typeof value === 'string') return textDigest(value)
  if (value instanceof Uint8Array) return value.length === 1 && value[0] === 0x04 ? ANONYMOUS_HASH : sha256(value)
  if (typeof value === 'bigint' || typeof value === 'number') return naturalDigest(value)
  if (Array.isArray(value)) {
    let joined = ''
    for (const item of value as readonly HashableValue[]) joined += digestOf(item)
    return digestOfDigests(joined)
  }
  return mapDigest(value as HashableMap)
}

/** `hash_of_map`: fields sorted by their hashed pair, absent (undefined) fields omitted. */
export function hashOfMap (map: HashableMap): Uint8Array {
  return toBytes(mapDigest(map))
}

function mapDigest (map: HashableMap): Digest {
  // Keys of a map are distinct, so their hashes are, and ordering the pairs is ordering the key hashes:
  // an insertion sort of a handful of 32-character strings, no pair strings built just to be compared.
  const keys: Digest[] = []
  const values: Digest[] = []
  const add = (k: string, v: HashableValue): void => {
    const kh = keyHash(k)
    const vh = v instanceof Uint8Array && PRINCIPAL_FIELDS.has(k) ? principalDigest(v) : digestOf(v)
    let i = keys.length
    keys.push(kh)
    values.push(vh)
    // Comparing latin1 strings compares their bytes.
    while (i > 0 && keys[i - 1]! > kh) {
      keys[i] = keys[i - 1]!
      values[i] = values[i - 1]!
      i--
    }
    keys[i] = kh
    values[i] = vh
  }
  if (map instanceof Map) {
    for (const [k, v] of map as ReadonlyMap<string, HashableValue>) add(k, v)
  } else {
    for (const k of Object.keys(map)) {
      const v = (map as Record<string, HashableValue | undefined>)[k]
      if (v !== undefined) add(k, v)
    }
  }
  let joined = ''
  for (let i = 0; i < keys.length; i++) joined += keys[i]! + values[i]!
  return digestOfDigests(joined)
}

/** The request id of a request's `content` map. */
export function requestIdOf (content: HashableMap): Uint8Array {
  return hashOfMap(content)
}

/**
 * The fields of a replied query response, in the order of their key hashes
 * (fixed: the keys are). Every query answer is hashed, so its map is not
 * walked as a generic one.
 */
const REPLIED_ORDER = (['status', 'reply', 'timestamp', 'request_id'] as const).slice().sort((a, b) => keyHash(a) < keyHash(b) ? -1 : 1)
const REPLIED_STATUS_PAIR = keyHash('status') + textHashes.get('replied')!
const ARG_KEY_HASH = keyHash('arg')

/** Answers' timestamps have millisecond steps: under load many answers of one millisecond share the digest. */
let lastTimestamp: bigint | undefined
let lastTimestampDigest: Digest = ''
function timestampDigest (timestampNs: bigint): Digest {
  if (timestampNs !== lastTimestamp) {
    lastTimestampDigest = sha256(leb128(timestampNs))
    lastTimestamp = timestampNs
  }
  return lastTimestampDigest
}

/**
 * `hash_of_map({ status: 'replied', reply: { arg: reply }, timestamp, request_id })`,
 * the hash a node signs for a replied query, returned as `prefix ‖ hash`
 * (the domain separator goes in front without another copy).
 */
export function prefixedRepliedResponseHash (prefix: Uint8Array, reply: Uint8Array, timestampNs: bigint, requestId: Uint8Array): Uint8Array {
  let joined = ''
  for (const key of REPLIED_ORDER) {
    switch (key) {
      case 'status': joined += REPLIED_STATUS_PAIR; break
      case 'reply': joined += keyHash('reply') + digestOfDigests(ARG_KEY_HASH + sha256(reply)); break
      case 'timestamp': joined += keyHash('timestamp') + timestampDigest(timestampNs); break
      case 'request_id': joined += keyHash('request_id') + sha256(requestId); break
    }
  }
  const d = digestOfDigests(joined)
  const out = new Uint8Array(prefix.length + 32)
  out.set(prefix, 0)
  for (let i = 0; i < 32; i++) out[prefix.length + i] = d.charCodeAt(i)
  return out
}
