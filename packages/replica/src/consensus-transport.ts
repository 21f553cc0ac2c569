import { ARTIFACT_KINDS, MAX_CERTIFICATION_HEIGHTS, MAX_CUP_BYTES, MAX_PROPOSAL_BYTES, isArtifactKind, MAX_CATCH_UP_RESPONSE_BYTES, MAX_SMALL_ARTIFACT_BYTES, type ArtifactHandler, type ArtifactKindName, type ArtifactTransport, type CatchUpHandler } from '@icnet/consensus'
import type { ArtifactGossipService, AcceptedArtifact, PeerSubscribed } from '@icnet/artifact-gossip'
import type { Connection, Stream, StreamHandler, StreamHandlerOptions, AbortOptions } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { lpStream } from '@libp2p/utils'
import type { ConsensusArtifact } from './consensus-artifacts.js'

/** Catch-up exchange between nodes of one subnet: one request, one response per stream. */
export const CATCH_UP_PROTOCOL = '/icnet/consensus/catch-up/1.0.0'
/** A node asks one peer at a time; a few inbound allow every peer of a 13-node subnet to catch up from us at once. */
export const CATCH_UP_MAX_INBOUND_STREAMS = 4
export const CATCH_UP_MAX_OUTBOUND_STREAMS = 2
/**
 * Direct push of one artifact to one peer: the fallback when gossip cannot take
 * it (no mesh yet right after start, or a resend gossipsub's seen-cache refuses as a duplicate).
 */
export const DIRECT_PUSH_PROTOCOL = '/icnet/consensus/artifact/1.0.0'
/** One push stream per artifact; a burst of shares from one peer per round fits. */
export const DIRECT_PUSH_MAX_INBOUND_STREAMS = 32
export const DIRECT_PUSH_MAX_OUTBOUND_STREAMS = 32
/** A catch-up response is at most 16 MiB; a peer that does not answer in this time is skipped. */
export const CATCH_UP_TIMEOUT_MS = 10_000
/** Heights below the finalized tip kept in the gossip pools (a peer a few rounds behind still gets them). */
export const GOSSIP_POOL_HEIGHTS = 16

export interface ConsensusTransportInit {
  gossip: ArtifactGossipService
  registrar: {
    handle(protocol: string, handler: StreamHandler, options?: StreamHandlerOptions): Promise<void>
    unhandle(protocol: string, options?: AbortOptions): Promise<void>
  }
  /** Open connections to members of the subnet (catch-up candidates). */
  memberConnections(): Connection[]
}

/**
 * Consensus's `ArtifactTransport` over icnet artifact gossip: one gossipsub
 * topic per artifact kind in the subnet's mesh (inline or advert + fetch by
 * size), plus a request/response stream for catch-up. Gossip validates that
 * artifacts decode and come from members; consensus validates everything else.
 */
export class GossipConsensusTransport implements ArtifactTransport {
  private readonly init: ConsensusTransportInit
  private readonly log = logger('icnet:replica:consensus-transport')
  private handler?: ArtifactHandler
  private catchUpHandler?: CatchUpHandler
  private peerJoinedHandler?: (peer: string) => void
  private started = false

  constructor (init: ConsensusTransportInit) {
    this.init = init
    init.gossip.addEventListener('artifact', this.onAccepted)
    init.gossip.addEventListener('peer-subscribed', this.onPeerSubscribed)
  }

  async start (): Promise<void> {
    await this.init.registrar.handle(CATCH_UP_PROTOCOL, this.onCatchUpStream, {
      maxInboundStreams: CATCH_UP_MAX_INBOUND_STREAMS,
      maxOutboundStreams: CATCH_UP_MAX_OUTBOUND_STREAMS
    })
    await this.init.registrar.handle(DIRECT_PUSH_PROTOCOL, this.onPushStream, {
      maxInboundStreams: DIRECT_PUSH_MAX_INBOUND_STREAMS,
      maxOutboundStreams: DIRECT_PUSH_MAX_OUTBOUND_STREAMS
    })
    this.started = true
  }

  async stop (): Promise<void> {
    this.started = false
    this.init.gossip.removeEventListener('artifact', this.onAccepted)
    this.init.gossip.removeEventListener('peer-subscribed', this.onPeerSubscribed)
    await this.init.registrar.unhandle(CATCH_UP_PROTOCOL)
    await this.init.registrar.unhandle(DIRECT_PUSH_PROTOCOL)
  }

  broadcast (kind: ArtifactKindName, bytes: Uint8Array): void {
    if (!this.started) return
    this.init.gossip.publish(kind, bytes).then(({ recipients }) => {
      if (recipients === 0) this.pushToMembers(kind, bytes)
    }, (err: Error) => {
      this.log.trace('gossip refused %s (%s): pushing directly', kind, err.message)
      this.pushToMembers(kind, bytes)
    })
  }

