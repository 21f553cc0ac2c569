/**
 * Bounded CBOR decoding of request bodies, straight from the bytes into
 * plain values (every query and call is decoded: no token objects in
 * between). Refuses before allocating anything the bounds do not allow:
 * nesting depth, total item count, definite lengths only, text keys only,
 * no duplicate keys. The body size itself is bounded by the reader (see
 * body.ts), so no single string or byte string can exceed it.
 */
import { badRequest } from './errors.js'
import { MAX_CBOR_DEPTH, MAX_CBOR_ITEMS } from './constants.js'

/** A decoded CBOR value: unsigned integers are bigints, maps have text keys. */
export type CborValue = bigint | string | Uint8Array | boolean | null | CborValue[] | CborMap
export type CborMap = Map<string, CborValue>

export const SELF_DESCRIBE_TAG = 55799

export interface DecodeBoundedOptions {
  maxDepth?: number
  maxItems?: number
}

/**
 * Texts every request repeats (field names, request types): returned as the
 * same string each time, so map lookups and the request id's key-hash cache
 * do not hash a fresh string per request.
 */
const KNOWN_TEXT = [
  'content', 'sender_pubkey', 'sender_sig', 'sender_delegation', 'request_type', 'canister_id', 'method_name', 'arg', 'sender',
  'ingress_expiry', 'nonce', 'paths', 'delegation', 'pubkey', 'expiration', 'targets', 'signature', 'call', 'query', 'read_state'
]
/** By length: the known texts of that length, with their bytes. */
const knownByLength = new Map<number, Array<{ text: string, bytes: Uint8Array }>>()
for (const text of KNOWN_TEXT) {
  const list = knownByLength.get(text.length) ?? []
  list.push({ text, bytes: new TextEncoder().encode(text) })
  knownByLength.set(text.length, list)
}
const utf8 = new TextDecoder()
const SHORT_ASCII = 32

interface Reader {
  bytes: Uint8Array
  at: number
  items: number
  maxItems: number
  maxDepth: number
  /** The argument of the last head read (its length, count or value); -1 when it does not fit in a safe integer. */
  n: number
  /** The same when it does not fit: a uint above 2^53 - 1. */
  big: bigint
}

export function decodeBounded (bytes: Uint8Array, options: DecodeBoundedOptions = {}): CborValue {
  if (bytes.length === 0) throw badRequest('malformed-cbor', 'empty body: expected a CBOR request')
  const r: Reader = { bytes, at: 0, items: 0, maxItems: options.maxItems ?? MAX_CBOR_ITEMS, maxDepth: options.maxDepth ?? MAX_CBOR_DEPTH, n: 0, big: 0n }
  const value = readItem(r, 1)
  if (r.at !== bytes.length) throw badRequest('malformed-cbor', 'trailing bytes after the CBOR request')
  return value
}

function truncated (): never {
  throw badRequest('malformed-cbor', 'CBOR is truncated')
}

function invalid (what: string): never {
  throw badRequest('malformed-cbor', `invalid CBOR: ${what}`)
}

