import { peerIdFromString } from '@libp2p/peer-id'
import { logger } from '@libp2p/logger'
import { lpStream, type LengthPrefixedStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { encode as lengthPrefixed } from 'it-length-prefixed'
import type { Connection, PeerId, Startable, Stream, StreamHandler, StreamHandlerOptions, AbortOptions } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { Uint8ArrayList } from 'uint8arraylist'
import {
  IcnetError,
  Principal,
  TimeoutError,

  noopMetrics,
  principalEquals,
  principalText,
  type Metrics,
  type NodeId,
  type RegistryView,
  type SubnetId
} from '@icnet/types'
import {
  CLIENT_STREAM_IDLE_MS,
  DEFAULT_POLL_INTERVAL_MS,
  SERVER_STREAM_IDLE_MS,
  ADVERT_STREAM_IDLE_MS,
  MAX_ADVERT_BYTES,
  MAX_ADVERT_STREAMS,
  MAX_CONCURRENT_SERVES,
  MAX_INBOUND_STREAMS,
  MAX_OUTBOUND_STREAMS,
  MAX_REQUEST_BYTES,
  MAX_RESPONSE_BYTES,
  POOL_SLICE_BYTE_SIZE_MAX,
  REQUEST_TIMEOUT_MS,
  XNET_ADVERT_PROTOCOL,
  XNET_STREAM_PROTOCOL
} from './constants.js'
import type { CertifiedStreamStore } from './certified-store.js'
import {
  BadBeginError,
  InvalidSliceError,
  NoPeerAvailableError,
  NoStreamError,
  SliceGapError,
  SliceTooLargeError,
  StaleSliceError,
  XNetRemoteError,
  type XNetErrorCode
} from './errors.js'
import { createXNetMetrics, type XNetMetrics } from './metrics.js'
import { SliceError, SliceRequest, SliceResponse, StreamAdvert } from './pb/xnet.js'
import { PeerSelector, type PeerOutcome } from './peer-selector.js'
import type { CertifiedSlicePool, ExpectedIndices } from './slice-pool.js'
import { decodeCertifiedSlice, sliceByteSize, sliceMessagesBegin, sliceMessagesEnd, verifyCertifiedSlice, type CertifiedStreamSlice } from './slice.js'
import { readFrame } from './frame-reader.js'
import { AdvertChannels } from './advert-channels.js'
import { sliceOfResponse, sliceResponseHead } from './slice-codec.js'
import { sharedSliceRootWorkers, type SliceRootWorkers } from './slice-root-workers.js'

/** The libp2p components the service uses (names as in libp2p's components). */
export interface XNetStreamComponents {
  peerId: PeerId
  registrar: {
    handle(protocol: string, handler: StreamHandler, options?: StreamHandlerOptions): Promise<void>
    unhandle(protocol: string, options?: AbortOptions): Promise<void>
  }
  connectionManager: {
    getConnections(peerId?: PeerId): Connection[]
    openStream(peer: PeerId | Multiaddr | Multiaddr[], protocol: string | string[], options?: AbortOptions): Promise<Stream>
  }
}

export interface XNetStreamInit {
  /** This node's subnet. */
  subnetId: SubnetId
  /** The registry as of now (a function, so the host can move to newer versions). */
  registry: RegistryView | (() => RegistryView)
  /** Serve slices from this store (a node of a subnet with streams to others). */
  store?: CertifiedStreamStore
  /** Fill this pool in the background from every other subnet (a receiving node). */
  pool?: CertifiedSlicePool
  /** Where the host is in the stream from `source`; required with `pool`. */
  expectedIndices?: (source: SubnetId) => ExpectedIndices
  /** Called after the pool got new messages or signals from `source`. */
  onSlice?: (source: SubnetId, added: number) => void
  pollIntervalMs?: number
  requestTimeoutMs?: number
  /** Largest slice asked for (default POOL_SLICE_BYTE_SIZE_MAX). */
  byteLimit?: number
  /** Most messages asked for per slice (default: no limit). */
  msgLimit?: number
  maxConcurrentServes?: number
  metrics?: Metrics
  /** Peer selection tuning (tests shorten the backoff). */
  backoffBaseMs?: number
  maliciousPenaltyMs?: number
  /** Fixed wait before asking again a node that is behind (BAD_BEGIN, or a stale authentic slice); default BEHIND_RETRY_MS. */
  behindRetryMs?: number
  /** Poll every source subnet in the background (default true when a pool is given). */
  backgroundRefill?: boolean
  /**
   * Where a pulled slice's state root is recomputed before it is handed to `accept`
   * (whose verification then checks the signature against it): worker threads, so
   * the hashing overlaps the transfer of the next slices. Default: the process's
   * shared `SliceRootWorkers`; `false`: on the event loop, inside `accept`'s verification.
   */
  rootWorkers?: SliceRootWorkers | false
}

/**
 * `/icnet/xnet/stream/1.0.0`: serves certified slices of this subnet's streams to
 * nodes of their destination subnet, and pulls slices of other subnets' streams
 * towards us into a certified slice pool.
 */
export class XNetStreamService implements Startable {
  private readonly components: XNetStreamComponents
  private readonly init: XNetStreamInit
  private readonly metrics: XNetMetrics
  private readonly log = logger('icnet:xnet-stream:service')
  private readonly selectors = new Map<string, PeerSelector>()
  private serving = 0
  private running = false
  private pollTimer: ReturnType<typeof setTimeout> | undefined
  private readonly refilling = new Map<string, Promise<void>>()
  private readonly refillAgain = new Set<string>()
  /** Per source subnet: the node whose advert asked for the next refill (it has certified the new messages). */
  private readonly advertisedBy = new Map<string, NodeId>()
  /** Per source subnet (only the registry's, as adverts come only from their nodes): the stream end its latest advert announced. */
  private readonly advertisedEnd = new Map<string, number>()
  /** Per source subnet (the registry's): the highest certification height of a slice pulled from it (verified). */
  private readonly pulledHeight = new Map<string, number>()
  /** Per source subnet, while a refill from it runs (deleted with its `refilling` entry): the highest advertised height it was started or extended for. */
  private readonly refillingFor = new Map<string, number>()
  private readonly stopController = new AbortController()
  /** Slice streams to source nodes, open and idle, ready for the next request (at most MAX_OUTBOUND_STREAMS per node). */
  private readonly idleStreams = new Map<NodeId, IdleStream[]>()
  /** The long-lived advert stream to each receiving node. */
  private readonly advertChannels = new AdvertChannels({
    open: async (node, signal) => {
      const stream = await this.openStream(node, XNET_ADVERT_PROTOCOL, signal)
      this.metrics.advertStreamsOpened.inc()
      return stream
    }
  })
  /** Per connection served, the last response write queued (see `writeInTurn`); freed with the connection. */
  private readonly writeTurns = new WeakMap<Connection, Promise<void>>()
  /** Wakes pulls waiting for a congestion window slot when a request is answered or ends. */
  private readonly slotFreed = new Wakeup()
  /** Wakes `awaitAdvertised` when a refill added to the pool (any source: each waiter checks its own). */
  private readonly poolGrew = new Wakeup()

  constructor (components: XNetStreamComponents, init: XNetStreamInit) {
    if (init.pool != null && init.expectedIndices == null) throw new RangeError('a pool needs expectedIndices')
    this.components = components
    this.init = init
    this.metrics = createXNetMetrics(init.metrics ?? noopMetrics)
  }

  readonly [Symbol.toStringTag] = '@icnet/xnet-stream'

  private get registry (): RegistryView {
    return typeof this.init.registry === 'function' ? this.init.registry() : this.init.registry
  }

  async start (): Promise<void> {
    if (this.init.store != null) {
      await this.components.registrar.handle(XNET_STREAM_PROTOCOL, (s, c) => this.serve(s, c), {
        maxInboundStreams: MAX_INBOUND_STREAMS,
        maxOutboundStreams: MAX_OUTBOUND_STREAMS
      })
    }
    if (this.init.pool != null) {
      await this.components.registrar.handle(XNET_ADVERT_PROTOCOL, (s, c) => this.onAdvert(s, c), {
        maxInboundStreams: MAX_ADVERT_STREAMS,
        maxOutboundStreams: MAX_ADVERT_STREAMS
      })
      this.running = true
      if (this.init.backgroundRefill !== false) this.schedulePoll(0)
    }
    this.running = true
  }

  async stop (): Promise<void> {
    this.running = false
    this.stopController.abort()
    await this.advertChannels.close()
    if (this.pollTimer !== undefined) clearTimeout(this.pollTimer)
    if (this.init.store != null) await this.components.registrar.unhandle(XNET_STREAM_PROTOCOL)
    if (this.init.pool != null) await this.components.registrar.unhandle(XNET_ADVERT_PROTOCOL)
    await Promise.allSettled([...this.refilling.values()])
    for (const list of this.idleStreams.values()) for (const idle of list) void idle.stream.close().catch(() => {})
    this.idleStreams.clear()
  }

  // ---------------------------------------------------------------- server

  /**
   * Serves requests on one stream, one after another, until the client closes
   * it (or leaves it idle for SERVER_STREAM_IDLE_MS). Keeping the stream saves a
   * protocol negotiation per request and keeps the muxer's flow-control window
   * grown by earlier responses, so a large slice does not crawl through a fresh
   * stream's initial window.
   */
  private async serve (stream: Stream, connection: Connection): Promise<void> {
    const lp = lpStream(stream, { maxDataLength: MAX_REQUEST_BYTES })
    for (let served = 0; ; served++) {
      let req: SliceRequest
      try {
        const frame = await lp.read({ signal: AbortSignal.timeout(served === 0 ? this.timeoutMs : SERVER_STREAM_IDLE_MS) })
        req = SliceRequest.decode(frame)
      } catch (err) {
        if (served > 0 && err instanceof Error && (err.name === 'UnexpectedEOFError' || err.name === 'TimeoutError' || err.name === 'AbortError')) {
          await stream.close().catch(() => {}) // the client is done with this stream
          return
        }
        this.log('bad request from %p: %e', connection.remotePeer, err)
        stream.abort(err instanceof Error ? err : new Error('bad request'))
        return
      }
      let response: Uint8Array | Uint8ArrayList
      try {
        response = await this.answer(req, connection)
      } catch (err) {
        this.log.error('serving a slice failed: %e', err)
        stream.abort(err instanceof Error ? err : new Error('internal'))
        return
      }
      try {
        await this.writeInTurn(connection, lp, response)
      } catch (err) {
        stream.abort(err instanceof Error ? err : new Error('write failed'))
        return
      }
    }
  }

  /**
   * Writes one response after those already written to the same connection
   * (on its other slice streams) have been handed to the muxer, so a client
   * with several requests in flight gets each slice whole, one after another,
   * and verifies one while the next arrives, instead of getting all of them
   * interleaved by the muxer and complete together at the end. The bytes and
   * their order on each stream are unchanged; the cuts are not serialised.
   */
  private async writeInTurn (connection: Connection, lp: LengthPrefixedStream<Stream>, response: Uint8Array | Uint8ArrayList): Promise<void> {
    // The timeout covers the wait for the turn too: a stalled client stream holds the others for at most that long.
    const signal = AbortSignal.timeout(this.timeoutMs)
    const previous = this.writeTurns.get(connection)
    const mine = (previous ?? Promise.resolve()).then(async () => { await lp.write(response, { signal }) })
    const settled = mine.then(() => {}, () => {})
    this.writeTurns.set(connection, settled)
    void settled.then(() => { if (this.writeTurns.get(connection) === settled) this.writeTurns.delete(connection) })
    await mine
  }

  /** The encoded `SliceResponse` to one request. */
  private async answer (req: SliceRequest, connection: Connection): Promise<Uint8Array | Uint8ArrayList> {
    const respond = (error: SliceError, outcome: string, slice?: Uint8Array): Uint8Array => {
      this.metrics.servedRequests.inc(1, { outcome })
      return SliceResponse.encode({ error, slice: (slice ?? new Uint8Array(0)) as Uint8Array<ArrayBuffer> })
    }
    let destination: SubnetId
    try {
      destination = Principal.fromUint8Array(req.stream)
    } catch {
      return respond(SliceError.BAD_REQUEST, 'bad_request')
    }
    // Only nodes of the destination subnet read its stream (IC: 403 otherwise).
    const requester = this.registry.subnetOfNode(connection.remotePeer.toString())
    if (requester == null || !principalEquals(requester, destination)) return respond(SliceError.FORBIDDEN, 'forbidden')
    if (this.serving >= (this.init.maxConcurrentServes ?? MAX_CONCURRENT_SERVES)) return respond(SliceError.BUSY, 'busy')
    this.serving++
    try {
      const limit = (v: number): number | undefined => v === 0 ? undefined : v
      const byteLimit = Math.min(req.byteLimit === 0 ? MAX_RESPONSE_BYTES : req.byteLimit, MAX_RESPONSE_BYTES)
      const res = await this.init.store!.encodeSlice(destination, {
        msgBegin: Number(req.msgBegin),
        witnessBegin: Number(req.witnessBegin),
        msgLimit: limit(req.msgLimit),
        byteLimit
      })
      if (!res.ok) return respond(res.code === 'NO_STREAM' ? SliceError.NO_STREAM : SliceError.BAD_BEGIN, res.code.toLowerCase())
      if (res.bytes.length === 0) return respond(SliceError.NONE, 'served')
      this.metrics.servedRequests.inc(1, { outcome: 'served' })
      // The store's bytes go out as they are, behind the field's key and length: the bytes
      // of SliceResponse.encode without copying megabytes into a new buffer.
      return new Uint8ArrayList(sliceResponseHead(res.bytes.length), res.bytes)
    } finally {
      this.serving--
    }
  }

  /** Tells the nodes of `destination` that our stream to them now ends at `end` (certified at `height`). */
  async advertise (destination: SubnetId, end: number, height: number): Promise<void> {
    const record = this.registry.getSubnet(destination)
    if (record == null) return
    const msg = StreamAdvert.encode({ subnet: this.init.subnetId.toUint8Array() as Uint8Array<ArrayBuffer>, end: BigInt(end), height: BigInt(height) })
    await Promise.allSettled(record.nodes.map(async node => {
      await this.advertChannels.send(node, msg, AbortSignal.timeout(this.timeoutMs))
    }))
  }

  /**
   * One advert after another on a stream the sender keeps open (AdvertChannels), until
   * the sender closes it or it stays quiet for ADVERT_STREAM_IDLE_MS. A sender that is
   * not a node of the subnet it advertises gets its stream reset.
   */
  private async onAdvert (stream: Stream, connection: Connection): Promise<void> {
    const lp = lpStream(stream, { maxDataLength: MAX_ADVERT_BYTES })
    let received = 0
    try {
      while (this.running) {
        let bytes: Uint8ArrayList
        try {
          bytes = await lp.read({ signal: AbortSignal.any([this.stopController.signal, AbortSignal.timeout(received === 0 ? this.timeoutMs : ADVERT_STREAM_IDLE_MS)]) })
        } catch (err) {
          // Closed or quiet after one advert at least: the stream has done its job.
          if (received > 0 && isEndOfAdverts(err)) { await stream.close().catch(() => {}); return }
          throw err
        }
        received++
        this.onAdvertMessage(StreamAdvert.decode(bytes), connection)
      }
      await stream.close().catch(() => {})
    } catch (err) {
      this.log('bad advert from %p: %e', connection.remotePeer, err)
      stream.abort(err instanceof Error ? err : new Error('bad advert'))
    }
  }

  private onAdvertMessage (advert: StreamAdvert, connection: Connection): void {
    const source = Principal.fromUint8Array(advert.subnet)
    // Only a node of the advertised subnet may trigger a pull from it (bounded work per advert).
    const sender = this.registry.subnetOfNode(connection.remotePeer.toString())
    if (sender == null || !principalEquals(sender, source)) throw new Error('advert for a subnet the sender is not a node of')
    this.metrics.advertsReceived.inc()
    const key = principalText(source)
    this.advertisedEnd.set(key, Math.max(this.advertisedEnd.get(key) ?? 0, Number(advert.end)))
    // Several nodes advertise each height. An advert of a height we already pulled a slice
    // certified at (or later), or of one the running refill was started for (it asks that
    // advertiser first), would only fetch the same slice again, or an empty one. The advert's
    // height is the sender's word: a false one can hold back other adverts only while the
    // pull it started runs; after it, only verified heights count.
    const height = Number(advert.height)
    if (height <= Math.max(this.pulledHeight.get(key) ?? -1, this.refillingFor.get(key) ?? -1)) {
      this.metrics.advertsCoalesced.inc()
      return
    }
    this.refillingFor.set(key, height)
    void this.refill(source, connection.remotePeer.toString())
  }

  // ---------------------------------------------------------------- client

  private get timeoutMs (): number { return this.init.requestTimeoutMs ?? REQUEST_TIMEOUT_MS }

  private get rootWorkers (): SliceRootWorkers | undefined {
    return this.init.rootWorkers === false ? undefined : (this.init.rootWorkers ?? sharedSliceRootWorkers())
  }

  private selectorFor (source: SubnetId): PeerSelector {
    const key = principalText(source)
    let sel = this.selectors.get(key)
    if (sel == null) {
      sel = new PeerSelector({ backoffBaseMs: this.init.backoffBaseMs, maliciousPenaltyMs: this.init.maliciousPenaltyMs, behindRetryMs: this.init.behindRetryMs })
      this.selectors.set(key, sel)
    }
    sel.setPeers(this.registry.getSubnet(source)?.nodes ?? [])
    return sel
  }

  /** Peer selection state for a source subnet (for monitoring and tests). */
  peerStats (source: SubnetId, node: NodeId): ReturnType<PeerSelector['stats']> {
    return this.selectorFor(source).stats(node)
  }

  private async openStream (node: NodeId, protocol: string, signal: AbortSignal): Promise<Stream> {
    const peer = peerIdFromString(node)
    const conn = this.components.connectionManager.getConnections(peer).find(c => c.status === 'open')
    if (conn != null) return conn.newStream(protocol, { signal })
    const addrs = (this.registry.getNode(node)?.p2pAddresses ?? []).map(a => {
      const ma = multiaddr(a)
      return ma.getComponents().some(c => c.name === 'p2p') ? ma : ma.encapsulate(`/p2p/${node}`)
    })
    return this.components.connectionManager.openStream(addrs.length > 0 ? addrs : peer, protocol, { signal })
  }

  /** An idle slice stream to `node`, or a new one. */
  private async acquireStream (node: NodeId, signal: AbortSignal): Promise<{ idle: IdleStream, reused: boolean }> {
    const list = this.idleStreams.get(node)
    while (list !== undefined && list.length > 0) {
      const idle = list.pop()!
      const s = idle.stream
      // Bytes that arrived while it was idle were sent unasked: not a stream to read the next response from.
      if (s.status === 'open' && s.writeStatus === 'writable' && s.readStatus === 'readable' && s.remoteWriteStatus === 'writable' &&
        s.readBufferLength === 0 && Date.now() - idle.since < CLIENT_STREAM_IDLE_MS) {
        return { idle, reused: true }
      }
      void s.close().catch(() => {})
    }
    const stream = await this.openStream(node, XNET_STREAM_PROTOCOL, signal)
    return { idle: { stream, since: 0 }, reused: false }
  }

  private releaseStream (node: NodeId, idle: IdleStream): void {
    let list = this.idleStreams.get(node)
    if (list === undefined) { list = []; this.idleStreams.set(node, list) }
    // A stream holding unread bytes would hand them to the next request as its response.
    if (!this.running || list.length >= MAX_OUTBOUND_STREAMS || idle.stream.readBufferLength > 0) { void idle.stream.close().catch(() => {}); return }
    idle.since = Date.now()
    list.push(idle)
  }

  /**
   * One request to one node: the wire bytes of the slice it answered with, as they
   * arrived (not yet decoded, nor checked against the request, nor verified). A
   * response that is not a slice is the node's error, thrown typed.
   */
  private async request (node: NodeId, query: SliceRequest, signal: AbortSignal): Promise<Uint8Array> {
    const { idle, reused } = await this.acquireStream(node, signal)
    let frame: Uint8Array
    try {
      // The request is small: queued if the stream's send buffer is full, and the response waits for it anyway.
      idle.stream.send(lengthPrefixed.single(SliceRequest.encode(query)))
      // The response streams into a buffer of its own as it arrives (see `readFrame`); that buffer then
      // moves to a root worker and back without another copy (`SliceRootWorkers.decode`, `owned`).
      frame = await readFrame(idle.stream, { maxLength: MAX_RESPONSE_BYTES + 16, signal })
    } catch (err) {
      idle.stream.abort(err instanceof Error ? err : new Error(String(err)))
      // The length prefix is checked before the body is read: an oversized answer costs us nothing.
      if (err instanceof Error && (err.name === 'InvalidDataLengthError' || err.name === 'InvalidDataLengthLengthError')) {
        throw new SliceTooLargeError(`response exceeds ${MAX_RESPONSE_BYTES} bytes`)
      }
      // A kept stream the server closed meanwhile is not the node's fault: ask again on a fresh one.
      if (reused && !signal.aborted && err instanceof Error && err.name === 'UnexpectedEOFError') return this.request(node, query, signal)
      throw err
    }
    try {
      // The usual answer, a slice, is a view of the frame's buffer, which the slice will keep.
      let slice: Uint8Array | undefined = sliceOfResponse(frame)
      if (slice === undefined) {
        const res = SliceResponse.decode(frame)
        if (res.error !== SliceError.NONE) throw remoteError(res.error)
        slice = res.slice
      }
      // The response was read whole: the stream is ready for the next request, whatever the slice turns out to be.
      this.releaseStream(node, idle)
      return slice
    } catch (err) {
      idle.stream.abort(err instanceof Error ? err : new Error(String(err)))
      throw err
    }
  }

  /**
   * The slice in a response's wire bytes, decoded (structure checked) and checked
   * against the request; not yet verified, but with its root computed on a root
   * worker when there is one (`wire` is a view of the response's own buffer, which moves
   * to the worker and back: see `SliceRootWorkers.decode`).
   */
  private async decodeResponse (wire: Uint8Array, query: SliceRequest, source: SubnetId, keepLeafDigests: boolean | undefined): Promise<CertifiedStreamSlice> {
    const workers = this.rootWorkers
    const slice = workers === undefined
      ? decodeCertifiedSlice(wire, { maxBytes: MAX_RESPONSE_BYTES })
      : await workers.decode(wire, this.registry.getSubnet(source)?.publicKey, { leafDigests: keepLeafDigests, maxBytes: MAX_RESPONSE_BYTES, owned: true })
    checkAgainstRequest(slice, query)
    return slice
  }

  /**
   * Pulls a slice of `source`'s stream to us, trying nodes by RTT with failover,
   * and hands it to `accept` (which verifies it, e.g. `pool.put`). A node whose
   * slice fails any check is penalised and the next one asked. A node that is
   * behind (answers BAD_BEGIN, or sends an authentic slice older than asked for,
   * or `accept` throws a verified `StaleSliceError`) is not blamed: the slice is
   * dropped and the node asked again after `behindRetryMs`, the others meanwhile.
   * `prefer`: ask this node first if it is ready (the sender of an advert). Resolves with
   * `accept`'s result; rejects when every node failed or none is available.
   * `keepLeafDigests`: the slice will be pooled and suffixes merged into it, so
   * the root workers also hand back each message's leaf digest (then verifying a
   * merge re-hashes only the witness, not the pooled messages).
   */
  async pull<T> (source: SubnetId, query: { msgBegin: number, witnessBegin?: number, msgLimit?: number, byteLimit?: number, keepLeafDigests?: boolean, prefer?: NodeId }, accept: (slice: CertifiedStreamSlice) => T): Promise<T> {
    const sel = this.selectorFor(source)
    const attempts = Math.max(2, sel.size * 2)
    const deadline = Date.now() + this.timeoutMs * attempts
    // Made only if no node answers: an error's stack trace costs more than a whole small slice.
    let lastError: unknown
    for (let attempt = 0; attempt < attempts && !this.stopController.signal.aborted;) {
      const node = sel.pick(attempt === 0 ? query.prefer : undefined)
      if (node === undefined) {
        // Every node is backing off or at its congestion window: wait for the first to free up.
        // Window-limited waits end when another request to the node ends (each has a timeout);
        // backoff waits count against this pull's deadline.
        const ready = sel.msUntilReady()
        if (!Number.isFinite(ready) || (ready > 0 && Date.now() + ready > deadline)) break
        // Window-limited (ready = 0): wake when a request ends, with a timeout as a safety net.
        await sleep(ready > 0 ? ready : this.timeoutMs, this.stopController.signal, this.slotFreed.promise)
        continue
      }
      attempt++
      sel.started(node)
      this.metrics.outstandingQueries.inc()
      const t0 = performance.now()
      let outcome: PeerOutcome | undefined
      let status = 'success'
      let answered = false
      try {
        const signal = AbortSignal.any([AbortSignal.timeout(this.timeoutMs), this.stopController.signal])
        const request: SliceRequest = {
          stream: this.init.subnetId.toUint8Array() as Uint8Array<ArrayBuffer>,
          msgBegin: BigInt(query.msgBegin),
          witnessBegin: BigInt(query.witnessBegin ?? query.msgBegin),
          msgLimit: query.msgLimit ?? 0,
          byteLimit: query.byteLimit ?? 0
        }
        const wire = await this.request(node, request, signal)
        // The node has answered: its window slot is free for the next request while this slice is decoded and verified.
        answered = true
        sel.answered(node)
        this.slotFreed.wake()
        const slice = await this.decodeResponse(wire, request, source, query.keepLeafDigests)
        const stale = staleness(slice, query.msgBegin)
        if (stale !== undefined) {
          // Verified first: an authentic old slice means the node is behind; anything else is a lie.
          this.verify(source, slice)
          throw new StaleSliceError(stale, { verified: true })
        }
        const result = accept(slice)
        sel.succeeded(node, performance.now() - t0, answered)
        this.metrics.sliceMessages.observe(slice.messages.length)
        this.metrics.slicePayloadSize.observe(sliceByteSize(slice))
        return result
      } catch (err) {
        lastError = err
        ;[outcome, status] = classify(err)
        this.log('pull from %s failed (%s): %s', node, status, err instanceof Error ? `${err.name}: ${err.message}` : String(err))
        if (err instanceof StaleSliceError && err.verified) {
          this.metrics.droppedSlices.inc(1, { reason: 'stale' })
        } else if (err instanceof InvalidSliceError) {
          this.metrics.invalidSlices.inc(1, { reason: err.reason })
          this.log('refused a slice from %s: %s', node, err.message)
        }
      } finally {
        this.metrics.querySliceDuration.observe((performance.now() - t0) / 1000, { status })
        this.metrics.pullAttemptCount.inc(1, { status })
        this.metrics.outstandingQueries.dec()
        if (outcome !== undefined) sel.failed(node, outcome, answered)
        this.slotFreed.wake()
      }
    }
    throw lastError ?? new NoPeerAvailableError(sel.size === 0 ? `no node of ${source.toText()} is known` : `every node of ${source.toText()} is backing off`)
  }

  /**
   * Waits, at most `maxWaitMs`, while a pull from `source` is under way and the pool
   * holds less than `source`'s latest advert announced. A block maker calls it just
   * before it builds: a slice that is certified and on its way then goes into this
   * block rather than the next one, a round later. Resolves at once when nothing
   * announced is missing or no pull is running (an advert whose pull brought less
   * than it claimed costs nothing further: the wait only covers a running pull).
   */
  async awaitAdvertised (source: SubnetId, maxWaitMs: number): Promise<boolean> {
    const key = principalText(source)
    const announced = this.advertisedEnd.get(key)
    const running = this.refilling.get(key)
    if (announced === undefined || running === undefined || maxWaitMs <= 0 || this.init.pool == null) return false
    if (this.poolEnd(source) >= announced) return false
    const deadline = Date.now() + maxWaitMs
    // The refill loop goes on after the pull that brought the slice (it pulls again while
    // pulls pay), so wake on every pull that adds to the pool, not only when the loop ends.
    for (let left = maxWaitMs; left > 0 && this.refilling.get(key) === running && this.poolEnd(source) < announced; left = deadline - Date.now()) {
      await sleep(left, this.stopController.signal, Promise.race([running, this.poolGrew.promise]))
    }
    return true
  }

  /** How far the pool and the inducted stream reach in `source`'s stream. */
  private poolEnd (source: SubnetId): number {
    const pooled = this.init.pool?.peek(source)
    return Math.max(this.init.expectedIndices!(source).message, pooled === undefined ? 0 : sliceMessagesEnd(pooled))
  }

  /** Pulls from `source` into the pool now (coalesced: one pull per source at a time). */
  refill (source: SubnetId, advertiser?: NodeId): Promise<void> {
    const key = principalText(source)
    if (advertiser !== undefined) this.advertisedBy.set(key, advertiser)
    const running = this.refilling.get(key)
    if (running != null) { this.refillAgain.add(key); return running }
    const p = this.refillLoop(source).finally(() => { this.refilling.delete(key); this.refillingFor.delete(key) })
    this.refilling.set(key, p)
    return p
  }

  private async refillLoop (source: SubnetId): Promise<void> {
    const key = principalText(source)
    const pool = this.init.pool!
    do {
      this.refillAgain.delete(key)
      const expected = this.init.expectedIndices!(source)
      pool.garbageCollect(source, expected)
      const q = pool.nextQuery(source, expected)
      if (q.bytesLeft <= 0) return
      const prefer = this.advertisedBy.get(key)
      this.advertisedBy.delete(key)
      let added = 0
      let certifiedEnd = 0
      try {
        added = await this.pull(source, { msgBegin: q.msgBegin, witnessBegin: q.witnessBegin, msgLimit: this.init.msgLimit, byteLimit: Math.min(q.bytesLeft, this.init.byteLimit ?? POOL_SLICE_BYTE_SIZE_MAX), keepLeafDigests: true, prefer },
          slice => {
            const n = pool.put(source, slice, expected) // verifies the slice, or throws
            certifiedEnd = slice.header.end
            this.pulledHeight.set(key, Math.max(this.pulledHeight.get(key) ?? -1, Number(slice.certification.height)))
            return n
          })
      } catch (err) {
        this.log('refill from %s failed: %e', key, err)
        return
      }
      if (added > 0) {
        this.poolGrew.wake()
        this.init.onSlice?.(source, added)
        // Pull on while certified or announced messages are left behind: the slice was cut
        // short (by the request's limits or the pool's room), or came from a node behind the
        // advertiser. One that reaches both ends brought everything known to exist, and a
        // later height comes with its own advert: pulling again at once would only fetch an
        // empty slice (it was one pull in two at 3 x 4).
        const known = Math.max(certifiedEnd, this.advertisedEnd.get(key) ?? 0)
        if (this.poolEnd(source) < known) this.refillAgain.add(key)
      }
    } while (this.running && this.refillAgain.has(key))
  }

  private schedulePoll (delayMs: number): void {
    if (!this.running) return
    this.pollTimer = setTimeout(() => {
      const sources = this.registry.subnetIds().filter(s => !principalEquals(s, this.init.subnetId))
      void Promise.allSettled(sources.map(s => this.refill(s))).then(() => { this.schedulePoll(this.init.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS) })
    }, delayMs)
  }

  /** Verifies a pulled slice without a pool (for hosts that induct directly). */
  verify (source: SubnetId, slice: CertifiedStreamSlice): CertifiedStreamSlice {
    verifyCertifiedSlice(slice, { ourSubnet: this.init.subnetId, sourceSubnet: source, registry: this.registry })
    return slice
  }
}

/** A promise its waiters race against, renewed each time it wakes them (wake-ups never pile up). */
class Wakeup {
  private resolveCurrent!: () => void
  promise = this.renew()
  wake (): void {
    const resolve = this.resolveCurrent
    this.promise = this.renew()
    resolve()
  }

  private renew (): Promise<void> {
    return new Promise<void>(resolve => { this.resolveCurrent = resolve })
  }
}

interface IdleStream {
  stream: Stream
  /** When it went idle (ms since epoch). */
  since: number
}

function remoteError (code: SliceError): XNetRemoteError {
  switch (code) {
    case SliceError.NO_STREAM: return new NoStreamError('the node has no stream to us')
    case SliceError.BAD_BEGIN: return new BadBeginError('msg_begin outside the stream')
    default: {
      const name = (SliceError[code] ?? 'INTERNAL') as XNetErrorCode
      return new XNetRemoteError(name, `the node answered ${name}`)
    }
  }
}

/** The checks of an answer against its request: it must be the slice asked for (a replayed or shifted one is refused) and within its limits. */
function checkAgainstRequest (slice: CertifiedStreamSlice, query: SliceRequest): void {
  const msgBegin = Number(query.msgBegin)
  if (slice.messages.length > 0 && sliceMessagesBegin(slice) > msgBegin) {
    throw new SliceGapError(`asked for messages from ${msgBegin}, got a slice from ${sliceMessagesBegin(slice)}`)
  }
  // An older slice than asked for is judged in `pull`, after it has been verified.
  if (query.msgLimit !== 0 && slice.messages.length > query.msgLimit) throw new SliceTooLargeError(`${slice.messages.length} messages, asked for ${query.msgLimit}`)
  if (query.byteLimit !== 0 && slice.messages.length > 1 && sliceByteSize(slice) > query.byteLimit) {
    throw new SliceTooLargeError(`${sliceByteSize(slice)} bytes, asked for ${query.byteLimit}`)
  }
}

/** Why `slice` is older than a request from `msgBegin` asked for, or undefined if it is not. */
function staleness (slice: CertifiedStreamSlice, msgBegin: number): string | undefined {
  if (slice.messages.length > 0 && sliceMessagesBegin(slice) < msgBegin) return `asked for messages from ${msgBegin}, got a slice from ${sliceMessagesBegin(slice)}`
  if (slice.header.end < msgBegin) return `asked for messages from ${msgBegin}, stream ends at ${slice.header.end}`
  return undefined
}

function classify (err: unknown): [PeerOutcome, string] {
  if (err instanceof StaleSliceError && err.verified) return ['behind', 'stale']
  if (err instanceof InvalidSliceError) return ['malicious', 'invalid']
  if (err instanceof XNetRemoteError) {
    if (err.remoteCode === 'BUSY') return ['busy', 'busy']
    // Its certified stream does not reach our msg_begin yet: not yet, rather than wrong.
    if (err.remoteCode === 'BAD_BEGIN') return ['behind', 'bad_begin']
    return ['error', err.remoteCode.toLowerCase()]
  }
  if (err instanceof TimeoutError || (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError'))) return ['timeout', 'timeout']
  if (err instanceof IcnetError && err.code === 'ERR_INVALID_ENCODING') return ['malicious', 'invalid']
  return ['error', 'error']
}

/**
 * Waits `ms`, or less if `signal` aborts or `wake` settles first; either way the
 * timer and the abort listener go at once (a wait woken early must not leave a
 * request timeout's worth of timer and listener behind).
 */
async function sleep (ms: number, signal: AbortSignal, wake?: Promise<void>): Promise<void> {
  if (signal.aborted) return
  await new Promise<void>(resolve => {
    let settled = false
    const t = setTimeout(done, ms)
    function done (): void {
      if (settled) return
      settled = true
      clearTimeout(t)
      signal.removeEventListener('abort', done)
      resolve()
    }
    signal.addEventListener('abort', done)
    void wake?.then(done)
  })
}

/** js-libp2p service factory: `services: { xnet: xnetStream({ subnetId, registry, store, pool, ... }) }`. */
export function xnetStream (init: XNetStreamInit): (components: XNetStreamComponents) => XNetStreamService {
  return (components) => new XNetStreamService(components, init)
}

/** How a reader sees an advert stream end: the sender closed it, it went quiet, or the node is stopping. */
function isEndOfAdverts (err: unknown): boolean {
  const name = (err as { name?: unknown } | undefined)?.name
  return name === 'UnexpectedEOFError' || name === 'AbortError' || name === 'TimeoutError'
}
