import { LruMap, noopMetrics, type Metrics, type SubnetId } from '@icnet/types'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import { serviceCapabilities, serviceDependencies, TypedEventEmitter, type ComponentLogger, type Logger, type PeerId, type Startable, type Stream, type StreamHandler, type StreamHandlerOptions, type AbortOptions } from '@libp2p/interface'
import { logger } from '@libp2p/logger'
import { peerIdFromString } from '@libp2p/peer-id'
import {
  DEFAULT_INLINE_THRESHOLD_BYTES, FETCH_MAX_INBOUND_STREAMS, FETCH_MAX_OUTBOUND_STREAMS, FETCH_PROTOCOL, GRAYLIST_THRESHOLD
} from './constants.js'
import { encodeAdvert, encodeInlineWithId } from './envelope.js'
import { NotStartedError } from './errors.js'
import { ArtifactFetcher } from './fetcher.js'
import { serveFetch } from './fetch-protocol.js'
import { PeerBanList } from './gater.js'
import { isSubnetMember, resolveRegistry, type RegistrySource } from './membership.js'
import { createArtifactGossipMetrics, type ArtifactGossipMetrics } from './metrics.js'
import { ArtifactProcessor, type AcceptedArtifact, type KindRegistration, type ProcessorTuning } from './processor.js'
import { artifactTopic, parseArtifactTopic } from './topics.js'
import type { ArtifactKind, Verdict } from './artifact-kind.js'
import type { ArtifactPool } from './pool.js'
import type { SignatureVerifier } from './verifier.js'
import type { GossipsubMessage, PublishResult, SubscriptionChangeData, TopicValidatorFn } from '@libp2p/gossipsub'

/**
 * The part of a gossipsub router this service uses: all public API of
 * `@libp2p/gossipsub`'s GossipSub. We compose with the host's instance; we never
 * subclass it or touch its internals.
 */
export interface GossipsubRouter {
  subscribe(topic: string): void
  unsubscribe(topic: string): void
  publish(topic: string, data: Uint8Array): Promise<PublishResult>
  topicValidators: Map<string, TopicValidatorFn>
  reportMessageValidationResult(msgId: string, propagationSource: string, acceptance: TopicValidatorResult): void
  getScore(peerId: string): number
  getMeshPeers(topic: string): string[]
  getSubscribers(topic: string): PeerId[]
  addEventListener(type: 'gossipsub:message', listener: (evt: CustomEvent<GossipsubMessage>) => void): void
  addEventListener(type: 'gossipsub:heartbeat', listener: (evt: CustomEvent) => void): void
  addEventListener(type: 'subscription-change', listener: (evt: CustomEvent<SubscriptionChangeData>) => void): void
  removeEventListener(type: 'gossipsub:message', listener: (evt: CustomEvent<GossipsubMessage>) => void): void
  removeEventListener(type: 'gossipsub:heartbeat', listener: (evt: CustomEvent) => void): void
  removeEventListener(type: 'subscription-change', listener: (evt: CustomEvent<SubscriptionChangeData>) => void): void
}

/** The components this service uses; names match libp2p's components. */
export interface ArtifactGossipComponents {
  peerId: PeerId
  registrar: {
    handle(protocol: string, handler: StreamHandler, options?: StreamHandlerOptions): Promise<void>
    unhandle(protocol: string, options?: AbortOptions): Promise<void>
  }
  connectionManager: {
    openStream(peer: PeerId, protocol: string, options?: AbortOptions): Promise<Stream>
    closeConnections(peer: PeerId, options?: AbortOptions): Promise<void>
  }
  logger?: ComponentLogger
}

export interface ArtifactGossipInit extends ProcessorTuning {
  subnetId: SubnetId
  registry: RegistrySource
  /** Batch signature verifier, e.g. @icnet/crypto's BlsVerifierPool. */
  verifier: SignatureVerifier
  /** Kinds served from the start (more can be registered before start). */
  kinds?: Array<ArtifactKind<unknown> | KindRegistration<unknown>>
  /**
   * The host's gossipsub: the name of the libp2p service (default 'pubsub'), or a getter.
   * Build it with `artifactGossipsubOptions(...)` so ids, signing and scoring fit.
   */
  pubsub?: string | (() => GossipsubRouter)
  fetchTimeoutMs?: number
  /** Distinct peers tried per round of fetch attempts (default 4). */
  fetchMaxAttempts?: number
  /** Peers whose gossipsub score falls below this are disconnected and banned (default: graylist, -80). */
  disconnectThreshold?: number
  /** Shared with `subnetConnectionGater` so banned peers cannot redial. */
  bans?: PeerBanList
  metrics?: Metrics
}

