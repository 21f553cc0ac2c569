/**
 * Coarse deadlines for request time limits (body read, handler, v3 wait).
 * A timer per request costs a timer insertion, a removal and a closure on
 * every request, though almost none ever fires; here one unref'd interval
 * sweeps the pending deadlines a few times a second. A deadline fires between
 * its time and one `resolutionMs` later, which is fine for limits of seconds.
 * The set holds only requests in flight, which admission bounds.
 */

export interface Deadline {
  /** Cancels the deadline (idempotent). */
  cancel: () => void
}

interface Entry extends Deadline {
  at: number
  onExpire: () => void
}

export class Deadlines {
  readonly resolutionMs: number
  readonly #pending = new Set<Entry>()
  readonly #now: () => number
  #timer: NodeJS.Timeout | undefined

  constructor (resolutionMs = 250, now: () => number = () => performance.now()) {
    if (!(resolutionMs > 0)) throw new RangeError('resolutionMs must be positive')
    this.resolutionMs = resolutionMs
    this.#now = now
  }

  get size (): number { return this.#pending.size }

  /** Calls `onExpire` once, about `ms` from now, unless cancelled first. */
  after (ms: number, onExpire: () => void): Deadline {
    const pending = this.#pending
    const entry: Entry = {
      at: this.#now() + ms,
      onExpire,
      cancel: () => { pending.delete(entry) }
    }
    pending.add(entry)
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => { this.#sweep() }, this.resolutionMs)
      this.#timer.unref()
    }
    return entry
  }

  /** Cancels every deadline and the timer (on stop). */
  clear (): void {
    this.#pending.clear()
    this.#stopTimer()
  }

  #sweep (): void {
    if (this.#pending.size === 0) {
      this.#stopTimer()
      return
    }
    const now = this.#now()
    for (const entry of this.#pending) {
      if (entry.at > now) continue
      this.#pending.delete(entry)
      entry.onExpire()
    }
  }

  #stopTimer (): void {
    if (this.#timer !== undefined) clearInterval(this.#timer)
    this.#timer = undefined
  }
}
