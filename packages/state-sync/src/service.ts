import { logger } from '@libp2p/logger'
import { deferred } from './deferred.js'
import type { Deferred } from './deferred.js'
import { lpStream } from '@libp2p/utils'
import type { Connection, PeerId, Startable, Stream, StreamHandlerOptions, StreamHandler, AbortOptions } from '@libp2p/interface'
import { LruMap, noopMetrics, ProtocolViolationError, QueueFullError } from '@icnet/types'
import type { Metrics } from '@icnet/types'
import {
  ADVERT_TIMEOUT_MS, MAX_ADVERTISED_CHECKPOINTS, MAX_INBOUND_STREAMS, MAX_LEDGER_ENTRIES_PER_PEER, MAX_LEDGERS,
  MAX_MESSAGE_BYTES, MAX_OUTBOUND_STREAMS, MAX_PENDING_DELIVERIES, MAX_SCORED_PEERS, PROTOCOL, SERVE_READ_AHEAD
} from './constants.js'
import { blockKey, decodeMessage, encodeBlockMessage, encodeMessage, Message } from './messages.js'
import type { CheckpointInfo } from './messages.js'
import { stateSyncMetrics } from './metrics.js'
import type { StateSyncMetrics } from './metrics.js'
import { PeerSession, READ_BUFFER_BYTES } from './session.js'
import type { PeerSessionOptions } from './session.js'
import { ChunkBufferPool } from './block-buffers.js'
import type { CheckpointStore } from './store.js'
import { verifyCatchUpPackage } from './cup.js'
import type { CatchUpPackage, SubnetKeySource } from './cup.js'
import { Downloader } from './downloader.js'
import type { SyncResult } from './downloader.js'
import { NoPeersError, PeerNotAllowedError } from './errors.js'

const log = logger('icnet:state-sync:service')

/** Only what the service uses from a libp2p node (key names as in libp2p's components). */
export interface StateSyncComponents {
  registrar: {
    handle(protocol: string, handler: StreamHandler, options?: StreamHandlerOptions): Promise<void>
    unhandle(protocol: string, options?: AbortOptions): Promise<void>
  }
  connectionManager: {
    openConnection(peer: PeerId, options?: AbortOptions): Promise<Connection>
    getConnections(peerId?: PeerId): Connection[]
  }
}

export interface StateSyncInit {
  /** Where checkpoints are served from and downloads go to. */
  store: CheckpointStore
  metrics?: Metrics
  maxInboundStreams?: number
  maxOutboundStreams?: number
  /** Queued want-blocks allowed per inbound session before it counts as a violation. */
  maxLedgerEntries?: number
  /**
   * Who may fetch from this node (default: any peer the host lets connect). A
   * replicated system passes "nodes of my subnet": a checkpoint is the subnet's
   * whole state, not something to hand to any peer that can reach the node.
   */
  isAllowedPeer?: (peer: PeerId) => boolean
}

export interface SyncOptions {
  /** The catch-up package naming the checkpoint; verified before anything is fetched. */
  cup: CatchUpPackage
  /** The subnet key that signed the CUP: `{ publicKey }` or `{ registry, subnetId }`. */
  key: SubnetKeySource
  /** Peers to fetch from (default: every connected peer that advertises the checkpoint). */
  peers?: PeerId[]
  signal?: AbortSignal
  chunkTimeoutMs?: number
  maxWindow?: number
  /** Re-read and re-hash every file from disk before installing (default false: file hashes come from the chunk hashes verified on receipt). */
  reread?: boolean
  /** Called with the downloader before it starts, to subscribe to its events. */
  onDownloader?(downloader: Downloader): void
}

/** Why a peer lost standing with us. */
export type PenaltyReason = 'bad_block' | 'stalled' | 'protocol_violation' | 'dont_have'

const PENALTY: Record<PenaltyReason, number> = { bad_block: 100, protocol_violation: 100, stalled: 20, dont_have: 5 }

/** A peer at or above this score is not used for downloads (a bad block is enough). */
export const BAN_SCORE = 100

function isPeerGone (err: any): boolean {
  return ['UnexpectedEOFError', 'StreamResetError', 'StreamAbortedError', 'StreamClosedError', 'StreamStateError', 'AbortError', 'PeerGoneError', 'ConnectionClosedError'].includes(err?.name)
}

/**
 * The `/icnet/state-sync/1.0.0` service: serves blocks from a `CheckpointStore` to any peer
 * (one bounded ledger per inbound session) and opens sessions for the downloader.
 */
export class StateSyncService implements Startable {
  readonly store: CheckpointStore
  readonly metrics: StateSyncMetrics
  private readonly components: StateSyncComponents
  private readonly init: StateSyncInit
  private readonly scores = new LruMap<string, number>(MAX_SCORED_PEERS)
  private openLedgers = 0
  private started = false

  constructor (components: StateSyncComponents, init: StateSyncInit) {
    this.components = components
    this.init = init
    this.store = init.store
    this.metrics = stateSyncMetrics(init.metrics ?? noopMetrics)
  }

