/**
 * Byte-level mutations of structurally valid encodings. A mutation names its
 * position as a fraction of the input's length, so the same mutation list
 * applies to any input and fast-check can shrink the list and the input
 * independently.
 */
import fc from 'fast-check'

export type Mutation =
  | { op: 'flip', at: number, bit: number }
  | { op: 'set', at: number, value: number }
  | { op: 'truncate', at: number }
  | { op: 'delete', at: number, length: number }
  | { op: 'insert', at: number, bytes: Uint8Array }
  | { op: 'duplicate', at: number, length: number }
  | { op: 'splice', at: number, from: number, length: number }
  | { op: 'nest', depth: number, prefix: Uint8Array }

/**
 * Byte sequences that make decoders believe in huge or odd things: CBOR heads
 * with 8-byte lengths (byte string, text, array, map), indefinite lengths, deep
 * tags, protobuf varints of 2^64-1 and length-delimited fields that claim 4 GiB.
 */
export const INFLATING_SEQUENCES: readonly Uint8Array[] = [
  Uint8Array.of(0x5b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), // CBOR bytes(2^64-1)
  Uint8Array.of(0x5a, 0xff, 0xff, 0xff, 0xff), // CBOR bytes(2^32-1)
  Uint8Array.of(0x7b, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00), // CBOR text(2^32)
  Uint8Array.of(0x9b, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), // CBOR array(2^63-1)
  Uint8Array.of(0x9a, 0x10, 0x00, 0x00, 0x00), // CBOR array(2^28)
  Uint8Array.of(0xbb, 0x00, 0x00, 0x00, 0x00, 0x7f, 0xff, 0xff, 0xff), // CBOR map(2^31-1)
  Uint8Array.of(0x9f), Uint8Array.of(0x5f), Uint8Array.of(0xbf), Uint8Array.of(0xff), // indefinite lengths, break
  Uint8Array.of(0xd9, 0xd9, 0xf7), // self-describe tag
  Uint8Array.of(0x1b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), // CBOR uint 2^64-1
  Uint8Array.of(0x3b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff), // CBOR negint -2^64
  Uint8Array.of(0xfb, 0x7f, 0xf8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00), // CBOR NaN
  Uint8Array.of(0xf7), Uint8Array.of(0xf6), // undefined, null
  Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), // varint 2^64-1
  Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01), // overlong varint
  Uint8Array.of(0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f), // field 1, length 2^32-1
  Uint8Array.of(0x12, 0xff, 0xff, 0xff, 0x7f), // field 2, length 2^28-1
  Uint8Array.of(0x1a, 0x80, 0x80, 0x80, 0x80, 0x08), // field 3, length 2^31
  Uint8Array.of(0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), // field 1 varint 2^64-1
  Uint8Array.of(0x0b), Uint8Array.of(0x0c), Uint8Array.of(0x0f) // deprecated groups, invalid wire type
]

/** Prefixes that nest: CBOR arrays of one, maps of one, tags, protobuf field 1 of a nested message. */
const NESTING_PREFIXES: readonly Uint8Array[] = [
  Uint8Array.of(0x81), Uint8Array.of(0x83, 0x01), Uint8Array.of(0xa1, 0x61, 0x61), Uint8Array.of(0xd8, 0x18), Uint8Array.of(0x0a, 0x7f)
]

/** A position in [0, 1) as a fraction of the input length (integers: fast-check's doubles crowd at 0 and 1). */
const position = fc.nat({ max: 0xffff }).map(x => x / 0x10000)
const interestingByte = fc.constantFrom(0x00, 0x01, 0x7f, 0x80, 0xff, 0x18, 0x19, 0x1a, 0x1b, 0x1f, 0x40, 0x5b, 0x60, 0x7b, 0x9b, 0xbb, 0xc0, 0xf4, 0xf5, 0xf6, 0xf7)

export const arbMutation: fc.Arbitrary<Mutation> = fc.oneof(
  { arbitrary: fc.record({ op: fc.constant('flip' as const), at: position, bit: fc.integer({ min: 0, max: 7 }) }), weight: 4 },
  { arbitrary: fc.record({ op: fc.constant('set' as const), at: position, value: fc.oneof(interestingByte, fc.integer({ min: 0, max: 255 })) }), weight: 4 },
  { arbitrary: fc.record({ op: fc.constant('truncate' as const), at: position }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('delete' as const), at: position, length: fc.integer({ min: 1, max: 64 }) }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('insert' as const), at: position, bytes: fc.oneof(fc.constantFrom(...INFLATING_SEQUENCES), fc.uint8Array({ minLength: 1, maxLength: 16 })) }), weight: 3 },
  { arbitrary: fc.record({ op: fc.constant('duplicate' as const), at: position, length: fc.integer({ min: 1, max: 256 }) }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant('splice' as const), at: position, from: position, length: fc.integer({ min: 1, max: 256 }) }), weight: 2 },
  { arbitrary: fc.record({ op: fc.constant('nest' as const), depth: fc.integer({ min: 1, max: 4096 }), prefix: fc.constantFrom(...NESTING_PREFIXES) }), weight: 1 }
)

const index = (at: number, length: number): number => Math.min(length, Math.floor(at * (length + 1)))

/** Applies one mutation; `donor` is a second valid input for splicing. Never mutates its arguments. */
export function applyMutation (input: Uint8Array, m: Mutation, donor: Uint8Array): Uint8Array {
  const n = input.length
  switch (m.op) {
    case 'flip': {
      if (n === 0) return input
      const out = input.slice()
      const i = Math.min(n - 1, Math.floor(m.at * n))
      out[i] = out[i]! ^ (1 << m.bit)
      return out
    }
    case 'set': {
      if (n === 0) return Uint8Array.of(m.value)
      const out = input.slice()
      out[Math.min(n - 1, Math.floor(m.at * n))] = m.value
      return out
    }
    case 'truncate': return input.slice(0, index(m.at, n))
    case 'delete': {
      const i = index(m.at, n)
      return concat(input.subarray(0, i), input.subarray(i + m.length))
    }
    case 'insert': {
      const i = index(m.at, n)
      return concat(input.subarray(0, i), m.bytes, input.subarray(i))
    }
    case 'duplicate': {
      const i = index(m.at, n)
      return concat(input.subarray(0, i + m.length), input.subarray(i))
    }
    case 'splice': {
      const i = index(m.at, n)
      const j = index(m.from, donor.length)
      return concat(input.subarray(0, i), donor.subarray(j, j + m.length), input.subarray(i))
    }
    case 'nest': {
      const out = new Uint8Array(m.prefix.length * m.depth + n)
      for (let k = 0; k < m.depth; k++) out.set(m.prefix, k * m.prefix.length)
      out.set(input, m.prefix.length * m.depth)
      return out
    }
  }
}

export function concat (...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0))
  let o = 0
  for (const p of parts) { out.set(p, o); o += p.length }
  return out
}

/** A valid input with one to four mutations applied (possibly splicing in parts of a second valid input). */
export function mutated (valid: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc.tuple(valid, valid, fc.array(arbMutation, { minLength: 1, maxLength: 4 }))
    .map(([input, donor, mutations]) => mutations.reduce((bytes, m) => applyMutation(bytes, m, donor), input))
}

/**
 * What a decoder is fed: mostly mutated valid encodings, some untouched valid
 * ones (they must keep decoding), and some pure random bytes.
 */
export function fuzzInput (valid: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    { arbitrary: mutated(valid), weight: 8 },
    { arbitrary: valid, weight: 1 },
    { arbitrary: fc.uint8Array({ maxLength: 512 }), weight: 1 }
  )
}
