import { principalText, type SubnetId } from '@icnet/types'

/**
 * How often the replica looks at the subnets whose stream to us it knows of,
 * to pull from those that have gone quiet (see XNET_REFILL_QUIET_MS).
 */
export const XNET_REFILL_INTERVAL_MS = 200

/**
 * A known subnet is polled only when no pull brought anything from it for this
 * long. While its adverts arrive (one per certified height) they start every
 * pull that pays, and a poll between two certified heights only fetches an
 * empty slice: at 3 x 4 that was three or four empty pulls per height per
 * source, each a stream, a slice encoded with its witness and a certification
 * checked. A lost advert now costs at most this, and usually only a round
 * (the next height's advert pulls both heights).
 */
export const XNET_REFILL_QUIET_MS = 1000

export interface XNetRefillInit {
  /** The other subnets (from the registry, as of now). */
  sources: () => SubnetId[]
  /** Whether our state shows a stream from `source` (something inducted from it already). */
  hasStreamFrom: (source: SubnetId) => boolean
  /** Pulls from `source` into the slice pool (coalesced by xnet-stream). */
  refill: (source: SubnetId) => Promise<void>
  intervalMs?: number
  quietMs?: number
  /** Milliseconds since some epoch (tests pass their own clock). */
  now?: () => number
}

/**
 * The replica's background pulls of XNet slices. Polling a subnet that has no
 * stream to us yet gets NO_STREAM from each of its nodes, and xnet-stream backs
 * off from a node after every failure, exponentially up to 10 s: when the
 * stream then appears, the pulls wait out that backoff (the first slices of a
 * testnet came 5-9 s after their certification). So a subnet is polled only
 * once a stream from it is known: our state inducted from it, or a pull
 * (started by its first advert, which a subnet sends only once the stream
 * exists) brought messages from it. A known subnet is then polled only once it
 * has gone quiet for XNET_REFILL_QUIET_MS: its adverts start the pulls.
 */
export class XNetRefillPoller {
  private readonly init: XNetRefillInit
  private readonly known = new Set<string>()
  /** When a pull last brought something from each known subnet (ms, `now()`). */
  private readonly lastDelivery = new Map<string, number>()
  private timer: ReturnType<typeof setTimeout> | undefined
  private running = false

  constructor (init: XNetRefillInit) {
    this.init = init
  }

  /** A pull from `source` added messages or signals: its stream exists. */
  streamSeen (source: SubnetId): void {
    const key = principalText(source)
    this.known.add(key)
    this.lastDelivery.set(key, this.now())
  }

  /** Whether `source` is polled now: its stream is known and nothing came from it for `quietMs`. */
  due (source: SubnetId): boolean {
    if (!this.polls(source)) return false
    const last = this.lastDelivery.get(principalText(source))
    return last === undefined || this.now() - last >= (this.init.quietMs ?? XNET_REFILL_QUIET_MS)
  }

  private now (): number {
    return this.init.now?.() ?? Date.now()
  }

  /** Whether `source` is polled at all (a stream from it is known). */
  polls (source: SubnetId): boolean {
    if (this.known.has(principalText(source))) return true
    if (!this.init.hasStreamFrom(source)) return false
    this.known.add(principalText(source))
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
      const due = this.init.sources().filter(s => this.due(s))
      void Promise.allSettled(due.map(async s => this.init.refill(s))).then(() => { this.schedule(this.init.intervalMs ?? XNET_REFILL_INTERVAL_MS) })
    }, delayMs)
  }
}
