import { TimeoutError, type Metrics, noopMetrics } from '@icnet/types'
import { logger } from '@libp2p/logger'
import { artifactIdHex } from './artifact-id.js'
import { DEFAULT_FETCH_MAX_ATTEMPTS, DEFAULT_FETCH_TIMEOUT_MS, FETCH_PROTOCOL } from './constants.js'
import { FetchFailedError } from './errors.js'
import { requestArtifact } from './fetch-protocol.js'
import { createArtifactGossipMetrics, type ArtifactGossipMetrics } from './metrics.js'
import type { Advert } from './envelope.js'
import type { Stream } from '@libp2p/interface'

const log = logger('icnet:artifact-gossip:fetcher')

export interface FetcherInit {
  /** Opens a fetch-protocol stream to a peer (connected or dialable). */
  openStream(peer: string, protocol: string, options: { signal: AbortSignal }): Promise<Stream>
  /**
   * Further peers to try after the advertiser, best first (tried in this order). The
   * service gives the topic's mesh peers, shuffled, then its other subscribers, shuffled.
   */
  fallbackPeers(kind: string): string[]
  /** A peer served bytes that are not the requested artifact: an unambiguous lie. */
  onBadPeer(peer: string): void
  /** The artifact id (hex) of `bytes` for `kind` (default SHA-256); served bytes must match the advert's. */
  idOf?(kind: string, bytes: Uint8Array): string
  timeoutMs?: number
  maxAttempts?: number
  metrics?: ArtifactGossipMetrics | Metrics
}

export type FetchOutcome = 'ok' | 'not_found' | 'bad_bytes' | 'timeout' | 'error'

/**
 * Fetches advertised artifacts: once per id however many adverts arrive, from the
 * advertiser first and then from other peers, each attempt under its own timeout,
 * accepting only bytes that hash to the advertised id (and no longer than advertised).
 */
export class ArtifactFetcher {
  private readonly inFlight = new Map<string, Promise<Uint8Array>>()
  private readonly init: FetcherInit
  private readonly metrics: ArtifactGossipMetrics
  private readonly timeoutMs: number
  private readonly maxAttempts: number
  /** Fetch attempts made (all outcomes), for tests and diagnostics. */
  attempts = 0

  constructor (init: FetcherInit) {
    this.init = init
    this.timeoutMs = init.timeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS
    this.maxAttempts = init.maxAttempts ?? DEFAULT_FETCH_MAX_ATTEMPTS
    const m = init.metrics ?? noopMetrics
    this.metrics = 'received' in m ? m : createArtifactGossipMetrics(m)
  }

  get inFlightCount (): number { return this.inFlight.size }

  /** Resolves with verified bytes, or rejects with FetchFailedError when every candidate failed. */
  async fetch (advert: Advert, advertiser: string, signal?: AbortSignal): Promise<Uint8Array> {
    const existing = this.inFlight.get(advert.id)
    if (existing != null) return existing
    const p = this.run(advert, advertiser, signal).finally(() => { this.inFlight.delete(advert.id) })
    this.inFlight.set(advert.id, p)
    return p
  }

  private async run (advert: Advert, advertiser: string, signal?: AbortSignal): Promise<Uint8Array> {
    const stop = this.metrics.fetchLatency.startTimer({ kind: advert.kind })
    const tried = new Set<string>()
    const candidates = [advertiser]
    let lastError: unknown
    for (let i = 0; i < candidates.length && tried.size < this.maxAttempts; i++) {
      if (signal?.aborted === true) break
      const peer = candidates[i]!
      if (tried.has(peer)) continue
      tried.add(peer)
      const outcome = await this.attempt(peer, advert, signal)
      this.metrics.fetchAttempts.inc(1, { kind: advert.kind, outcome: outcome.outcome })
      if (outcome.outcome === 'ok') { stop(); return outcome.bytes! }
      lastError = outcome.error
      if (outcome.outcome === 'bad_bytes') this.init.onBadPeer(peer)
      // Only look for other peers once the advertiser has failed.
      if (i === candidates.length - 1) {
        for (const p of this.init.fallbackPeers(advert.kind)) if (!tried.has(p) && !candidates.includes(p)) candidates.push(p)
      }
    }
    throw new FetchFailedError(`artifact ${advert.id} could not be fetched from ${tried.size} peer(s)`, { cause: lastError })
  }

  private async attempt (peer: string, advert: Advert, outer?: AbortSignal): Promise<{ outcome: FetchOutcome, bytes?: Uint8Array, error?: unknown }> {
    this.attempts++
    const timeout = AbortSignal.timeout(this.timeoutMs)
    const signal = outer == null ? timeout : AbortSignal.any([timeout, outer])
    try {
      const stream = await this.init.openStream(peer, FETCH_PROTOCOL, { signal })
      const bytes = await requestArtifact(stream, { kind: advert.kind, idHex: advert.id, expectedSize: advert.size }, signal)
      // The hash is authoritative; a size that differs from the advert is the advertiser's lie, judged by the caller.
      const id = this.init.idOf != null ? this.init.idOf(advert.kind, bytes) : artifactIdHex(bytes)
      if (id !== advert.id) {
        log('peer %s served bytes that do not match %s', peer, advert.id)
        return { outcome: 'bad_bytes' }
      }
      return { outcome: 'ok', bytes }
    } catch (err) {
      const name = (err as Error)?.name
      log('fetch of %s from %s failed: %s', advert.id, peer, name)
      if (name === 'NotFoundError' || name === 'UnknownKindError') return { outcome: 'not_found', error: err }
      if (timeout.aborted) return { outcome: 'timeout', error: new TimeoutError(`fetch from ${peer} timed out`, { cause: err }) }
      return { outcome: 'error', error: err }
    }
  }
}