export interface ArtifactGossipEvents {
  /** An artifact passed validation and entered its pool's validated section. */
  artifact: CustomEvent<AcceptedArtifact>
  /**
   * A subnet member subscribed to one of our kinds: from now on our publishes of that
   * kind reach it. What was published before did not (gossipsub keeps no history for
   * newcomers beyond a few heartbeats), so a host re-sends what the member still needs.
   */
  'peer-subscribed': CustomEvent<PeerSubscribed>
}

export interface PeerSubscribed {
  /** The member's peer id. */
  peer: string
  /** The artifact kinds it subscribed to in this message. */
  kinds: string[]
}

export interface PublishedArtifact {
  id: string
  mode: 'inline' | 'advert'
  recipients: number
}

/** A suspect whose score is back at zero or above this long after its last offence is forgotten. */
const SUSPECT_CLEAR_MS = 30_000

const ACCEPTANCE: Record<Verdict, TopicValidatorResult> = {
  accept: TopicValidatorResult.Accept,
  ignore: TopicValidatorResult.Ignore,
  reject: TopicValidatorResult.Reject
}

/**
 * Artifact gossip for one subnet, as a libp2p service: one gossipsub topic per kind,
 * inline delivery of small artifacts, advert + fetch for large ones, asynchronous batched
 * validation, and peer scoring that ends with a disconnect for repeat offenders.
 */
export class ArtifactGossipService extends TypedEventEmitter<ArtifactGossipEvents> implements Startable {
  readonly [Symbol.toStringTag] = '@icnet/artifact-gossip'
  readonly [serviceCapabilities]: string[] = ['@icnet/artifact-gossip']
  readonly [serviceDependencies]: string[] = ['@libp2p/pubsub']

  readonly subnetId: SubnetId
  readonly bans: PeerBanList
  readonly metrics: ArtifactGossipMetrics
  readonly fetcher: ArtifactFetcher
  private readonly components: ArtifactGossipComponents
  private readonly init: ArtifactGossipInit
  private readonly processor: ArtifactProcessor
  private readonly log: Logger
  private readonly poolMetrics: Metrics
  private router?: GossipsubRouter
  private running = false
  /** Peers that sent something invalid recently; their score is checked each heartbeat. */
  private readonly suspects = new LruMap<string, number>(1024)
  private readonly topicToKind = new Map<string, string>()
  /** Fetch requests served, per outcome (tests and diagnostics). */
  readonly served = { ok: 0, not_found: 0, unknown_kind: 0, bad_request: 0 }

  constructor (components: ArtifactGossipComponents, init: ArtifactGossipInit) {
    super()
    this.components = components
    this.init = init
    this.subnetId = init.subnetId
    this.bans = init.bans ?? new PeerBanList()
    this.poolMetrics = init.metrics ?? noopMetrics
    this.metrics = createArtifactGossipMetrics(this.poolMetrics)
    this.log = logger('icnet:artifact-gossip:service')
    this.fetcher = new ArtifactFetcher({
      openStream: async (peer, protocol, opts) => this.components.connectionManager.openStream(peerIdFromString(peer), protocol, opts),
      fallbackPeers: kind => this.fallbackPeers(kind),
      onBadPeer: peer => { this.punish(peer, 'served bytes that do not match the id') },
      idOf: (kind, bytes) => this.processor.idHexOf(kind, bytes),
      timeoutMs: init.fetchTimeoutMs,
      maxAttempts: init.fetchMaxAttempts,
      metrics: this.metrics
    })
    this.processor = new ArtifactProcessor({
      ...pickTuning(init),
      subnetId: init.subnetId,
      registry: () => resolveRegistry(init.registry),
      verifier: init.verifier,
      metrics: this.metrics,
      report: (msgId, from, verdict) => { this.router?.reportMessageValidationResult(msgId, from, ACCEPTANCE[verdict]) },
      fetch: async (advert, from) => this.fetcher.fetch(advert, from),
      onAccepted: accepted => { this.safeDispatch(accepted) },
      onRejected: from => { this.suspects.set(from, Date.now()); this.checkScore(from) },
      inlineThresholdBytes: init.inlineThresholdBytes ?? DEFAULT_INLINE_THRESHOLD_BYTES
    })
    for (const k of init.kinds ?? []) this.register(k)
  }

  /** Registers a kind; after start it is subscribed at once. */
  register<A> (reg: KindRegistration<A> | ArtifactKind<A>): ArtifactPool<A> {
    const r: KindRegistration<A> = 'decode' in reg ? { kind: reg } : reg
    const pool = this.processor.register(r, { metrics: this.poolMetrics })
    const topic = artifactTopic(this.subnetId, r.kind.kind)
    this.topicToKind.set(topic, r.kind.kind)
    if (this.running) this.subscribe(topic)
    return pool
  }

