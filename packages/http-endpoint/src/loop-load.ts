/**
 * How busy the event loop has been lately: the share of the last window it
 * spent running callbacks rather than waiting for I/O (node's event loop
 * utilisation). The endpoint signs query answers inline when the loop is
 * mostly idle (a thread-pool hop would only add latency) and off the loop
 * when it is busy (other requests are waiting to be read).
 */
import { performance, type EventLoopUtilization } from 'node:perf_hooks'

export class LoopLoad {
  readonly windowMs: number
  readonly busyAbove: number
  #previous: EventLoopUtilization = performance.eventLoopUtilization()
  #checkedAt = performance.now()
  #busy = false

  constructor (windowMs = 50, busyAbove = 0.5) {
    this.windowMs = windowMs
    this.busyAbove = busyAbove
  }

  /** True when the loop was busy more than `busyAbove` of the last window (re-measured at most once a window). */
  busy (): boolean {
    const now = performance.now()
    if (now - this.#checkedAt >= this.windowMs) {
      const current = performance.eventLoopUtilization()
      this.#busy = performance.eventLoopUtilization(current, this.#previous).utilization > this.busyAbove
      this.#previous = current
      this.#checkedAt = now
    }
    return this.#busy
  }
}
