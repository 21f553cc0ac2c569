/**
 * Per-endpoint admission: at most `maxConcurrent` requests are processed at
 * once and at most `maxQueued` wait behind them. A request beyond both is
 * refused at once (429) before its body is read: the cheapest place to shed.
 */
export class AdmissionQueue {
  readonly maxConcurrent: number
  readonly maxQueued: number
  #active = 0
  readonly #waiting: Array<() => void> = []
  #head = 0

  constructor (maxConcurrent: number, maxQueued: number) {
    if (!(maxConcurrent > 0) || !(maxQueued >= 0)) throw new RangeError('maxConcurrent must be positive and maxQueued non-negative')
    this.maxConcurrent = maxConcurrent
    this.maxQueued = maxQueued
  }

  get active (): number { return this.#active }
  get queued (): number { return this.#waiting.length - this.#head }

  /**
   * A slot, or undefined when the queue is full. The returned promise resolves
   * to a release function once the request may run.
   */
  tryAcquire (): Promise<() => void> | undefined {
    if (this.#active < this.maxConcurrent) {
      this.#active++
      return Promise.resolve(this.#releaser())
    }
    if (this.queued >= this.maxQueued) return undefined
    return new Promise(resolve => {
      this.#waiting.push(() => { resolve(this.#releaser()) })
    })
  }

  #releaser (): () => void {
    let released = false
    return () => {
      if (released) return
      released = true
      const next = this.#head < this.#waiting.length ? this.#waiting[this.#head] : undefined
      if (next !== undefined) {
        this.#waiting[this.#head++] = undefined as unknown as () => void
        if (this.#head > 1024 && this.#head * 2 > this.#waiting.length) {
          this.#waiting.splice(0, this.#head)
          this.#head = 0
        }
        next() // the slot passes on: active stays the same
      } else {
        this.#active--
      }
    }
  }
}
