/**
 * Bounded CBOR decoding of request bodies. Walks cborg's tokenizer and builds
 * plain values, refusing before allocating anything the bounds do not allow:
 * nesting depth, total item count, definite lengths only, text keys only.
 * The body size itself is bounded by the reader (see body.ts), so no single
 * string or byte string can exceed it.
 */
import { Tokenizer, Type, type Token } from 'cborg'
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

export function decodeBounded (bytes: Uint8Array, options: DecodeBoundedOptions = {}): CborValue {
  const maxDepth = options.maxDepth ?? MAX_CBOR_DEPTH
  const maxItems = options.maxItems ?? MAX_CBOR_ITEMS
  if (bytes.length === 0) throw badRequest('malformed-cbor', 'empty body: expected a CBOR request')
  const tokens = new Tokenizer(bytes, { allowIndefinite: false, allowUndefined: false, allowBigInt: true, strict: false })
  let items = 0
  const next = (): Token => {
    if (tokens.done()) throw badRequest('malformed-cbor', 'CBOR is truncated')
    if (++items > maxItems) throw badRequest('malformed-cbor', `CBOR has more than ${maxItems} items`)
    try {
      return tokens.next()
    } catch (err) {
      throw badRequest('malformed-cbor', `invalid CBOR: ${(err as Error).message.slice(0, 120)}`, err)
    }
  }
  const read = (depth: number): CborValue => {
    if (depth > maxDepth) throw badRequest('malformed-cbor', `CBOR nesting exceeds ${maxDepth}`)
    let t = next()
    // The self-describe tag may prefix any item; no other tag is used by the interface.
    while (t.type === Type.tag) {
      if (t.value !== SELF_DESCRIBE_TAG) throw badRequest('malformed-cbor', `unexpected CBOR tag ${String(t.value)}`)
      t = next()
    }
    switch (t.type) {
      case Type.uint: return BigInt(t.value as number | bigint)
      case Type.negint: throw badRequest('malformed-cbor', 'negative integers are not used by the interface')
      case Type.bytes: return t.value as Uint8Array
      case Type.string: return t.value as string
      case Type.true: return true
      case Type.false: return false
      case Type.null: return null
      case Type.array: {
        const n = t.value as number
        if (n > maxItems - items) throw badRequest('malformed-cbor', `CBOR array of ${n} items exceeds the item bound`)
        const out: CborValue[] = []
        for (let i = 0; i < n; i++) out.push(read(depth + 1))
        return out
      }
      case Type.map: {
        const n = t.value as number
        if (n * 2 > maxItems - items) throw badRequest('malformed-cbor', `CBOR map of ${n} entries exceeds the item bound`)
        const out: CborMap = new Map()
        for (let i = 0; i < n; i++) {
          const k = next()
          if (k.type !== Type.string) throw badRequest('malformed-cbor', 'CBOR map keys must be text')
          const key = k.value as string
          if (out.has(key)) throw badRequest('malformed-cbor', `duplicate CBOR map key "${key.slice(0, 40)}"`)
          out.set(key, read(depth + 1))
        }
        return out
      }
      default:
        throw badRequest('malformed-cbor', `unexpected CBOR item ${t.type.name}`)
    }
  }
  const value = read(1)
  if (!tokens.done()) throw badRequest('malformed-cbor', 'trailing bytes after the CBOR request')
  return value
}