/** Reads the head of the next item (counted against the item bound): returns its major type, its argument in r.n (and r.big). */
function readHead (r: Reader): number {
  const bytes = r.bytes
  if (r.at >= bytes.length) truncated()
  if (++r.items > r.maxItems) throw badRequest('malformed-cbor', `CBOR has more than ${r.maxItems} items`)
  const initial = bytes[r.at]!
  const major = initial >> 5
  const info = initial & 31
  const at = r.at + 1
  if (info < 24) {
    r.n = info
    r.at = at
    return major
  }
  if (major === 7) {
    // Simple values and floats: reported by the caller from the additional information.
    r.n = info
    r.at = at
    return major
  }
  if (info > 27) invalid(info === 31 ? 'indefinite lengths are not allowed' : `reserved additional information ${info}`)
  const size = 1 << (info - 24)
  if (at + size > bytes.length) truncated()
  r.at = at + size
  switch (size) {
    case 1: r.n = bytes[at]!; break
    case 2: r.n = (bytes[at]! << 8) | bytes[at + 1]!; break
    case 4: r.n = ((bytes[at]! << 24) >>> 0) + ((bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!); break
    default: {
      const hi = ((bytes[at]! << 24) >>> 0) + ((bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!)
      const lo = ((bytes[at + 4]! << 24) >>> 0) + ((bytes[at + 5]! << 16) | (bytes[at + 6]! << 8) | bytes[at + 7]!)
      if (hi < 0x200000) r.n = hi * 0x100000000 + lo
      else {
        r.n = -1
        r.big = (BigInt(hi) << 32n) | BigInt(lo)
      }
    }
  }
  return major
}

function readItem (r: Reader, depth: number): CborValue {
  if (depth > r.maxDepth) throw badRequest('malformed-cbor', `CBOR nesting exceeds ${r.maxDepth}`)
  let major = readHead(r)
  // The self-describe tag may prefix any item; no other tag is used by the interface.
  while (major === 6) {
    if (r.n !== SELF_DESCRIBE_TAG) throw badRequest('malformed-cbor', `unexpected CBOR tag ${r.n === -1 ? String(r.big) : String(r.n)}`)
    major = readHead(r)
  }
  const n = r.n
  switch (major) {
    case 0: return n === -1 ? r.big : BigInt(n)
    case 1: throw badRequest('malformed-cbor', 'negative integers are not used by the interface')
    case 2: {
      const end = body(r, n)
      // A copy (and a plain Uint8Array, whatever the input), as held values (ingress args, nonces) must not keep the whole read buffer alive.
      const out = new Uint8Array(n)
      out.set(r.bytes.subarray(end - n, end))
      return out
    }
    case 3: return text(r, n, body(r, n))
    case 4: {
      if (n === -1 || n > r.maxItems - r.items) throw badRequest('malformed-cbor', `CBOR array of ${n === -1 ? String(r.big) : n} items exceeds the item bound`)
      const out: CborValue[] = []
      for (let i = 0; i < n; i++) out.push(readItem(r, depth + 1))
      return out
    }
    case 5: {
      if (n === -1 || n * 2 > r.maxItems - r.items) throw badRequest('malformed-cbor', `CBOR map of ${n === -1 ? String(r.big) : n} entries exceeds the item bound`)
      const out: CborMap = new Map()
      for (let i = 0; i < n; i++) {
        if (readHead(r) !== 3) throw badRequest('malformed-cbor', 'CBOR map keys must be text')
        const key = text(r, r.n, body(r, r.n))
        if (out.has(key)) throw badRequest('malformed-cbor', `duplicate CBOR map key "${key.slice(0, 40)}"`)
        out.set(key, readItem(r, depth + 1))
      }
      return out
    }
    default:
      switch (n) {
        case 20: return false
        case 21: return true
        case 22: return null
        case 23: return invalid('undefined values are not supported')
        case 25: case 26: case 27: throw badRequest('malformed-cbor', 'unexpected CBOR item float')
        case 31: return invalid('unexpected break')
        default: return invalid(`unsupported simple value ${n}`)
      }
  }
}

/** Skips the `n` bytes of a string's content; returns where they end. */
function body (r: Reader, n: number): number {
  if (n === -1 || n > r.bytes.length - r.at) truncated()
  r.at += n
  return r.at
}

function text (r: Reader, n: number, end: number): string {
  const bytes = r.bytes
  const start = end - n
  const known = knownByLength.get(n)
  if (known !== undefined) {
    for (const k of known) {
      let i = 0
      while (i < n && bytes[start + i] === k.bytes[i]) i++
      if (i === n) return k.text
    }
  }
  if (n <= SHORT_ASCII) {
    let s = ''
    for (let i = start; i < end; i++) {
      const c = bytes[i]!
      if (c >= 0x80) return utf8.decode(bytes.subarray(start, end))
      s += String.fromCharCode(c)
    }
    return s
  }
  return utf8.decode(bytes.subarray(start, end))
}
