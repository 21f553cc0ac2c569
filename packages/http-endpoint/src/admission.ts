/**
 * Per-endpoint admission: at most `maxConcurrent` requests are processed at
 * once and at most `maxQueued` wait behind them. A request beyond both is
 * refused at once (429) before its body is read: the cheapest place to shed.
 */
export type Release = () => void

export class AdmissionQueue {
  readonly maxConcurrent: number
  readonly maxQueued: number
  #active = 0
  /** Waiting runs, FIFO: a ring of slots from #head, #count long (at most maxQueued). */
  readonly #waiting: Array<((release: Release) => void) | undefined>
  #head = 0
  #count = 0

  constructor (maxConcurrent: number, maxQueued: number) {
    if (!(maxConcurrent > 0) || !(maxQueued >= 0)) throw new RangeError('maxConcurrent must be positive and maxQueued non-negative')
    this.maxConcurrent = maxConcurrent
    this.maxQueued = maxQueued
    this.#waiting = new Array(maxQueued)
  }

  get active (): number { return this.#active }
  get queued (): number { return this.#count }

  /**
   * Runs `run` with a release function now (synchronously) when a slot is
   * free, or later when one frees up; false when the queue is full and `run`
   * will never be called.
   */
  tryRun (run: (release: Release) => void): boolean {
    if (this.#active < this.maxConcurrent) {
      this.#active++
      run(this.#releaser())
      return true
    }
    if (this.#count >= this.maxQueued) return false
    this.#waiting[(this.#head + this.#count) % this.maxQueued] = run
    this.#count++
    return true
  }

  /**
   * A slot, or undefined when the queue is full. The returned promise resolves
   * to a release function once the request may run.
   */
  tryAcquire (): Promise<Release> | undefined {
    let resolve!: (release: Release) => void
    const slot = new Promise<Release>(r => { resolve = r })
    return this.tryRun(resolve) ? slot : undefined
  }

  #releaser (): Release {
    let released = false
    return () => {
      if (released) return
      released = true
      if (this.#count === 0) {
        this.#active--
        return
      }
      const next = this.#waiting[this.#head]!
      this.#waiting[this.#head] = undefined
      this.#head = (this.#head + 1) % this.maxQueued
      this.#count--
      // The slot passes on (active stays the same); in a microtask, so that a chain of quick failures does not recurse.
      const release = this.#releaser()
      queueMicrotask(() => { next(release) })
    }
  }
}
