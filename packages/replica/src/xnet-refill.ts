import type { SubnetId } from '@icnet/types'

/**
 * How often the replica pulls from a subnet whose stream to us it knows of,
 * besides the pulls that stream adverts trigger (a lost advert costs at most this).
 */
export const XNET_REFILL_INTERVAL_MS = 200

export interface XNetRefillInit {
  /** The other subnets (from the registry, as of now). */
  sources: () => SubnetId[]
  /** Whether our state shows a stream from `source` (something inducted from it already). */
  hasStreamFrom: (source: SubnetId) => boolean
  /** Pulls from `source` into the slice pool (coalesced by xnet-stream). */
  refill: (source: SubnetId) => Promise<void>
  intervalMs?: number
}

/**
 * The replica's background pulls of XNet slices. Polling a subnet that has no
 * stream to us yet gets NO_STREAM from each of its nodes, and xnet-stream backs
 * off from a node after every failure, exponentially up to 10 s: when the
 * stream then appears, the pulls wait out that backoff (the first slices of a
 * testnet came 5-9 s after their certification). So a subnet is polled only
 * once a stream from it is known: our state inducted from it, or a pull
 * (started by its first advert, which a subnet sends only once the stream
 * exists) brought messages from it.
 */
export class XNetRefillPoller {
  private readonly init: XNetRefillInit
  private readonly known = new Set<string>()
  private timer: ReturnType<typeof setTimeout> | undefined
  private running = false

  constructor (init: XNetRefillInit) {
    this.init = init
  }

  /** A pull from `source` added messages or signals: its stream exists. */
  streamSeen (source: SubnetId): void {
    this.known.add(source.toText())
  }

  /** Whether `source` is polled. */
  polls (source: SubnetId): boolean {
    if (this.known.has(source.toText())) return true
    if (!this.init.hasStreamFrom(source)) return false
    this.known.add(source.toText())
    return true
  }

  start (): void {
    if (this.running) return
    this.running = true
    this.schedule(0)
  }

  stop (): void {
    this.running = false
    clearTimeout(this.timer)
  }

  private schedule (delayMs: number): void {
    if (!this.running) return
    this.timer = setTimeout(() => {
      const due = this.init.sources().filter(s => this.polls(s))
      void Promise.allSettled(due.map(async s => this.init.refill(s))).then(() => { this.schedule(this.init.intervalMs ?? XNET_REFILL_INTERVAL_MS) })
    }, delayMs)
  }
}
