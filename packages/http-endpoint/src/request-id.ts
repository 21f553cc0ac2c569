/**
 * The interface specification's representation-independent hash
 * (`hash_of_map`), which names requests (request ids) and is what senders and
 * nodes sign. SHA-256 by node:crypto.
 */
import { createHash } from 'node:crypto'
import { concatBytes, compareBytes } from '@icnet/types'

/** A value the hash covers: blobs, text, naturals, arrays and nested maps. */
export type HashableValue = Uint8Array | string | bigint | number | readonly HashableValue[] | HashableMap
export type HashableMap = ReadonlyMap<string, HashableValue> | { readonly [key: string]: HashableValue | undefined }

const textEncoder = new TextEncoder()

function sha256 (bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(bytes).digest())
}

/** Shortest unsigned LEB128. */
export function leb128 (value: bigint | number): Uint8Array {
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
  if (value instanceof Uint8Array) return sha256(value)
  if (typeof value === 'string') return sha256(textEncoder.encode(value))
  if (typeof value === 'bigint' || typeof value === 'number') return sha256(leb128(value))
  if (Array.isArray(value)) return sha256(concatBytes(...(value as readonly HashableValue[]).map(hashValue)))
  return hashOfMap(value as HashableMap)
}

/** `hash_of_map`: fields sorted by their hashed pair, absent (undefined) fields omitted. */
export function hashOfMap (map: HashableMap): Uint8Array {
  const entries: Array<[string, HashableValue]> = map instanceof Map
    ? [...(map as ReadonlyMap<string, HashableValue>).entries()]
    : Object.entries(map).filter((e): e is [string, HashableValue] => e[1] !== undefined)
  const pairs = entries.map(([k, v]) => concatBytes(sha256(textEncoder.encode(k)), hashValue(v)))
  pairs.sort(compareBytes)
  return sha256(concatBytes(...pairs))
}

/** The request id of a request's `content` map. */
export function requestIdOf (content: HashableMap): Uint8Array {
  return hashOfMap(content)
}
