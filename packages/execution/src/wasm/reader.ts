import { InvalidModuleError } from '../errors.js'

/**
 * A bounds-checked cursor over wasm binary bytes. Every read checks the end
 * first, so a truncated or hostile module fails with a typed error instead of
 * reading garbage.
 */
export class WasmReader {
  pos: number
  readonly end: number
  readonly bytes: Uint8Array

  constructor (bytes: Uint8Array, start = 0, end = bytes.length) {
    this.bytes = bytes
    this.pos = start
    this.end = end
  }

  get done (): boolean { return this.pos >= this.end }

  fail (what: string): never {
    throw new InvalidModuleError('malformed', `malformed module at byte ${this.pos}: ${what}`)
  }

  u8 (): number {
    if (this.pos >= this.end) this.fail('unexpected end')
    return this.bytes[this.pos++]!
  }

  peek (): number {
    if (this.pos >= this.end) this.fail('unexpected end')
    return this.bytes[this.pos]!
  }

  /** Unsigned LEB128, at most 32 bits. */
  u32 (): number {
    let result = 0
    let shift = 0
    for (let i = 0; i < 5; i++) {
      const b = this.u8()
      result += (b & 0x7f) * 2 ** shift
      if ((b & 0x80) === 0) {
        if (result > 0xffffffff) this.fail('u32 out of range')
        return result
      }
      shift += 7
    }
    this.fail('u32 LEB128 too long')
  }

  /** Skips a signed LEB128 of at most `bits` bits (i32/i64 constants). */
  skipSleb (bits: number): void {
    const maxBytes = Math.ceil(bits / 7)
    for (let i = 0; i < maxBytes; i++) {
      if ((this.u8() & 0x80) === 0) return
    }
    this.fail('signed LEB128 too long')
  }

  skip (n: number): void {
    if (n < 0 || this.pos + n > this.end) this.fail(`length ${n} past the end`)
    this.pos += n
  }

  take (n: number): Uint8Array {
    const start = this.pos
    this.skip(n)
    return this.bytes.subarray(start, start + n)
  }

  name (): string {
    const n = this.u32()
    const raw = this.take(n)
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(raw)
    } catch {
      this.fail('name is not UTF-8')
    }
  }
}

/** A growable byte buffer with LEB128 writers. */
export class WasmWriter {
  private buf = new Uint8Array(256)
  length = 0

  private ensure (extra: number): void {
    if (this.length + extra <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.length + extra) size *= 2
    const next = new Uint8Array(size)
    next.set(this.buf.subarray(0, this.length))
    this.buf = next
  }

  byte (b: number): this {
    this.ensure(1)
    this.buf[this.length++] = b
    return this
  }

  bytes (b: Uint8Array): this {
    this.ensure(b.length)
    this.buf.set(b, this.length)
    this.length += b.length
    return this
  }

  u32 (value: number): this {
    let v = value >>> 0
    do {
      let b = v & 0x7f
      v >>>= 7
      if (v !== 0) b |= 0x80
      this.byte(b)
    } while (v !== 0)
    return this
  }

  sleb64 (value: bigint): this {
    let v = value
    for (;;) {
      const b = Number(v & 0x7fn)
      v >>= 7n
      const done = (v === 0n && (b & 0x40) === 0) || (v === -1n && (b & 0x40) !== 0)
      this.byte(done ? b : b | 0x80)
      if (done) return this
    }
  }

  name (s: string): this {
    const b = new TextEncoder().encode(s)
    return this.u32(b.length).bytes(b)
  }

  finish (): Uint8Array {
    return this.buf.slice(0, this.length)
  }
}
