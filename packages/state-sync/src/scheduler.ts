import { logger } from '@libp2p/logger'
import { deferred } from './deferred.js'
import { IcnetError } from '@icnet/types'
import {
  DEFAULT_CHUNK_TIMEOUT_MS, INITIAL_WINDOW, MAX_ATTEMPTS_PER_CHUNK, MAX_CONSECUTIVE_TIMEOUTS, MAX_WINDOW, MIN_WINDOW, REFILL_DIVISOR
} from './constants.js'
import { NoPeersError, SyncAbortedError } from './errors.js'
import { blockKey } from './messages.js'
import type { BlockData, BlockKind } from './messages.js'
import type { BlockSource } from './session.js'

const log = logger('icnet:state-sync:scheduler')

export type EvictionReason = 'bad_block' | 'stalled' | 'gone' | 'dont_have'

/** One block to fetch: accepted only when `verify` says its bytes are right. */
export interface FetchTask {
  kind: BlockKind
  hash: Uint8Array
  /** Checks the bytes against what the manifest (or state hash) says (may hash off the event loop). */
  verify(bytes: BlockData): boolean | Promise<boolean>
  /** Stores verified bytes; the task is done when this resolves. */
  deliver(bytes: BlockData, peer: string): Promise<void>
}

interface QueuedTask extends FetchTask {
  key: string
  attempts: number
  tried: Set<string>
}

/** Per-peer state: an AIMD window of requests in flight, so fast peers carry more. */
export class PeerState {
  window = INITIAL_WINDOW
  threshold: number
  inFlight = 0
  consecutiveTimeouts = 0
  blocks = 0
  bytes = 0
  evicted?: EvictionReason
  readonly dontHave = new Set<string>()

  constructor (readonly source: BlockSource, readonly maxWindow: number) {
    this.threshold = Math.max(INITIAL_WINDOW, maxWindow / 2)
  }

  get slots (): number { return Math.floor(this.window) - this.inFlight }

  /** Free slots worth filling now: any when idle, else a batch of window / REFILL_DIVISOR (see there). */
  get refillable (): boolean {
    return this.inFlight === 0 ? this.slots > 0 : this.slots >= Math.max(1, Math.floor(this.window / REFILL_DIVISOR))
  }

  /** Additive increase: +1 per success below the threshold (slow start), then +1 per window's worth. */
  onSuccess (): void {
    this.consecutiveTimeouts = 0
    this.window = Math.min(this.maxWindow, this.window + (this.window < this.threshold ? 1 : 1 / this.window))
  }

  /** Multiplicative decrease on a timeout. */
  onTimeout (): void {
    this.consecutiveTimeouts++
    this.window = Math.max(MIN_WINDOW, this.window / 2)
    this.threshold = Math.max(MIN_WINDOW, this.window)
  }
}

export interface SchedulerOptions {
  chunkTimeoutMs?: number
  maxWindow?: number
  /** Writes allowed to run behind the network before new requests wait. */
  maxPendingDeliveries?: number
  signal?: AbortSignal
  onEvict?(peer: string, reason: EvictionReason): void
  onBadBlock?(peer: string): void
}

class TimeoutMarker extends Error {}

/**
 * Fetches blocks from every peer in parallel. Each peer gets up to `window` requests;
 * a verified block grows its window, a timeout halves it, a wrong block or a vanished
 * peer evicts it, and every failed request is retried on another peer.
 */
export class FetchScheduler {
  readonly peers: PeerState[]
  private queue: QueuedTask[] = []
  private outstanding = 0
  private deliveries = 0
  private readonly timeoutMs: number
  private readonly maxPendingDeliveries: number
  private waiter?: { resolve(): void, reject(err: Error): void }
  /** Requests in flight (at most the sum of the peers' windows), aborted together when the sync is. */
  private readonly requests = new Set<AbortController>()
  private failure?: Error

  constructor (sources: BlockSource[], private readonly opts: SchedulerOptions = {}) {
    const maxWindow = opts.maxWindow ?? MAX_WINDOW
    this.peers = sources.map(s => new PeerState(s, maxWindow))
    this.timeoutMs = opts.chunkTimeoutMs ?? DEFAULT_CHUNK_TIMEOUT_MS
    this.maxPendingDeliveries = opts.maxPendingDeliveries ?? 64
    // One listener for the whole sync (not one per request): it fails the sync and aborts every request in flight.
    opts.signal?.addEventListener('abort', () => {
      this.fail(new SyncAbortedError())
      for (const c of this.requests) c.abort(new SyncAbortedError())
    }, { once: true })
  }

  get livePeers (): PeerState[] { return this.peers.filter(p => p.evicted === undefined) }

  /** Fetches every task; resolves when all are delivered, rejects when no peer can finish them. */
  async fetchAll (tasks: FetchTask[]): Promise<void> {
    if (this.failure !== undefined) throw this.failure
    if (tasks.length === 0) return
    for (const t of tasks) this.queue.push({ ...t, key: blockKey(t.kind, t.hash), attempts: 0, tried: new Set() })
    this.outstanding += tasks.length
    const { promise, resolve, reject } = deferred<void>()
    this.waiter = { resolve, reject }
    this.pump()
    return await promise
  }

