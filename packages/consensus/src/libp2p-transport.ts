import { BoundedQueue, type Metrics, type NodeId, type RegistryView, type SubnetId, noopMetrics, principalEquals, type Counter } from '@icnet/types'
import type { ComponentLogger, Connection, Logger, PeerId, Startable, Stream, StreamHandler, StreamHandlerOptions, AbortOptions } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { peerIdFromString } from '@libp2p/peer-id'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import {
  ARTIFACT_MAX_INBOUND_STREAMS, ARTIFACT_MAX_OUTBOUND_STREAMS, ARTIFACT_PROTOCOL, CATCH_UP_MAX_INBOUND_STREAMS,
  CATCH_UP_MAX_OUTBOUND_STREAMS, CATCH_UP_PROTOCOL, CATCH_UP_TIMEOUT_MS, MAX_CATCH_UP_RESPONSE_BYTES, MAX_CUP_BYTES,
  MAX_FRAME_BYTES, MAX_SMALL_ARTIFACT_BYTES, PEER_QUEUE_BYTES, PEER_QUEUE_FRAMES, REDIAL_INTERVAL_MS
} from './constants.js'
import { ArtifactFrame } from './pb/transport.js'
import { ARTIFACT_KINDS, type ArtifactHandler, type ArtifactKindName, type ArtifactTransport, type CatchUpHandler } from './transport.js'

export interface ConsensusTransportComponents {
  peerId: PeerId
  registrar: {
    handle(protocol: string, handler: StreamHandler, options?: StreamHandlerOptions): Promise<void>
    unhandle(protocol: string, options?: AbortOptions): Promise<void>
  }
  connectionManager: {
    getConnections(peerId?: PeerId): Connection[]
    openConnection(peer: PeerId | ReturnType<typeof multiaddr>, options?: AbortOptions): Promise<Connection>
  }
  logger?: ComponentLogger
}

export interface ConsensusTransportInit {
  subnetId: SubnetId
  /** The registry (or a getter for its latest version): who belongs to the subnet, and where they listen. */
  registry: RegistryView | (() => RegistryView)
  /** Dial members we are not connected to, from their registry addresses (default true). */
  dialMembers?: boolean
  metrics?: Metrics
}

/** One peer's outbound artifact stream and its bounded queue. */
class PeerChannel {
  private readonly queue = new BoundedQueue<Uint8Array>(PEER_QUEUE_FRAMES)
  private queuedBytes = 0
  private writer?: ReturnType<typeof lpStream<Stream>>
  private stream?: Stream
  private pumping = false

  constructor (
    private readonly peer: PeerId,
    private readonly components: ConsensusTransportComponents,
    private readonly dropped: Counter,
    private readonly log: Logger
  ) {}

  send (frame: Uint8Array): void {
    if (this.queuedBytes + frame.length > PEER_QUEUE_BYTES || !this.queue.push(frame)) {
      this.dropped.inc(1, { reason: 'queue-full' })
      return
    }
    this.queuedBytes += frame.length
    void this.pump()
  }

  private async pump (): Promise<void> {
    if (this.pumping) return
    this.pumping = true
    try {
      while (this.queue.length > 0) {
        const writer = await this.open()
        if (writer === undefined) {
          // Not connected: drop what is queued; consensus re-sends and catches up.
          this.dropped.inc(this.queue.length, { reason: 'not-connected' })
          this.queue.clear()
          this.queuedBytes = 0
          return
        }
        const frame = this.queue.shift()!
        this.queuedBytes -= frame.length
        try {
          await writer.write(frame)
        } catch (err) {
          this.log('artifact stream to %p failed: %e', this.peer, err)
          this.dropped.inc(1, { reason: 'stream-error' })
          this.reset()
        }
      }
    } finally {
      this.pumping = false
    }
  }

  private async open (): Promise<ReturnType<typeof lpStream<Stream>> | undefined> {
    if (this.writer != null && this.stream?.status === 'open') return this.writer
    this.reset()
    const conn = this.components.connectionManager.getConnections(this.peer).find(c => c.status === 'open')
    if (conn == null) return undefined
    // The signal only bounds the opening: a stream keeps its signal for life, and this one lives long.
    const opening = new AbortController()
    const timer = setTimeout(() => { opening.abort() }, CATCH_UP_TIMEOUT_MS)
    try {
      const stream = await conn.newStream(ARTIFACT_PROTOCOL, { signal: opening.signal })
      this.stream = stream
      this.writer = lpStream(stream, { maxDataLength: MAX_FRAME_BYTES })
      return this.writer
    } catch (err) {
      this.log('cannot open artifact stream to %p: %e', this.peer, err)
      return undefined
    } finally {
      clearTimeout(timer)
    }
  }