  pool<A = unknown> (kind: string): ArtifactPool<A> { return this.processor.pool<A>(kind) }
  topic (kind: string): string { this.processor.pool(kind); return artifactTopic(this.subnetId, kind) }
  kinds (): string[] { return this.processor.kindNames() }
  queueLength (kind: string): number { return this.processor.queueLength(kind) }
  queueLimit (kind: string): number { return this.processor.queueLimit(kind) }
  stashLength (kind: string): number { return this.processor.stashLength(kind) }
  /** Calls into signature verification per kind (each a validation the pump performed). */
  validationCount (kind: string): number { return this.processor.validationCalls.get(kind) ?? 0 }
  isRunning (): boolean { return this.running }

  async start (): Promise<void> {
    await this.components.registrar.handle(FETCH_PROTOCOL, this.onFetchStream, {
      maxInboundStreams: FETCH_MAX_INBOUND_STREAMS,
      maxOutboundStreams: FETCH_MAX_OUTBOUND_STREAMS
    })
    this.running = true
  }

  /** Subscribes once every service has started (gossipsub refuses subscriptions before). */
  afterStart (): void {
    const router = this.resolveRouter()
    this.router = router
    router.addEventListener('gossipsub:message', this.onGossip)
    router.addEventListener('gossipsub:heartbeat', this.onHeartbeat)
    router.addEventListener('subscription-change', this.onSubscriptionChange)
    for (const topic of this.topicToKind.keys()) this.subscribe(topic)
  }

  async stop (): Promise<void> {
    this.running = false
    this.processor.stop()
    const router = this.router
    if (router != null) {
      router.removeEventListener('gossipsub:message', this.onGossip)
      router.removeEventListener('gossipsub:heartbeat', this.onHeartbeat)
      router.removeEventListener('subscription-change', this.onSubscriptionChange)
      for (const topic of this.topicToKind.keys()) {
        router.topicValidators.delete(topic)
        try { router.unsubscribe(topic) } catch { /* gossipsub may already be stopped */ }
      }
    }
    this.router = undefined
    await this.components.registrar.unhandle(FETCH_PROTOCOL)
  }

  /**
   * Publishes one of our own artifacts: stored as validated, then sent inline or as an
   * advert (served from the pool) depending on its size.
   */
  async publish (kind: string, bytes: Uint8Array): Promise<PublishedArtifact> {
    const router = this.router
    if (router == null || !this.running) throw new NotStartedError('artifact gossip is not started')
    const { entry, id, idFn } = this.processor.addLocalWithId(kind, bytes)
    const large = bytes.byteLength > this.processor.inlineThresholdBytes
    const data = large
      ? encodeAdvert({ id: entry.id, kind, size: bytes.byteLength, height: entry.height })
      : encodeInlineWithId(bytes, id, idFn)
    const mode = large ? 'advert' : 'inline'
    const { recipients } = await router.publish(artifactTopic(this.subnetId, kind), data)
    this.metrics.published.inc(1, { kind, mode })
    return { id: entry.id, mode, recipients: recipients.length }
  }

  /** Purges a kind's pool below `height`; queued and stashed artifacts below it are dropped unvalidated. */
  purgeBelow (kind: string, height: number): number { return this.processor.purgeBelow(kind, height) }

  /** Re-applies priority functions to stashed artifacts. */
  reprioritize (kind?: string): void { this.processor.reprioritize(kind) }

  isMember (peerId: string): boolean {
    return isSubnetMember(resolveRegistry(this.init.registry), this.subnetId, peerId)
  }

  private resolveRouter (): GossipsubRouter {
    const src = this.init.pubsub ?? 'pubsub'
    if (typeof src === 'function') return src()
    return (this.components as unknown as Record<string, GossipsubRouter>)[src]!
  }

  private subscribe (topic: string): void {
    const router = this.router
    if (router == null) return
    router.topicValidators.set(topic, this.validateSender)
    router.subscribe(topic)
  }

  /** Synchronous gate before anything else: only subnet members may deliver on our topics. */
  private readonly validateSender: TopicValidatorFn = (peer, msg) => {
    if (this.isMember(peer.toString())) return TopicValidatorResult.Accept
    this.metrics.nonMember.inc(1, { kind: this.topicToKind.get(msg.topic) ?? 'unknown' })
    return TopicValidatorResult.Reject
  }

  private readonly onGossip = (evt: CustomEvent<GossipsubMessage>): void => {
    const { msgId, propagationSource, msg } = evt.detail
    const kind = this.topicToKind.get(msg.topic)
    if (kind == null) {
      // Another topic on the host's gossipsub: not ours to judge, unless it claims our prefix.
      const parsed = parseArtifactTopic(msg.topic)
      if (parsed != null && parsed.subnet === this.subnetId.toText()) this.router?.reportMessageValidationResult(msgId, propagationSource.toString(), TopicValidatorResult.Ignore)
      return
    }
    this.processor.receive(kind, msgId, propagationSource.toString(), msg.data)
  }

