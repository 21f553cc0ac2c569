import { InvalidEncodingError } from './errors.js'

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

export function toHex (bytes: Uint8Array): string {
  let s = ''
  for (let i = 0; i < bytes.length; i++) s += HEX[bytes[i]!]
  return s
}

export function fromHex (hex: string): Uint8Array {
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw new InvalidEncodingError('not a hex string')
  const out = new Uint8Array(hex.length / 2)
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16)
  return out
}

export function concatBytes (...parts: Uint8Array[]): Uint8Array {
  let n = 0
  for (const p of parts) n += p.length
  const out = new Uint8Array(n)
  let o = 0
  for (const p of parts) { out.set(p, o); o += p.length }
  return out
}

export function equalBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** Lexicographic byte order (shorter prefix first), as hash tree labels are ordered. */
export function compareBytes (a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!
  return a.length - b.length
}

/** 8-byte big-endian encoding of a u64 (stream indices in tree labels). */
export function u64be (value: bigint | number): Uint8Array {
  const out = new Uint8Array(8)
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) {
    // By hand: no BigInt or DataView for the common case (a height or an index, per message).
    const hi = Math.floor(value / 0x1_0000_0000)
    const lo = value >>> 0
    out[0] = hi >>> 24; out[1] = (hi >>> 16) & 0xff; out[2] = (hi >>> 8) & 0xff; out[3] = hi & 0xff
    out[4] = lo >>> 24; out[5] = (lo >>> 16) & 0xff; out[6] = (lo >>> 8) & 0xff; out[7] = lo & 0xff
    return out
  }
  new DataView(out.buffer).setBigUint64(0, BigInt(value), false)
  return out
}

export function readU64be (bytes: Uint8Array): bigint {
  if (bytes.length !== 8) throw new InvalidEncodingError(`expected 8 bytes for a u64, got ${bytes.length}`)
  return new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, false)
}

/**
 * The length of `s` encoded as UTF-8, exactly what `TextEncoder` would produce (a
 * lone surrogate counts as U+FFFD, 3 bytes), without encoding it: stream limits
 * count the bytes of every message pushed and collected.
 */
export function utf8ByteLength (s: string): number {
  let n = s.length
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) continue
    if (c < 0x800) { n += 1; continue }
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1)
      if (d >= 0xdc00 && d <= 0xdfff) { n += 2; i++; continue } // a pair: 2 code units, 4 bytes
    }
    n += 2 // the rest of the BMP, and a lone surrogate as U+FFFD: 3 bytes
  }
  return n
}

/** `dsep(s) = len(s) as one byte ‖ s`, the IC's domain separator. */
export function domainSeparator (s: string): Uint8Array {
  const b = new TextEncoder().encode(s)
  if (b.length > 255) throw new RangeError('domain separator longer than 255 bytes')
  return concatBytes(Uint8Array.of(b.length), b)
}
