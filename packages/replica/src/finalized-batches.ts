import type { Batch } from '@icnet/consensus'
import type { XNetPayload } from '@icnet/xnet-stream'

/** A finalized batch taken from consensus, with its XNet section decoded once (undefined if it does not decode). */
export interface FinalizedEntry {
  batch: Batch
  xnet: XNetPayload | undefined
}

/**
 * Finalized batches taken from consensus ahead of execution, oldest first,
 * bounded. Execution takes them in order; block makers read the XNet payloads
 * of the ones not executed yet, so their expected slice indices need the
 * executed state plus these, not an execution that has caught up.
 */
export class FinalizedBatches {
  private readonly entries: FinalizedEntry[] = []
  private waiters: Array<() => void> = []
  private closed = false
  readonly capacity: number

  constructor (capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError('capacity must be a positive integer')
    this.capacity = capacity
  }

  get length (): number { return this.entries.length }
  get isClosed (): boolean { return this.closed }

  /** Appends a batch once there is room; false when closed meanwhile. */
  async push (entry: FinalizedEntry): Promise<boolean> {
    while (!this.closed && this.entries.length >= this.capacity) await this.changed()
    if (this.closed) return false
    this.entries.push(entry)
    this.wake()
    return true
  }

  /** The oldest batch, waiting for one; undefined once closed. It stays queued until `done()`. */
  async first (): Promise<FinalizedEntry | undefined> {
    while (!this.closed && this.entries.length === 0) await this.changed()
    return this.closed ? undefined : this.entries[0]
  }

  /** Execution finished the oldest batch. */
  done (): void {
    this.entries.shift()
    this.wake()
  }

  /** The XNet payloads of the queued heights from `after + 1` on, as far as they run without a gap. */
  payloadsAfter (after: number): XNetPayload[] {
    const from = this.entries.findIndex(e => e.batch.height === after + 1)
    const out: XNetPayload[] = []
    if (from < 0) return out
    for (let i = from, h = after + 1; i < this.entries.length; i++, h++) {
      const e = this.entries[i]!
      if (e.batch.height !== h || e.xnet === undefined) break
      out.push(e.xnet)
    }
    return out
  }

  /** Resolves at the next push, `done()` or close. */
  async changed (): Promise<void> {
    if (this.closed) return
    await new Promise<void>(resolve => { this.waiters.push(resolve) })
  }

  close (): void {
    this.closed = true
    this.wake()
  }

  private wake (): void {
    for (const w of this.waiters.splice(0)) w()
  }
}