  reset (): void {
    this.stream?.abort(new Error('reset'))
    this.stream = undefined
    this.writer = undefined
  }
}

/**
 * Consensus artifacts pushed directly to every member of the subnet: one
 * long-lived length-prefixed stream per peer (as the IC's consensus P2P does
 * for its small subnets), plus a request/response catch-up protocol. Only
 * registry members may send or ask; anything else is refused.
 */
export class ConsensusTransport implements ArtifactTransport, Startable {
  readonly [Symbol.toStringTag] = '@icnet/consensus-transport'
  private readonly components: ConsensusTransportComponents
  private readonly init: ConsensusTransportInit
  private readonly log: Logger
  private readonly channels = new Map<NodeId, PeerChannel>()
  private artifactHandler?: ArtifactHandler
  private catchUpHandler?: CatchUpHandler
  private running = false
  private dialTimer?: ReturnType<typeof setInterval>
  private readonly received: Counter
  private readonly dropped: Counter
  private readonly refused: Counter

  constructor (components: ConsensusTransportComponents, init: ConsensusTransportInit) {
    this.components = components
    this.init = init
    this.log = components.logger?.forComponent('icnet:consensus:transport') ?? logger('icnet:consensus:transport')
    const metrics = init.metrics ?? noopMetrics
    this.received = metrics.counter({ name: 'icnet_consensus_transport_frames_received_total', help: 'Artifact frames received', labelNames: ['kind'] })
    this.dropped = metrics.counter({ name: 'icnet_consensus_transport_frames_dropped_total', help: 'Artifact frames not sent', labelNames: ['reason'] })
    this.refused = metrics.counter({ name: 'icnet_consensus_transport_refused_total', help: 'Streams or frames refused', labelNames: ['reason'] })
  }

  private registry (): RegistryView {
    return typeof this.init.registry === 'function' ? this.init.registry() : this.init.registry
  }

  /** Node ids of the other members of the subnet. */
  members (): NodeId[] {
    const me = this.components.peerId.toString()
    return (this.registry().getSubnet(this.init.subnetId)?.nodes ?? []).filter(n => n !== me)
  }

  private isMember (peer: string): boolean {
    const s = this.registry().subnetOfNode(peer)
    return s != null && principalEquals(s, this.init.subnetId)
  }

  async start (): Promise<void> {
    await this.components.registrar.handle(ARTIFACT_PROTOCOL, (stream, conn) => { void this.handleArtifacts(stream, conn) }, {
      maxInboundStreams: ARTIFACT_MAX_INBOUND_STREAMS, maxOutboundStreams: ARTIFACT_MAX_OUTBOUND_STREAMS
    })
    await this.components.registrar.handle(CATCH_UP_PROTOCOL, (stream, conn) => { void this.handleCatchUp(stream, conn) }, {
      maxInboundStreams: CATCH_UP_MAX_INBOUND_STREAMS, maxOutboundStreams: CATCH_UP_MAX_OUTBOUND_STREAMS
    })
    this.running = true
    if (this.init.dialMembers !== false) {
      this.dialTimer = setInterval(() => { void this.dialMembers() }, REDIAL_INTERVAL_MS)
      this.dialTimer.unref?.()
    }
  }

  async stop (): Promise<void> {
    this.running = false
    if (this.dialTimer != null) clearInterval(this.dialTimer)
    for (const c of this.channels.values()) c.reset()
    this.channels.clear()
    await this.components.registrar.unhandle(ARTIFACT_PROTOCOL)
    await this.components.registrar.unhandle(CATCH_UP_PROTOCOL)
  }

  broadcast (kind: ArtifactKindName, bytes: Uint8Array): void {
    if (!this.running) return
    const frame = ArtifactFrame.encode({ kind: ARTIFACT_KINDS.indexOf(kind), artifact: bytes })
    for (const id of this.members()) {
      let ch = this.channels.get(id)
      if (ch == null) {
        ch = new PeerChannel(peerIdFromString(id), this.components, this.dropped, this.log)
        this.channels.set(id, ch)
      }
      ch.send(frame)
    }
  }

