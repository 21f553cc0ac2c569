/**
 * The interface specification's representation-independent hash
 * (`hash_of_map`), which names requests (request ids) and is what senders and
 * nodes sign. SHA-256 by node:crypto's one-shot `hash` (no Hash object per
 * call); it runs on every request and response, so the hashes of the
 * specification's field names and recurring values are computed once.
 */
import { createHash, hash as oneShotHash } from 'node:crypto'

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
  if (typeof value === 'string') return textHashes.get(value) ?? sha256(value)
  if (value instanceof Uint8Array) return value.length === 1 && value[0] === 0x04 ? ANONYMOUS_HASH : sha256(value)
  if (typeof value === 'bigint' || typeof value === 'number') return sha256(leb128(value))
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
  const pairs: string[] = []
  if (map instanceof Map) {
    for (const [k, v] of map as ReadonlyMap<string, HashableValue>) pairs.push(keyHash(k) + digestOf(v))
  } else {
    for (const k of Object.keys(map)) {
      const v = (map as Record<string, HashableValue | undefined>)[k]
      if (v !== undefined) pairs.push(keyHash(k) + digestOf(v))
    }
  }
  // Default sort compares UTF-16 code units: for latin1 strings, the bytes.
  pairs.sort()
  return digestOfDigests(pairs.join(''))
}

/** The request id of a request's `content` map. */
export function requestIdOf (content: HashableMap): Uint8Array {
  return hashOfMap(content)
}

/**
 * The request id of an authentication envelope, read straight from its CBOR
 * bytes: `hash_of_map` of its `content`, without building the decoded values.
 * The signing thread computes the ids of anonymous queries this way (the
 * event loop never needs them). The bytes must already have been accepted by
 * `parseEnvelope` (definite lengths, text keys, no floats, booleans or
 * nulls); anything else throws a RangeError.
 */
export function requestIdOfEnvelope (body: Uint8Array): Uint8Array {
  const r = new CborCursor(body)
  const entries = r.head(MAJOR_MAP)
  for (let i = 0; i < entries; i++) {
    const key = r.text()
    if (key === 'content') return toBytes(r.mapDigest())
    r.skip()
  }
  throw new RangeError('the envelope has no content')
}

const MAJOR_UINT = 0
const MAJOR_BYTES = 2
const MAJOR_TEXT = 3
const MAJOR_ARRAY = 4
const MAJOR_MAP = 5
const MAJOR_TAG = 6
const SELF_DESCRIBE_TAG = 55799
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER)

/** A reader over CBOR bytes that hashes items as the representation-independent hash defines. */
class CborCursor {
  readonly #b: Buffer
  #at = 0
  /** The major type and argument of the last head read. */
  #major = 0
  #argument = 0
  /** The argument when it does not fit a safe integer (a 64-bit natural). */
  #big: bigint | undefined

  constructor (bytes: Uint8Array) {
    this.#b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }

  /** Reads an item's head (after any self-describe tags), of major type `major` when given, and returns its argument. */
  head (major?: number): number {
    this.#rawHead()
    while (this.#major === MAJOR_TAG) {
      if (this.#argument !== SELF_DESCRIBE_TAG) throw new RangeError('unexpected CBOR tag')
      this.#rawHead()
    }
    if (major !== undefined && this.#major !== major) throw new RangeError(`expected CBOR major type ${major}, found ${this.#major}`)
    return this.#argument
  }

  #rawHead (): void {
    const b = this.#b
    if (this.#at >= b.length) throw new RangeError('CBOR is truncated')
    const first = b[this.#at++]!
    const info = first & 0x1f
    this.#major = first >> 5
    this.#big = undefined
    if (info < 24) {
      this.#argument = info
      return
    }
    const width = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : 0
    if (width === 0) throw new RangeError('indefinite or reserved CBOR lengths are not hashable')
    if (width > b.length - this.#at) throw new RangeError('CBOR is truncated')
    if (width === 8) {
      const v = b.readBigUInt64BE(this.#at)
      if (v <= MAX_SAFE) this.#argument = Number(v)
      else {
        this.#argument = Number.MAX_SAFE_INTEGER
        this.#big = v
      }
    } else this.#argument = b.readUIntBE(this.#at, width)
    this.#at += width
  }

  #payload (n: number): Buffer {
    if (n > this.#b.length - this.#at) throw new RangeError('CBOR is truncated')
    const out = this.#b.subarray(this.#at, this.#at + n)
    this.#at += n
    return out
  }

  text (): string {
    return this.#payload(this.head(MAJOR_TEXT)).toString('utf8')
  }

  /** The digest of the next item. */
  digest (): Digest {
    const n = this.head()
    switch (this.#major) {
      case MAJOR_UINT: return sha256(leb128(this.#big ?? n))
      case MAJOR_BYTES: {
        const bytes = this.#payload(n)
        return n === 1 && bytes[0] === 0x04 ? ANONYMOUS_HASH : sha256(bytes)
      }
      case MAJOR_TEXT: {
        const bytes = this.#payload(n)
        // Recurring values are ASCII: their latin1 reading finds the cached hash; other text is hashed as its bytes.
        return textHashes.get(bytes.toString('latin1')) ?? sha256(bytes)
      }
      case MAJOR_ARRAY: {
        let joined = ''
        for (let i = 0; i < n; i++) joined += this.digest()
        return digestOfDigests(joined)
      }
      case MAJOR_MAP: return this.#mapEntries(n)
      default: throw new RangeError(`CBOR major type ${this.#major} has no representation-independent hash`)
    }
  }

  /** The digest of the next item, which must be a map. */
  mapDigest (): Digest {
    return this.#mapEntries(this.head(MAJOR_MAP))
  }

  #mapEntries (n: number): Digest {
    const pairs: string[] = new Array(n)
    for (let i = 0; i < n; i++) {
      const key = this.#payload(this.head(MAJOR_TEXT))
      pairs[i] = (keyHashes.get(key.toString('latin1')) ?? sha256(key)) + this.digest()
    }
    pairs.sort()
    return digestOfDigests(pairs.join(''))
  }

  /** Steps over the next item. */
  skip (): void {
    const n = this.head()
    if (this.#major === MAJOR_BYTES || this.#major === MAJOR_TEXT) this.#payload(n)
    else if (this.#major === MAJOR_ARRAY) for (let i = 0; i < n; i++) this.skip()
    else if (this.#major === MAJOR_MAP) for (let i = 0; i < 2 * n; i++) this.skip()
  }
}