  private pushToMembers (kind: ArtifactKindName, bytes: Uint8Array): void {
    const frame = new Uint8Array(1 + bytes.length)
    frame[0] = ARTIFACT_KINDS.indexOf(kind)
    frame.set(bytes, 1)
    for (const conn of this.init.memberConnections()) {
      if (conn.status !== 'open') continue
      void (async () => {
        const signal = AbortSignal.timeout(CATCH_UP_TIMEOUT_MS)
        const stream = await conn.newStream(DIRECT_PUSH_PROTOCOL, { signal })
        try {
          await lpStream(stream, { maxDataLength: MAX_PROPOSAL_BYTES + 1 }).write(frame, { signal })
          await stream.close({ signal })
        } catch (err: any) {
          stream.abort(err instanceof Error ? err : new Error(String(err)))
        }
      })().catch(() => {})
    }
  }

  private readonly onPushStream = async (stream: Stream, connection: Connection): Promise<void> => {
    const from = connection.remotePeer.toString()
    if (!this.init.gossip.isMember(from)) { stream.abort(new Error('not a member of this subnet')); return }
    try {
      const frame = (await lpStream(stream, { maxDataLength: MAX_PROPOSAL_BYTES + 1 }).read({ signal: AbortSignal.timeout(CATCH_UP_TIMEOUT_MS) })).subarray()
      await stream.close().catch(() => {})
      const kind = ARTIFACT_KINDS[frame[0] ?? 255]
      if (kind === undefined) return
      // Consensus validates everything it receives; bad bytes are counted and dropped there.
      this.handler?.(kind, frame.subarray(1), from)
    } catch (err: any) {
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    }
  }

  onArtifact (handler: ArtifactHandler): void { this.handler = handler }

  onCatchUpRequest (handler: CatchUpHandler): void { this.catchUpHandler = handler }

  /** A member subscribed to the consensus topics: consensus re-sends what it broadcast before (see `broadcast`'s push fallback). */
  onPeerJoined (handler: (peer: string) => void): void { this.peerJoinedHandler = handler }

  async requestCatchUp (request: Uint8Array): Promise<Uint8Array | undefined> {
    const conns = this.init.memberConnections().filter(c => c.status === 'open')
    // A random peer spreads catch-up load; one that fails is followed by the next.
    for (let i = conns.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1))
      ;[conns[i], conns[j]] = [conns[j]!, conns[i]!]
    }
    for (const conn of conns.slice(0, 3)) {
      const signal = AbortSignal.timeout(CATCH_UP_TIMEOUT_MS)
      let stream: Stream | undefined
      try {
        stream = await conn.newStream(CATCH_UP_PROTOCOL, { signal })
        const lp = lpStream(stream, { maxDataLength: MAX_CATCH_UP_RESPONSE_BYTES + MAX_CUP_BYTES })
        await lp.write(request, { signal })
        const response = (await lp.read({ signal })).subarray()
        await stream.close({ signal }).catch(() => {})
        return response
      } catch (err: any) {
        stream?.abort(err instanceof Error ? err : new Error(String(err)))
        this.log('catch-up from %p failed: %s', conn.remotePeer, err?.message)
      }
    }
    return undefined
  }

  /**
   * Frees gossip pool memory below the finalized height (consensus has what it
   * needs). Certification artifacts are kept for MAX_CERTIFICATION_HEIGHTS below
   * the executed height instead, as consensus keeps them: a node executing
   * behind its finalized height (restarted, or just state-synced) still takes
   * its peers' certifications of the heights it is executing, and its peers
   * still take its late shares (and answer them with the certification).
   */
  purgeBelow (finalizedHeight: number, executedHeight = finalizedHeight): void {
    const below = Math.max(0, finalizedHeight - GOSSIP_POOL_HEIGHTS)
    const certificationsBelow = Math.max(0, Math.min(finalizedHeight, executedHeight) - MAX_CERTIFICATION_HEIGHTS)
    for (const kind of this.init.gossip.kinds()) {
      this.init.gossip.purgeBelow(kind, kind === 'certification' || kind === 'certification-share' ? certificationsBelow : below)
    }
  }

  private readonly onAccepted = (evt: CustomEvent<AcceptedArtifact>): void => {
    const { kind, artifact, from } = evt.detail
    if (from === undefined || !isArtifactKind(kind)) return // our own publish, or not ours
    this.handler?.(kind, (artifact as ConsensusArtifact).bytes, from)
  }

  private readonly onPeerSubscribed = (evt: CustomEvent<PeerSubscribed>): void => {
    if (this.started) this.peerJoinedHandler?.(evt.detail.peer)
  }

  private readonly onCatchUpStream = async (stream: Stream, connection: Connection): Promise<void> => {
    const signal = AbortSignal.timeout(CATCH_UP_TIMEOUT_MS)
    try {
      if (!this.init.gossip.isMember(connection.remotePeer.toString()) || this.catchUpHandler == null) {
        stream.abort(new Error('not a member of this subnet'))
        return
      }
      const lp = lpStream(stream, { maxDataLength: MAX_SMALL_ARTIFACT_BYTES })
      const request = (await lp.read({ signal })).subarray()
      const response = await this.catchUpHandler(request)
      await lp.write(response, { signal })
      await stream.close({ signal })
    } catch (err: any) {
      stream.abort(err instanceof Error ? err : new Error(String(err)))
    }
  }
}