  onArtifact (handler: ArtifactHandler): void { this.artifactHandler = handler }
  onCatchUpRequest (handler: CatchUpHandler): void { this.catchUpHandler = handler }

  async requestCatchUp (request: Uint8Array): Promise<Uint8Array | undefined> {
    const connected = this.members().filter(id => this.components.connectionManager.getConnections(peerIdFromString(id)).length > 0)
    // Two attempts with different random peers: one slow or lying peer does not stall catch-up.
    for (let attempt = 0; attempt < 2 && connected.length > 0; attempt++) {
      const [id] = connected.splice(Math.floor(Math.random() * connected.length), 1)
      const conn = this.components.connectionManager.getConnections(peerIdFromString(id!)).find(c => c.status === 'open')
      if (conn == null) continue
      const signal = AbortSignal.timeout(CATCH_UP_TIMEOUT_MS)
      try {
        const stream = await conn.newStream(CATCH_UP_PROTOCOL, { signal })
        const lp = lpStream(stream, { maxDataLength: MAX_CATCH_UP_RESPONSE_BYTES + MAX_CUP_BYTES })
        await lp.write(request, { signal })
        const response = await lp.read({ signal })
        await stream.close()
        return response.subarray()
      } catch (err) {
        this.log('catch-up from %s failed: %e', id, err)
      }
    }
    return undefined
  }

  private async handleArtifacts (stream: Stream, conn: Connection): Promise<void> {
    const from = conn.remotePeer.toString()
    if (!this.isMember(from)) {
      this.refused.inc(1, { reason: 'not-a-member' })
      stream.abort(new Error('not a member of this subnet'))
      return
    }
    const lp = lpStream(stream, { maxDataLength: MAX_FRAME_BYTES })
    try {
      while (this.running) {
        const frame = ArtifactFrame.decode(await lp.read())
        const kind = ARTIFACT_KINDS[frame.kind]
        if (kind === undefined) { this.refused.inc(1, { reason: 'unknown-kind' }); continue }
        this.received.inc(1, { kind })
        this.artifactHandler?.(kind, frame.artifact, from)
      }
    } catch (err: any) {
      if (err?.name !== 'UnexpectedEOFError') this.log('artifact stream from %s ended: %e', from, err)
      stream.abort(err)
    }
  }

  private async handleCatchUp (stream: Stream, conn: Connection): Promise<void> {
    const from = conn.remotePeer.toString()
    if (!this.isMember(from) || this.catchUpHandler == null) {
      this.refused.inc(1, { reason: 'not-a-member' })
      stream.abort(new Error('not a member of this subnet'))
      return
    }
    const signal = AbortSignal.timeout(CATCH_UP_TIMEOUT_MS)
    const lp = lpStream(stream, { maxDataLength: MAX_SMALL_ARTIFACT_BYTES })
    try {
      const request = await lp.read({ signal })
      const response = await this.catchUpHandler(request.subarray())
      await lp.write(response, { signal })
      await stream.close({ signal })
    } catch (err) {
      this.log('catch-up for %s failed: %e', from, err)
      stream.abort(err as Error)
    }
  }

  private async dialMembers (): Promise<void> {
    if (!this.running) return
    for (const id of this.members()) {
      const peer = peerIdFromString(id)
      if (this.components.connectionManager.getConnections(peer).length > 0) continue
      const addr = this.registry().getNode(id)?.p2pAddresses[0]
      if (addr == null) continue
      try {
        await this.components.connectionManager.openConnection(multiaddr(addr.includes('/p2p/') ? addr : `${addr}/p2p/${id}`), { signal: AbortSignal.timeout(CATCH_UP_TIMEOUT_MS) })
      } catch (err) {
        this.log('dial %s failed: %e', id, err)
      }
    }
  }
}

/** The libp2p service factory: `services: { consensusTransport: consensusTransport({ subnetId, registry }) }`. */
export function consensusTransport (init: ConsensusTransportInit): (components: ConsensusTransportComponents) => ConsensusTransport {
  return (components) => new ConsensusTransport(components, init)
}