  evict (peer: PeerState, reason: EvictionReason): void {
    if (peer.evicted !== undefined) return
    peer.evicted = reason
    log('evicting %s: %s', peer.source.peer, reason)
    this.opts.onEvict?.(peer.source.peer, reason)
    peer.source.close()
  }

  private fail (err: Error): void {
    if (this.failure !== undefined) return
    this.failure = err
    this.waiter?.reject(err)
    this.waiter = undefined
  }

  private pump (): void {
    if (this.failure !== undefined) return
    if (this.outstanding === 0) { this.waiter?.resolve(); this.waiter = undefined; return }
    // Which peers take work in this pump is decided once, before any is handed out: an idle
    // peer, or a busy one with a batch of free slots (see `refillable`), so its wants leave
    // together in one frame. Among those, work goes one request at a time to the peer with
    // the most free slots: a fast peer (large window) takes a larger share, and a small sync
    // (a few chunks) is still spread over every peer instead of filling the first one.
    const candidates = this.livePeers.filter(p => p.refillable)
    while (this.queue.length > 0 && this.deliveries < this.maxPendingDeliveries) {
      let best: PeerState | undefined
      for (const p of candidates) if (p.slots > 0 && (best === undefined || p.slots > best.slots)) best = p
      if (best === undefined) break
      const idx = this.pickFor(best)
      if (idx < 0) { candidates.splice(candidates.indexOf(best), 1); continue }
      const [task] = this.queue.splice(idx, 1)
      this.dispatch(best, task!)
    }
    const inFlight = this.peers.reduce((n, p) => n + p.inFlight, 0)
    if (inFlight === 0 && this.deliveries === 0 && this.queue.length > 0) {
      const stuck = this.queue[0]!
      const who = this.livePeers.length === 0 ? 'no peers left' : 'no live peer has it'
      this.fail(new NoPeersError(`cannot fetch ${stuck.kind} ${Buffer.from(stuck.hash).toString('hex').slice(0, 16)}: ${who}`))
    }
  }

  /** The first queued task this peer has not refused, preferring ones it has not failed before. */
  private pickFor (peer: PeerState): number {
    let fallback = -1
    const id = peer.source.peer
    const scan = Math.min(this.queue.length, 256)
    for (let i = 0; i < scan; i++) {
      const t = this.queue[i]!
      if (peer.dontHave.has(t.key)) continue
      if (!t.tried.has(id)) return i
      if (fallback < 0) fallback = i
    }
    return fallback
  }

  private dispatch (peer: PeerState, task: QueuedTask): void {
    peer.inFlight++
    task.attempts++
    task.tried.add(peer.source.peer)
    const ctrl = new AbortController()
    const timer = setTimeout(() => { ctrl.abort(new TimeoutMarker('chunk timeout')) }, this.timeoutMs)
    this.requests.add(ctrl)
    peer.source.fetch(task.kind, task.hash, ctrl.signal).then(data => {
      if (data === null) {
        peer.dontHave.add(task.key)
        this.requeue(task)
        return
      }
      // Verification and delivery both count as pending deliveries: together they hold the
      // block's bytes, which is what maxPendingDeliveries bounds.
      this.deliveries++
      const size = data.byteLength
      const accepted = async (ok: boolean): Promise<void> => {
        if (this.failure !== undefined) return
        if (!ok) {
          this.opts.onBadBlock?.(peer.source.peer)
          this.evict(peer, 'bad_block')
          this.requeue(task)
          return
        }
        peer.onSuccess()
        peer.blocks++
        peer.bytes += size
        await task.deliver(data, peer.source.peer)
        this.outstanding--
      }
      const verdict = task.verify(data)
      const settled = typeof verdict === 'boolean' ? accepted(verdict) : verdict.then(accepted)
      settled.catch((err: Error) => {
        this.fail(err instanceof IcnetError ? err : new IcnetError(`writing a block failed: ${err.message}`, 'ERR_WRITE', { cause: err }))
      }).finally(() => {
        this.deliveries--
        this.pump()
      })
    }, (err: Error) => {
      if (this.failure !== undefined) return
      if (ctrl.signal.reason instanceof TimeoutMarker) {
        peer.onTimeout()
        if (peer.consecutiveTimeouts >= MAX_CONSECUTIVE_TIMEOUTS) this.evict(peer, 'stalled')
      } else {
        log('fetch from %s failed: %s', peer.source.peer, err.message)
        this.evict(peer, 'gone')
      }
      this.requeue(task)
    }).finally(() => {
      clearTimeout(timer)
      this.requests.delete(ctrl)
      peer.inFlight--
      this.pump()
    })
  }

  private requeue (task: QueuedTask): void {
    if (task.attempts >= MAX_ATTEMPTS_PER_CHUNK) {
      this.fail(new NoPeersError(`gave up on ${task.kind} after ${task.attempts} attempts`))
      return
    }
    // Retries go first: they are the oldest work and hold back completion.
    this.queue.unshift(task)
  }
}
