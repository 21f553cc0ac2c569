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
  new DataView(out.buffer).setBigUint64(0, BigInt(value), false)
  return out
}

export function readU64be (bytes: Uint8Array): bigint {
  if (bytes.length !== 8) throw new InvalidEncodingError(`expected 8 bytes for a u64, got ${bytes.length}`)
  return new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, false)
}

/** `dsep(s) = len(s) as one byte ‖ s`, the IC's domain separator. */
export function domainSeparator (s: string): Uint8Array {
  const b = new TextEncoder().encode(s)
  if (b.length > 255) throw new RangeError('domain separator longer than 255 bytes')
  return concatBytes(Uint8Array.of(b.length), b)
}