  private readonly onSubscriptionChange = (evt: CustomEvent<SubscriptionChangeData>): void => {
    const { peerId, subscriptions } = evt.detail
    const kinds = subscriptions.flatMap(sub => {
      const kind = sub.subscribe ? this.topicToKind.get(sub.topic) : undefined
      return kind === undefined ? [] : [kind]
    })
    const peer = peerId.toString()
    if (kinds.length === 0 || !this.isMember(peer)) return
    try {
      this.safeDispatchEvent('peer-subscribed', { detail: { peer, kinds } })
    } catch (err) {
      this.log.error('peer-subscribed listener threw: %s', (err as Error)?.message)
    }
  }

  private readonly onHeartbeat = (): void => {
    for (const peer of [...this.suspects.keys()]) this.checkScore(peer)
  }

  /**
   * Scores are cached by gossipsub for up to a heartbeat, so a rejection shows up in the
   * score a little later: suspects are re-checked every heartbeat until they are cleared
   * (score back above zero a while after their last offence) or disconnected.
   */
  private checkScore (peer: string): void {
    const router = this.router
    if (router == null) return
    const score = router.getScore(peer)
    if (score < (this.init.disconnectThreshold ?? GRAYLIST_THRESHOLD)) {
      this.suspects.delete(peer)
      this.punish(peer, `score ${score.toFixed(1)} below the disconnect threshold`)
    } else if (score >= 0 && Date.now() - (this.suspects.get(peer) ?? 0) > SUSPECT_CLEAR_MS) {
      this.suspects.delete(peer)
    }
  }

  private punish (peer: string, why: string): void {
    this.log('disconnecting %s: %s', peer, why)
    this.bans.ban(peer)
    this.metrics.disconnected.inc()
    this.components.connectionManager.closeConnections(peerIdFromString(peer)).catch(err => {
      this.log.error('closing connections to %s failed: %s', peer, err?.message)
    })
  }

  /**
   * Fetch candidates after the advertiser. Gossipsub drops duplicate adverts before any
   * public hook, so other advertisers are unknown; mesh peers come first (they get every
   * artifact of the topic first, and forward an advert only once they hold it), then the
   * topic's other subscribers. Each group is shuffled to spread the load.
   */
  private fallbackPeers (kind: string): string[] {
    const router = this.router
    if (router == null) return []
    const topic = artifactTopic(this.subnetId, kind)
    const usable = (p: string): boolean => this.isMember(p) && !this.bans.isBanned(p)
    const mesh = router.getMeshPeers(topic).filter(usable)
    const inMesh = new Set(mesh)
    const others = router.getSubscribers(topic).map(p => p.toString()).filter(p => !inMesh.has(p) && usable(p))
    return [...shuffle(mesh), ...shuffle(others)]
  }

  private readonly onFetchStream = async (stream: Stream, connection: { remotePeer: PeerId }): Promise<void> => {
    const peer = connection.remotePeer.toString()
    if (!this.isMember(peer) || this.bans.isBanned(peer)) {
      stream.abort(new Error('not a member of this subnet'))
      return
    }
    const outcome = await serveFetch(stream, {
      lookup: (kind, idHex) => {
        const entry = this.processor.pool(kind).get(idHex)
        return entry?.section === 'validated' ? entry.bytes : undefined
      }
    })
    this.served[outcome]++
    this.metrics.served.inc(1, { outcome })
  }

  private safeDispatch (accepted: AcceptedArtifact): void {
    try {
      this.safeDispatchEvent('artifact', { detail: accepted })
    } catch (err) {
      this.log.error('artifact listener threw: %s', (err as Error)?.message)
    }
  }
}

function shuffle<T> (xs: T[]): T[] {
  const a = [...xs]
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!]
  }
  return a
}

const TUNING_KEYS = [
  'inlineThresholdBytes', 'topicQueueLength', 'dropPolicy', 'validationBatch', 'maxConcurrentBatches',
  'stashLength', 'maxConcurrentFetches', 'fetchQueueLength', 'fetchRounds', 'fetchRetryBackoffMs'
] as const satisfies ReadonlyArray<keyof ProcessorTuning>

/** The processor's options out of the service's, so nothing else leaks into the core. */
function pickTuning (init: ProcessorTuning): ProcessorTuning {
  const out: Record<string, unknown> = {}
  for (const k of TUNING_KEYS) if (init[k] !== undefined) out[k] = init[k]
  return out as ProcessorTuning
}
