import { compareBytes, toHex, type RejectCode } from '@icnet/types'
import { DONE_RETENTION_MS } from './constants.js'
import type { IngressStatus } from './types.js'

export interface IngressEntry {
  requestId: Uint8Array
  state: IngressStatus
}

interface Due { at: number, id: Uint8Array }

/** A min-heap of (time, request id): the order entries expire in, the same on every node. */
class DueHeap {
  private readonly items: Due[] = []
  get size (): number { return this.items.length }
  private less (a: Due, b: Due): boolean { return a.at < b.at || (a.at === b.at && compareBytes(a.id, b.id) < 0) }
  push (d: Due): void {
    const h = this.items
    h.push(d)
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!this.less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!]
      i = p
    }
  }
  peek (): Due | undefined { return this.items[0] }
  pop (): Due | undefined {
    const h = this.items
    const top = h[0]
    const last = h.pop()
    if (h.length > 0 && last !== undefined) {
      h[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < h.length && this.less(h[l]!, h[m]!)) m = l
        if (r < h.length && this.less(h[r]!, h[m]!)) m = r
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!]
        i = m
      }
    }
    return top
  }
}

/**
 * The ingress history: the status of each ingress message, as certified under
 * `/request_status/<id>`. `received` → `processing` → `replied`/`rejected` →
 * `done` (once its expiry passed; the reply is dropped) → removed
 * (DONE_RETENTION_MS later). Bounded by `limit` entries: while full, new
 * ingress is refused rather than anything in progress forgotten.
 */
export class IngressHistory {
  private readonly entries = new Map<string, IngressEntry>()
  private readonly toDone = new DueHeap()
  private readonly toRemove = new DueHeap()
  readonly limit: number
  /** Request ids whose entry changed since the last `takeChanged()` (for the state tree). */
  private changed = new Set<string>()

  constructor (limit: number) { this.limit = limit }

  get size (): number { return this.entries.size }
  get full (): boolean { return this.entries.size >= this.limit }

  get (requestId: Uint8Array): IngressStatus | undefined { return this.entries.get(toHex(requestId))?.state }
  has (requestId: Uint8Array): boolean { return this.entries.has(toHex(requestId)) }

  /** Every entry, sorted by request id (checkpoints, rebuilding the tree). */
  all (): IngressEntry[] {
    return [...this.entries.values()].sort((a, b) => compareBytes(a.requestId, b.requestId))
  }

  set (requestId: Uint8Array, state: IngressStatus): void {
    const key = toHex(requestId)
    this.entries.set(key, { requestId, state })
    this.changed.add(key)
    if (state.status === 'replied' || state.status === 'rejected') this.toDone.push({ at: state.expiry, id: requestId })
    else if (state.status === 'done') this.toRemove.push({ at: state.expiry + DONE_RETENTION_MS, id: requestId })
  }

  replied (requestId: Uint8Array, reply: Uint8Array): void {
    const e = this.get(requestId)
    if (e !== undefined) this.set(requestId, { status: 'replied', reply, expiry: e.expiry })
  }

  rejected (requestId: Uint8Array, code: RejectCode, message: string): void {
    const e = this.get(requestId)
    if (e !== undefined) this.set(requestId, { status: 'rejected', code, message, expiry: e.expiry })
  }

  /** Ages entries at batch time `now`: answered and expired → done; done and past retention → removed. */
  purge (now: number): void {
    for (let d = this.toDone.peek(); d !== undefined && d.at < now; d = this.toDone.peek()) {
      this.toDone.pop()
      const e = this.get(d.id)
      if (e !== undefined && (e.status === 'replied' || e.status === 'rejected')) this.set(d.id, { status: 'done', expiry: e.expiry })
    }
    for (let d = this.toRemove.peek(); d !== undefined && d.at < now; d = this.toRemove.peek()) {
      this.toRemove.pop()
      const key = toHex(d.id)
      if (this.entries.get(key)?.state.status === 'done') { this.entries.delete(key); this.changed.add(key) }
    }
  }

  /** Entries changed since the last call, with their state (undefined: removed), sorted by id. */
  takeChanged (): Array<{ requestId: Uint8Array, state: IngressStatus | undefined, key: string }> {
    const out = [...this.changed].sort().map(key => {
      const e = this.entries.get(key)
      return { key, requestId: e?.requestId ?? hexBytes(key), state: e?.state }
    })
    this.changed = new Set()
    return out
  }
}

function hexBytes (hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g) ?? [], h => Number.parseInt(h, 16))
}
