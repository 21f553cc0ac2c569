import type { CanisterId } from '@icnet/types'
import { PAGE_SIZE, WASM_PAGE_SIZE } from './sandbox.js'
import type { CanisterSnapshot, ExecutionResult, Page } from './sandbox.js'
import { isZero } from './paged-memory.js'

/**
 * A canister's committed state rebuilt from execution results alone: the
 * module, the heap and stable pages, globals, certified data and timer. It is
 * what a checkpoint writes, and what a crashed worker is restored from.
 */
export class CanisterMirror {
  readonly canisterId: CanisterId
  module: Uint8Array = new Uint8Array(0)
  heap: Uint8Array = new Uint8Array(0)
  stableSize = 0
  readonly stable = new Map<number, Uint8Array>()
  globals: Array<number | bigint> = []
  certifiedData: Uint8Array = new Uint8Array(0)
  globalTimer = 0n

  constructor (canisterId: CanisterId) { this.canisterId = canisterId }

  apply (r: ExecutionResult): void {
    const bytes = r.heap.sizeWasmPages * WASM_PAGE_SIZE
    if (r.heap.reset) {
      this.heap = new Uint8Array(bytes)
    } else if (bytes !== this.heap.length) {
      const grown = new Uint8Array(bytes)
      grown.set(this.heap.subarray(0, Math.min(bytes, this.heap.length)))
      this.heap = grown
    }
    for (const p of r.heap.pages) this.heap.set(p.bytes, p.index * PAGE_SIZE)
    if (r.stable.reset) this.stable.clear()
    this.stableSize = r.stable.sizeWasmPages
    for (const p of r.stable.pages) this.stable.set(p.index, p.bytes)
    this.globals = [...r.globals]
    if (r.certifiedData !== undefined) this.certifiedData = r.certifiedData
    if (r.globalTimer !== undefined) this.globalTimer = r.globalTimer
  }

  snapshot (): CanisterSnapshot {
    const stablePages: Page[] = [...this.stable.entries()]
      .filter(([, b]) => !isZero(b))
      .sort((a, b) => a[0] - b[0])
      .map(([index, b]) => ({ index, bytes: b.slice() }))
    return {
      canisterId: this.canisterId,
      module: this.module.slice(),
      heap: this.heap.slice(),
      globals: [...this.globals],
      stableSizeWasmPages: this.stableSize,
      stablePages,
      certifiedData: this.certifiedData.slice(),
      globalTimer: this.globalTimer
    }
  }

  static fromSnapshot (s: CanisterSnapshot): CanisterMirror {
    const m = new CanisterMirror(s.canisterId)
    m.module = s.module.slice()
    m.heap = s.heap.slice()
    m.stableSize = s.stableSizeWasmPages
    for (const p of s.stablePages) m.stable.set(p.index, p.bytes.slice())
    m.globals = [...s.globals]
    m.certifiedData = s.certifiedData.slice()
    m.globalTimer = s.globalTimer
    return m
  }
}
