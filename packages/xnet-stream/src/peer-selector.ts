import type { NodeId } from '@icnet/types'
import {
  BACKOFF_BASE_MS,
  BACKOFF_MAX_MS,
  BEHIND_RETRY_MS,
  CWND_INITIAL,
  CWND_MAX,
  MALICIOUS_PENALTY_MS,
  RTT_EQUAL_FACTOR,
  RTT_EWMA_ALPHA
} from './constants.js'

/**
 * How a request to a peer ended, as far as choosing peers is concerned. `behind`:
 * the peer is honest but has not certified what we need yet (BAD_BEGIN, or an
 * authentic slice older than ours), so it is not a failure.
 */
export type PeerOutcome = 'timeout' | 'error' | 'busy' | 'malicious' | 'behind'

export interface PeerSelectorInit {
  backoffBaseMs?: number
  backoffMaxMs?: number
  maliciousPenaltyMs?: number
  /** Fixed wait before asking a peer that is behind again (default BEHIND_RETRY_MS). */
  behindRetryMs?: number
  cwndMax?: number
  /** Clock, for tests. */
  now?: () => number
}

interface PeerState {
  /** Smoothed RTT in ms; undefined until the first reply (such peers are tried first). */
  rttMs: number | undefined
  inFlight: number
  /** Congestion window: requests allowed in flight. Fractional, floor() is the limit. */
  cwnd: number
  consecutiveFailures: number
  /** Not chosen again before this time. */
  notBefore: number
}

/**
 * Chooses which node of a source subnet to ask next: the lowest measured RTT
 * (EWMA), round-robin among nodes within RTT_EQUAL_FACTOR of the best, never a
 * node backing off after failures (exponential backoff) or one whose congestion
 * window is full. Windows grow by one per success and halve on timeout or loss,
 * like TCP's AIMD. A node that sent an invalid slice sits out a long penalty.
 */
export class PeerSelector {
  private readonly peers = new Map<NodeId, PeerState>()
  private rr = 0
  private readonly backoffBaseMs: number
  private readonly backoffMaxMs: number
  private readonly maliciousPenaltyMs: number
  private readonly behindRetryMs: number
  private readonly cwndMax: number
  private readonly now: () => number

  constructor (init: PeerSelectorInit = {}) {
    this.backoffBaseMs = init.backoffBaseMs ?? BACKOFF_BASE_MS
    this.backoffMaxMs = init.backoffMaxMs ?? BACKOFF_MAX_MS
    this.maliciousPenaltyMs = init.maliciousPenaltyMs ?? MALICIOUS_PENALTY_MS
    this.behindRetryMs = init.behindRetryMs ?? BEHIND_RETRY_MS
    this.cwndMax = init.cwndMax ?? CWND_MAX
    this.now = init.now ?? Date.now
  }

  /** Makes the candidate set exactly `ids` (the source subnet's nodes per registry), keeping known state. */
  setPeers (ids: readonly NodeId[]): void {
    const keep = new Set(ids)
    for (const id of this.peers.keys()) if (!keep.has(id)) this.peers.delete(id)
    for (const id of ids) {
      if (!this.peers.has(id)) this.peers.set(id, { rttMs: undefined, inFlight: 0, cwnd: CWND_INITIAL, consecutiveFailures: 0, notBefore: 0 })
    }
  }

  get size (): number { return this.peers.size }

  /**
   * The next peer to ask, or undefined if every peer is backing off or at its window.
   * `preferred` (e.g. the node that advertised new messages) is chosen if it is ready.
   */
  pick (preferred?: NodeId): NodeId | undefined {
    const now = this.now()
    const p = preferred === undefined ? undefined : this.peers.get(preferred)
    if (p !== undefined && p.notBefore <= now && p.inFlight < Math.floor(p.cwnd)) return preferred
    const ready: Array<[NodeId, PeerState]> = []
    for (const e of this.peers) {
      const s = e[1]
      if (s.notBefore <= now && s.inFlight < Math.floor(s.cwnd)) ready.push(e)
    }
    if (ready.length === 0) return undefined
    // Unmeasured peers first (their RTT is unknown, so measure it), then the fastest tier.
    const unmeasured = ready.filter(([, s]) => s.rttMs === undefined)
    let tier: Array<[NodeId, PeerState]>
    if (unmeasured.length > 0) {
      tier = unmeasured
    } else {
      const best = Math.min(...ready.map(([, s]) => s.rttMs!))
      tier = ready.filter(([, s]) => s.rttMs! <= best * RTT_EQUAL_FACTOR + 0.05)
    }
    const chosen = tier[this.rr++ % tier.length]!
    return chosen[0]
  }

  /** When no peer is ready: ms until the earliest backoff ends (0 if one is only window-limited). */
  msUntilReady (): number {
    const now = this.now()
    let min = Number.POSITIVE_INFINITY
    for (const s of this.peers.values()) {
      // Not backing off: ready now, or as soon as one of its requests in flight ends.
      if (s.notBefore <= now) return 0
      min = Math.min(min, s.notBefore - now)
    }
    return min
  }

  started (id: NodeId): void {
    const s = this.peers.get(id)
    if (s != null) s.inFlight++
  }

  /**
   * The response to a request is in: the request leaves the peer's window now,
   * while its slice is still being verified, so the next request can go out
   * meanwhile. `succeeded` or `failed` then scores it, with `answered` set.
   */
  answered (id: NodeId): void {
    const s = this.peers.get(id)
    if (s != null) s.inFlight = Math.max(0, s.inFlight - 1)
  }

  /** A request ended well. `answered`: `answered(id)` already took it out of the window. */
  succeeded (id: NodeId, rttMs: number, answered = false): void {
    const s = this.peers.get(id)
    if (s == null) return
    if (!answered) s.inFlight = Math.max(0, s.inFlight - 1)
    s.rttMs = s.rttMs === undefined ? rttMs : s.rttMs + RTT_EWMA_ALPHA * (rttMs - s.rttMs)
    s.consecutiveFailures = 0
    s.notBefore = 0
    s.cwnd = Math.min(this.cwndMax, s.cwnd + 1)
  }

  /** A request failed (`outcome`). `answered`: `answered(id)` already took it out of the window. */
  failed (id: NodeId, outcome: PeerOutcome, answered = false): void {
    const s = this.peers.get(id)
    if (s == null) return
    if (!answered) s.inFlight = Math.max(0, s.inFlight - 1)
    const now = this.now()
    if (outcome === 'behind') {
      // Not a failure: its RTT, window and failure count stay; ask the others first.
      s.notBefore = Math.max(s.notBefore, now + this.behindRetryMs)
      return
    }
    s.consecutiveFailures++
    if (outcome === 'malicious') {
      s.cwnd = CWND_INITIAL
      s.notBefore = now + this.maliciousPenaltyMs
      return
    }
    s.cwnd = Math.max(CWND_INITIAL, s.cwnd / 2)
    const backoff = Math.min(this.backoffMaxMs, this.backoffBaseMs * 2 ** (s.consecutiveFailures - 1))
    s.notBefore = now + backoff
  }

  /** A request ended without telling us anything about the peer (e.g. cancelled on stop). */
  released (id: NodeId): void {
    const s = this.peers.get(id)
    if (s != null) s.inFlight = Math.max(0, s.inFlight - 1)
  }

  /** For metrics and tests. */
  stats (id: NodeId): Readonly<PeerState> | undefined {
    const s = this.peers.get(id)
    return s == null ? undefined : { ...s }
  }

  get inFlight (): number {
    let n = 0
    for (const s of this.peers.values()) n += s.inFlight
    return n
  }
}
