/**
 * CBOR encoding of the endpoint's answers: maps with text keys, text, byte
 * strings, naturals and arrays, under the self-describe tag. The answers are
 * small and their shapes fixed, so one pass measures and one writes into a
 * single buffer (no token list, no key sorting: the interface does not ask
 * for canonical order in answers).
 */

/** A value an answer is made of; undefined fields of a map are left out. */
export type AnswerValue = Uint8Array | string | bigint | number | readonly AnswerValue[] | { readonly [key: string]: AnswerValue | undefined }

const MAJOR_UINT = 0
const MAJOR_BYTES = 2
const MAJOR_TEXT = 3
const MAJOR_ARRAY = 4
const MAJOR_MAP = 5
const SELF_DESCRIBE = Buffer.from([0xd9, 0xd9, 0xf7])

function headSize (n: number | bigint): number {
  if (n < 24) return 1
  if (n < 0x100) return 2
  if (n < 0x10000) return 3
  if (n < 0x100000000) return 5
  return 9
}

function size (v: AnswerValue): number {
  if (typeof v === 'string') { const n = Buffer.byteLength(v); return headSize(n) + n }
  if (v instanceof Uint8Array) return headSize(v.length) + v.length
  if (typeof v === 'bigint' || typeof v === 'number') {
    if (v < 0 || (typeof v === 'number' && !Number.isSafeInteger(v)) || (typeof v === 'bigint' && v >= 1n << 64n)) throw new RangeError('answers hold naturals below 2^64 only')
    return headSize(v)
  }
  if (Array.isArray(v)) {
    let n = headSize(v.length)
    for (const x of v as readonly AnswerValue[]) n += size(x)
    return n
  }
  let n = 0
  let entries = 0
  const m = v as { readonly [key: string]: AnswerValue | undefined }
  for (const k of Object.keys(m)) {
    const x = m[k]
    if (x === undefined) continue
    entries++
    n += size(k) + size(x)
  }
  return headSize(entries) + n
}

function writeHead (out: Buffer, at: number, major: number, n: number | bigint): number {
  const m = major << 5
  if (n < 24) { out[at] = m | Number(n); return at + 1 }
  if (n < 0x100) { out[at] = m | 24; out[at + 1] = Number(n); return at + 2 }
  if (n < 0x10000) { out[at] = m | 25; out.writeUInt16BE(Number(n), at + 1); return at + 3 }
  if (n < 0x100000000) { out[at] = m | 26; out.writeUInt32BE(Number(n), at + 1); return at + 5 }
  out[at] = m | 27
  out.writeBigUInt64BE(BigInt(n), at + 1)
  return at + 9
}

function write (out: Buffer, at: number, v: AnswerValue): number {
  if (typeof v === 'string') {
    const n = Buffer.byteLength(v)
    at = writeHead(out, at, MAJOR_TEXT, n)
    return at + out.write(v, at, 'utf8')
  }
  if (v instanceof Uint8Array) {
    at = writeHead(out, at, MAJOR_BYTES, v.length)
    out.set(v, at)
    return at + v.length
  }
  if (typeof v === 'bigint' || typeof v === 'number') return writeHead(out, at, MAJOR_UINT, v)
  if (Array.isArray(v)) {
    at = writeHead(out, at, MAJOR_ARRAY, v.length)
    for (const x of v as readonly AnswerValue[]) at = write(out, at, x)
    return at
  }
  const m = v as { readonly [key: string]: AnswerValue | undefined }
  const keys = Object.keys(m).filter(k => m[k] !== undefined)
  at = writeHead(out, at, MAJOR_MAP, keys.length)
  for (const k of keys) {
    at = write(out, at, k)
    at = write(out, at, m[k]!)
  }
  return at
}

/** `value` as CBOR, prefixed by the self-describe tag (55799) as the interface's answers are. */
export function encodeAnswer (value: AnswerValue): Buffer {
  const n = SELF_DESCRIBE.length + size(value)
  const out = Buffer.allocUnsafe(n)
  out.set(SELF_DESCRIBE, 0)
  const end = write(out, SELF_DESCRIBE.length, value)
  if (end !== n) throw new Error(`CBOR answer size mismatch: ${end} != ${n}`)
  return out
}

/** The constant parts of a signed reply (see encodeSignedReply). */
const cborText = (s: string): Buffer => encodeAnswer(s).subarray(SELF_DESCRIBE.length)
const REPLY_HEAD = Buffer.concat([SELF_DESCRIBE, Buffer.of((MAJOR_MAP << 5) | 3), cborText('status'), cborText('replied'), cborText('reply'), Buffer.of((MAJOR_MAP << 5) | 1), cborText('arg')])
const SIGNATURES_HEAD = Buffer.concat([cborText('signatures'), Buffer.of((MAJOR_ARRAY << 5) | 1, (MAJOR_MAP << 5) | 3), cborText('timestamp')])
const SIGNATURE_KEY = cborText('signature')
const IDENTITY_KEY = cborText('identity')

/**
 * The answer to a replied, signed query, byte for byte what encodeAnswer
 * gives for `{ status: 'replied', reply: { arg }, signatures: [{ timestamp,
 * signature, identity }] }`: its shape is fixed and it is sent for every
 * query, so the constant parts are copied, not encoded again.
 */
export function encodeSignedReply (arg: Uint8Array, timestampNs: bigint, signature: Uint8Array, identity: Uint8Array): Buffer {
  if (timestampNs < 0n || timestampNs >= 1n << 64n) throw new RangeError('answers hold naturals below 2^64 only')
  const n = REPLY_HEAD.length + headSize(arg.length) + arg.length + SIGNATURES_HEAD.length + headSize(timestampNs) +
    SIGNATURE_KEY.length + headSize(signature.length) + signature.length + IDENTITY_KEY.length + headSize(identity.length) + identity.length
  const out = Buffer.allocUnsafe(n)
  out.set(REPLY_HEAD, 0)
  let at = writeBytes(out, REPLY_HEAD.length, arg)
  out.set(SIGNATURES_HEAD, at)
  at = writeHead(out, at + SIGNATURES_HEAD.length, MAJOR_UINT, timestampNs)
  out.set(SIGNATURE_KEY, at)
  at = writeBytes(out, at + SIGNATURE_KEY.length, signature)
  out.set(IDENTITY_KEY, at)
  at = writeBytes(out, at + IDENTITY_KEY.length, identity)
  if (at !== n) throw new Error(`CBOR answer size mismatch: ${at} != ${n}`)
  return out
}

function writeBytes (out: Buffer, at: number, v: Uint8Array): number {
  at = writeHead(out, at, MAJOR_BYTES, v.length)
  out.set(v, at)
  return at + v.length
}