  readonly [Symbol.toStringTag] = '@icnet/state-sync'

  async start (): Promise<void> {
    await this.components.registrar.handle(PROTOCOL, (stream, connection) => this.serve(stream, connection), {
      maxInboundStreams: this.init.maxInboundStreams ?? MAX_INBOUND_STREAMS,
      maxOutboundStreams: this.init.maxOutboundStreams ?? MAX_OUTBOUND_STREAMS,
      runOnLimitedConnection: false
    })
    this.started = true
  }

  async stop (): Promise<void> {
    await this.components.registrar.unhandle(PROTOCOL)
    this.started = false
  }

  isStarted (): boolean { return this.started }

  /** Records misbehaviour; a peer that reaches BAN_SCORE is no longer used for downloads. */
  penalize (peer: string, reason: PenaltyReason): void {
    this.scores.set(peer, (this.scores.get(peer) ?? 0) + PENALTY[reason])
  }

  peerScore (peer: string): number { return this.scores.get(peer) ?? 0 }
  isBanned (peer: string): boolean { return this.peerScore(peer) >= BAN_SCORE }

  /** Opens a session stream to a peer for fetching blocks (`pool`: where received chunks go, see `PeerSessionOptions`). */
  async openSession (peer: PeerId, options?: AbortOptions & PeerSessionOptions): Promise<PeerSession> {
    const conn = await this.components.connectionManager.openConnection(peer, options)
    const stream = await conn.newStream(PROTOCOL, options)
    return new PeerSession(stream, peer.toString(), { pool: options?.pool })
  }

  /** Asks a peer which checkpoints it serves. */
  async queryCheckpoints (peer: PeerId, options: AbortOptions = {}): Promise<CheckpointInfo[]> {
    const signal = options.signal ?? AbortSignal.timeout(ADVERT_TIMEOUT_MS)
    const conn = await this.components.connectionManager.openConnection(peer, { signal })
    const stream = await conn.newStream(PROTOCOL, { signal })
    try {
      const lp = lpStream(stream, { maxDataLength: MAX_MESSAGE_BYTES })
      await lp.write(encodeMessage({ wantCheckpoints: true }), { signal })
      for (;;) {
        const m = decodeMessage(await lp.read({ signal }))
        if (m.hasCheckpoints) return m.checkpoints.map(c => ({ height: c.height, stateHash: c.stateHash }))
      }
    } finally {
      await stream.close().catch(err => { stream.abort(err) })
    }
  }

  /** Connected peers (dialled or dialling us) that serve the checkpoint with this state hash and are not banned. */
  async peersServing (stateHash: Uint8Array, options: AbortOptions = {}): Promise<PeerId[]> {
    const peers = new Map<string, PeerId>()
    for (const c of this.components.connectionManager.getConnections()) peers.set(c.remotePeer.toString(), c.remotePeer)
    const answers = await Promise.all([...peers.values()].map(async p => {
      if (this.isBanned(p.toString())) return undefined
      try {
        const cps = await this.queryCheckpoints(p, options)
        return cps.some(c => Buffer.compare(c.stateHash, stateHash) === 0) ? p : undefined
      } catch (err: any) {
        log('advert query to %p failed: %s', p, err.message)
        return undefined
      }
    }))
    return answers.filter((p): p is PeerId => p !== undefined)
  }

  /**
   * Verifies the CUP, then downloads and installs its checkpoint from the given (or
   * advertising) peers. Resumes an earlier partial download of the same checkpoint.
   */
  async sync (opts: SyncOptions): Promise<SyncResult> {
    verifyCatchUpPackage(opts.cup, opts.key)
    const target = { height: opts.cup.height, stateHash: opts.cup.stateHash }
    const candidates = (opts.peers ?? await this.peersServing(target.stateHash, { signal: opts.signal }))
      .filter(p => !this.isBanned(p.toString()))
    // One pool for the sessions and the downloader: chunks arrive in its buffers and go back to it once written.
    const buffers = new ChunkBufferPool(MAX_PENDING_DELIVERIES)
    const sessions = (await Promise.all(candidates.map(async p => {
      try { return await this.openSession(p, { signal: opts.signal, pool: buffers }) } catch (err: any) {
        log('cannot open a session to %p: %s', p, err.message)
        return undefined
      }
    }))).filter((s): s is PeerSession => s !== undefined)
    if (sessions.length === 0 && this.store.getManifest(target.stateHash) === undefined) {
      throw new NoPeersError('no peer serves this checkpoint')
    }
    const downloader = new Downloader({
      store: this.store,
      target,
      sources: sessions,
      signal: opts.signal,
      chunkTimeoutMs: opts.chunkTimeoutMs,
      maxWindow: opts.maxWindow,
      reread: opts.reread,
      buffers,
      metrics: this.metrics,
      onBadBlock: (peer) => { this.penalize(peer, 'bad_block') }
    })
    downloader.on('evicted', (e) => {
      const { peer, reason } = e.detail
      if (reason === 'stalled') this.penalize(peer, 'stalled')
    })
    opts.onDownloader?.(downloader)
    try {
      return await downloader.run()
    } finally {
      for (const s of sessions) s.close()
    }
  }

