import { PAGE_SIZE, WASM_PAGE_SIZE } from './sandbox.js'
import type { MemoryDelta, Page } from './sandbox.js'

const ZERO_PAGE = new Uint8Array(PAGE_SIZE)

/**
 * Stable memory: sparse 4 KiB pages with a copy-on-write overlay for the
 * running message. Commit returns exactly the pages the message wrote;
 * rollback drops the overlay.
 */
export class StableMemory {
  private base = new Map<number, Uint8Array>()
  private overlay = new Map<number, Uint8Array>()
  private baseSize = 0
  /** Current size in wasm pages (including uncommitted growth). */
  size = 0

  get byteLength (): number { return this.size * WASM_PAGE_SIZE }

  private page (index: number): Uint8Array {
    return this.overlay.get(index) ?? this.base.get(index) ?? ZERO_PAGE
  }

  private writablePage (index: number): Uint8Array {
    let p = this.overlay.get(index)
    if (p === undefined) {
      p = new Uint8Array(PAGE_SIZE)
      const b = this.base.get(index)
      if (b !== undefined) p.set(b)
      this.overlay.set(index, p)
    }
    return p
  }

  /** Copies `dst.length` bytes from `offset`; the caller has checked the bounds. */
  read (offset: number, dst: Uint8Array): void {
    let done = 0
    while (done < dst.length) {
      const pos = offset + done
      const index = Math.floor(pos / PAGE_SIZE)
      const within = pos - index * PAGE_SIZE
      const n = Math.min(PAGE_SIZE - within, dst.length - done)
      dst.set(this.page(index).subarray(within, within + n), done)
      done += n
    }
  }

  write (offset: number, src: Uint8Array): void {
    let done = 0
    while (done < src.length) {
      const pos = offset + done
      const index = Math.floor(pos / PAGE_SIZE)
      const within = pos - index * PAGE_SIZE
      const n = Math.min(PAGE_SIZE - within, src.length - done)
      this.writablePage(index).set(src.subarray(done, done + n), within)
      done += n
    }
  }

  /** Grows by `pages` wasm pages; returns the old size, or -1 past `limit`. */
  grow (pages: number, limit: number): number {
    const old = this.size
    if (pages < 0 || old + pages > limit) return -1
    this.size = old + pages
    return old
  }

  commit (): MemoryDelta {
    const indices = [...this.overlay.keys()].sort((a, b) => a - b)
    const pages: Page[] = []
    for (const index of indices) {
      const p = this.overlay.get(index)!
      this.base.set(index, p)
      pages.push({ index, bytes: p.slice() })
    }
    this.overlay.clear()
    this.baseSize = this.size
    return { sizeWasmPages: this.size, reset: false, pages }
  }

  rollback (): void {
    this.overlay.clear()
    this.size = this.baseSize
  }

  /** Empties the memory (reinstall). */
  clear (): void {
    this.base.clear()
    this.overlay.clear()
    this.size = this.baseSize = 0
  }

  /** Committed non-zero pages, ascending. */
  committedPages (): Page[] {
    return [...this.base.entries()]
      .filter(([, p]) => !isZero(p))
      .sort((a, b) => a[0] - b[0])
      .map(([index, bytes]) => ({ index, bytes: bytes.slice() }))
  }

  load (sizeWasmPages: number, pages: Page[]): void {
    this.clear()
    this.size = this.baseSize = sizeWasmPages
    for (const p of pages) this.base.set(p.index, p.bytes.slice())
  }

  /** A full-state delta (after reinstall or restore). */
  fullDelta (): MemoryDelta {
    return { sizeWasmPages: this.size, reset: true, pages: this.committedPages() }
  }
}

export function isZero (bytes: Uint8Array): boolean {
  const words = bytes.byteLength % 8 === 0 && bytes.byteOffset % 8 === 0
    ? new BigUint64Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 8)
    : undefined
  if (words !== undefined) {
    for (let i = 0; i < words.length; i++) if (words[i] !== 0n) return false
    return true
  }
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0) return false
  return true
}

/**
 * The committed copy of a wasm heap. After a message, the pages that differ
 * from the live memory are the dirty set: comparing 4 KiB ranges with memcmp
 * costs a fraction of what instrumenting every store would (see docs/execution.md).
 */
export class HeapShadow {
  private shadow: Buffer = Buffer.alloc(0)

  get byteLength (): number { return this.shadow.length }
  /** The committed heap (a live view: copy before keeping it). */
  get bytes (): Uint8Array { return this.shadow }

  /** The pages of `live` that differ from the committed copy (growth counts as different when non-zero). */
  diff (live: Uint8Array): number[] {
    const cur = Buffer.from(live.buffer, live.byteOffset, live.byteLength)
    const dirty: number[] = []
    const common = Math.min(cur.length, this.shadow.length)
    for (let off = 0; off < common; off += PAGE_SIZE) {
      const end = Math.min(off + PAGE_SIZE, common)
      if (cur.compare(this.shadow, off, end, off, end) !== 0) dirty.push(off / PAGE_SIZE)
    }
    for (let off = common; off < cur.length; off += PAGE_SIZE) {
      if (!isZero(cur.subarray(off, Math.min(off + PAGE_SIZE, cur.length)))) dirty.push(off / PAGE_SIZE)
    }
    return dirty
  }

  /** Takes the live memory's dirty pages as committed and returns them as a delta. */
  commit (live: Uint8Array, dirty: number[]): MemoryDelta {
    if (live.length !== this.shadow.length) {
      const grown = Buffer.alloc(live.length)
      this.shadow.copy(grown, 0, 0, Math.min(this.shadow.length, live.length))
      this.shadow = grown
    }
    const pages: Page[] = dirty.map(index => {
      const bytes = live.slice(index * PAGE_SIZE, (index + 1) * PAGE_SIZE)
      this.shadow.set(bytes, index * PAGE_SIZE)
      return { index, bytes }
    })
    return { sizeWasmPages: live.length / WASM_PAGE_SIZE, reset: false, pages }
  }

  /** Copies the committed pages back over `live` (same size): undoes a message. */
  restoreInto (live: Uint8Array, dirty: number[]): void {
    for (const index of dirty) live.set(this.shadow.subarray(index * PAGE_SIZE, (index + 1) * PAGE_SIZE), index * PAGE_SIZE)
  }

  /** Replaces the committed copy entirely (install, upgrade, restore). */
  reset (live: Uint8Array): MemoryDelta {
    this.shadow = Buffer.from(live)
    const pages: Page[] = []
    for (let off = 0; off < live.length; off += PAGE_SIZE) {
      const bytes = live.subarray(off, off + PAGE_SIZE)
      if (!isZero(bytes)) pages.push({ index: off / PAGE_SIZE, bytes: bytes.slice() })
    }
    return { sizeWasmPages: live.length / WASM_PAGE_SIZE, reset: true, pages }
  }
}