  /** Serves one inbound session: a ledger of want-blocks answered in order, bounded per peer. */
  private async serve (stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer.toString()
    if (this.init.isAllowedPeer !== undefined && !this.init.isAllowedPeer(connection.remotePeer)) {
      this.metrics.violations.inc(1, { reason: 'not_allowed' })
      stream.abort(new PeerNotAllowedError(`${peer} may not fetch state from this node`))
      return
    }
    if (this.openLedgers >= MAX_LEDGERS) {
      this.metrics.violations.inc(1, { reason: 'too_many_sessions' })
      stream.abort(new QueueFullError('too many state sync sessions'))
      return
    }
    this.openLedgers++
    this.metrics.ledgers.set(this.openLedgers)
    const maxEntries = this.init.maxLedgerEntries ?? MAX_LEDGER_ENTRIES_PER_PEER
    const lp = lpStream(stream, { maxDataLength: MAX_MESSAGE_BYTES, maxBufferSize: READ_BUFFER_BYTES })
    const ledger = new Map<string, Message.WantEntry>()
    let wake: Deferred<void> | undefined
    let done = false

    // Reads run up to SERVE_READ_AHEAD blocks ahead of the socket, so the disk and the
    // network overlap; replies still go out in the order the wants arrived.
    const reads: Array<{ w: Message.WantEntry, data: Promise<Uint8Array | undefined> }> = []
    const sender = async (): Promise<void> => {
      while (!done) {
        while (reads.length < SERVE_READ_AHEAD) {
          const next = ledger.entries().next()
          if (next.done === true) break
          const [key, w] = next.value
          ledger.delete(key)
          reads.push({ w, data: this.store.readBlock(w.kind, w.hash).catch(() => undefined) })
        }
        const read = reads.shift()
        if (read === undefined) {
          wake = deferred<void>()
          await wake.promise
          continue
        }
        const { w } = read
        const data = await read.data
        if (done) return
        if (data === undefined) {
          this.metrics.served.inc(1, { kind: w.kind, outcome: 'dont_have' })
          await lp.write(encodeMessage({ presences: [{ hash: w.hash, kind: w.kind, type: Message.PresenceType.DONT_HAVE }] }))
        } else {
          this.metrics.served.inc(1, { kind: w.kind, outcome: 'block' })
          this.metrics.servedBytes.inc(data.length)
          await lp.write(encodeBlockMessage(w.kind, w.hash, data))
        }
      }
    }
    const sending = sender().catch(err => {
      if (!isPeerGone(err)) log.error('serving %s failed: %s', peer, err.message)
      done = true
    })

    try {
      while (!done) {
        const m = decodeMessage(await lp.read())
        if (m.wantCheckpoints) {
          const checkpoints = this.store.list().slice(0, MAX_ADVERTISED_CHECKPOINTS)
          await lp.write(encodeMessage({ hasCheckpoints: true, checkpoints }))
        }
        const presences: Message.Presence[] = []
        for (const w of m.wantlist) {
          const key = blockKey(w.kind, w.hash)
          if (w.type === Message.WantType.CANCEL) {
            ledger.delete(key)
          } else if (w.type === Message.WantType.WANT_HAVE) {
            const has = w.kind === Message.BlockKind.CHUNK ? this.store.hasChunk(w.hash) : (await this.store.readBlock(w.kind, w.hash)) !== undefined
            presences.push({ hash: w.hash, kind: w.kind, type: has ? Message.PresenceType.HAVE : Message.PresenceType.DONT_HAVE })
          } else {
            if (!ledger.has(key) && ledger.size >= maxEntries) throw new ProtocolViolationError(`more than ${maxEntries} queued wants`)
            ledger.set(key, w)
          }
        }
        if (presences.length > 0) await lp.write(encodeMessage({ presences }))
        wake?.resolve()
      }
    } catch (err: any) {
      if (!isPeerGone(err)) {
        const reason = err instanceof ProtocolViolationError ? 'ledger_full' : 'bad_frame'
        this.metrics.violations.inc(1, { reason })
        this.penalize(peer, 'protocol_violation')
        log('session from %s violated the protocol: %s', peer, err.message)
        stream.abort(err)
      }
    } finally {
      done = true
      wake?.resolve()
      await sending
      this.openLedgers--
      this.metrics.ledgers.set(this.openLedgers)
      if (stream.status === 'open') await stream.close().catch(err => { stream.abort(err) })
    }
  }
}

/** The libp2p service factory: `services: { stateSync: stateSync({ store }) }`. */
export function stateSync (init: StateSyncInit): (components: StateSyncComponents) => StateSyncService {
  return (components) => new StateSyncService(components, init)
}
