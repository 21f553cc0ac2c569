import '@icnet/types/polyfill'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { noise } from '@chainsafe/libp2p-noise'
import {
  PeerBanList, artifactGossip, artifactGossipsubOptions, subnetConnectionGater, type ArtifactGossipService
} from '@icnet/artifact-gossip'
import {
  ARTIFACT_KINDS, Consensus, InvalidSubmissionError, LmdbConsensusStore, committeeFromRegistry, paramsFromRegistry, signerFromConfig,
  type ConsensusParams
} from '@icnet/consensus'
import { FileRegistryStore, RegistryWatcher, type Registry } from '@icnet/registry'
import { WasmSandbox } from '@icnet/execution'
import { loadTestCanister } from '@icnet/execution/canisters'
import { MessageRouting, limitsFromSubnetParams, type IngressMessage } from '@icnet/message-routing'
import { stateSync, type StateSyncService } from '@icnet/state-sync'
import { InvalidIdError, Principal, fromHex, principalEquals, toHex, type SubnetId } from '@icnet/types'
import { CertifiedSlicePool, XNetPayloadBuilder, createXNetMetrics, expectedIndices, xnetStream, type XNetStreamService } from '@icnet/xnet-stream'
import { privateKeyFromProtobuf } from '@libp2p/crypto/keys'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p, type Libp2p } from 'libp2p'
import type { ReplicaConfig } from './config.js'
import { consensusArtifactKinds, refuseAllVerifier } from './consensus-artifacts.js'
import { GossipConsensusTransport } from './consensus-transport.js'
import { ConfigError, StateGapError } from './errors.js'
import { FaultInjector } from './faults/injector.js'
import { readGenesisCanisters, type GenesisCanisters } from './genesis-canisters.js'
import { ReplicaHttpServer, type Health, type IngressSubmission } from './http.js'
import { PublicApi } from './http/index.js'
import { INGRESS_SECTION, IngressPool, batchIngress, ingressPayloadSection, ingressRequestId } from './ingress.js'
import { LoadMonitor, type LoadReport } from './load-monitor.js'
import { createLog, type StructuredLog } from './log.js'
import { PromMetrics } from './prom-metrics.js'
import { LiveCheckpointStore, syncCheckpoint } from './state-catch-up.js'
import { ReplayFromCheckpointStore } from './replay-store.js'
import { FinalizedBatches, type FinalizedEntry } from './finalized-batches.js'
import { XNET_SECTION, batchSlices, decodeXNetPayload, xnetPayloadSection, type XNetStateView } from './xnet-payload.js'
import { XNetRefillPoller } from './xnet-refill.js'
import { advertWaitMs, advertisesHeight } from './xnet-adverts.js'

/** Members of the subnet not connected are redialled this often (they may start later or restart). */
export const REDIAL_INTERVAL_MS = 1_000
/** How often the registry directory is checked for a new version. */
export const REGISTRY_POLL_MS = 2_000
/** State roots kept per node for the agreement check (one per height). */
export const ROOTS_KEPT = 4_096
/**
 * Finalized batches taken from consensus ahead of execution. Block makers read
 * their XNet payloads; beyond this many, consensus's own bound on unconsumed
 * batches holds it back.
 */
export const FINALIZED_BATCHES_AHEAD = 16

export interface ReplicaInit {
  config: ReplicaConfig
  log?: StructuredLog
}

type Services = {
  identify: ReturnType<ReturnType<typeof identify>>
  ping: ReturnType<ReturnType<typeof ping>>
  pubsub: any
  artifacts: ArtifactGossipService
  xnet: XNetStreamService
  stateSync: StateSyncService
}

/**
 * One icnet node: a libp2p host with gossipsub, artifact gossip, XNet streams
 * and state sync; consensus over artifact gossip; the replicated state machine
 * fed by finalized batches; certification back from consensus; and the
 * operational HTTP endpoint. `Replica.start(config)` brings it up,
 * `stop()` takes it down in reverse order.
 */
export class Replica {
  readonly config: ReplicaConfig
  readonly subnetId: SubnetId
  readonly log: StructuredLog
  readonly metrics: PromMetrics
  private registry: Registry
  private readonly registryStore: FileRegistryStore
  private watcher?: RegistryWatcher
  private node!: Libp2p<Services>
  private consensus!: Consensus
  private transport!: GossipConsensusTransport
  private state!: MessageRouting
  private sandbox?: WasmSandbox
  private stateSyncStore?: LiveCheckpointStore
  private readonly ingressPool: IngressPool
  private syncing?: AbortController
  private readonly stateSyncs: ReturnType<PromMetrics['counter']>
  private loadMonitor?: LoadMonitor
  /** Roots this node computed, by height (bounded): what the agreement check compares across nodes. */
  private readonly roots = new Map<number, Uint8Array>()
  private http?: ReplicaHttpServer
  private publicApi?: PublicApi
  private redialTimer?: ReturnType<typeof setInterval>
  private refiller?: XNetRefillPoller
  private roundLoop?: Promise<void>
  private status: Health['status'] = 'starting'
  private readonly startedAt = Date.now()
  private readonly finalized = new FinalizedBatches(FINALIZED_BATCHES_AHEAD)
  private params!: ConsensusParams
  private httpPort?: number
  /** Byzantine and test-only behaviour from `replica.faults` (identity wrappers when none). */
  private readonly faults: FaultInjector

  private constructor (config: ReplicaConfig, registryStore: FileRegistryStore, registry: Registry, log: StructuredLog) {
    this.config = config
    this.registryStore = registryStore
    this.registry = registry
    this.subnetId = Principal.fromText(config.subnetId)
    this.log = log
    this.metrics = new PromMetrics({ processMetrics: config.replica.processMetrics })
    this.ingressPool = new IngressPool(this.metrics)
    this.faults = new FaultInjector({ faults: config.replica.faults, log, subnetId: this.subnetId, metrics: this.metrics })
    this.stateSyncs = this.metrics.counter({ name: 'icnet_replica_state_syncs_total', help: 'Checkpoints fetched from peers after consensus jumped past the local state' })
  }

  static async start (init: ReplicaInit): Promise<Replica> {
    const { config } = init
    const store = new FileRegistryStore(config.registryDir)
    const registry = await store.latest()
    const subnet = registry.subnetOfNode(config.nodeId)
    if (subnet == null || subnet.toText() !== config.subnetId) {
      throw new ConfigError(`node ${config.nodeId} is not a member of subnet ${config.subnetId} in registry version ${registry.version}`)
    }
    const log = init.log ?? createLog({ level: config.replica.logLevel, fields: { node: config.nodeId.slice(-8), subnet: config.subnetId.slice(0, 5) } })
    const replica = new Replica(config, store, registry, log)
    try {
      await replica.startParts()
    } catch (err) {
      await replica.stop().catch(() => {})
      throw err
    }
    return replica
  }

  private async startParts (): Promise<void> {
    const { config } = this
    await mkdir(config.dataDir, { recursive: true, mode: 0o700 })
    const m = this.metrics
    this.params = paramsFromRegistry(this.registry, this.subnetId)

    // The replicated state machine (message routing over a wasm sandbox), opened at its latest checkpoint.
    const genesis = await readGenesisCanisters(config.replica.genesisCanistersPath)
    const stateDir = join(config.dataDir, 'state')
    await this.openState()
    if (this.state.height === 0) await this.installGenesis(genesis)
    this.loadMonitor = new LoadMonitor({ state: () => this.state, genesis, subnetId: this.subnetId })

    const xnetMetrics = createXNetMetrics(m)
    const pool = new CertifiedSlicePool({ ourSubnet: this.subnetId, registry: this.registry, metrics: xnetMetrics })
    const bans = new PeerBanList()
    const registry = (): Registry => this.registry
    // Message routing writes its checkpoints as an FsCheckpointStore root: state sync serves them from there.
    const checkpoints = await LiveCheckpointStore.open(stateDir)
    this.stateSyncStore = checkpoints
    const kinds = ARTIFACT_KINDS as unknown as string[]

    this.node = await createLibp2p({
      privateKey: privateKeyFromProtobuf(fromHex(config.libp2pPrivateKey)),
      addresses: { listen: config.listenAddresses, ...(config.replica.announce != null ? { announce: config.replica.announce } : {}) },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      // Members of our subnet for gossip; nodes of other subnets for XNet (registry-listed only).
      connectionGater: this.faults.gater(subnetConnectionGater({ subnetId: this.subnetId, registry, bans, admitNonMembers: id => this.registry.subnetOfNode(id) != null })),
      connectionManager: { maxConnections: 512 },
      services: {
        identify: identify(),
        ping: ping(),
        pubsub: gossipsub({ ...artifactGossipsubOptions({ subnetId: this.subnetId, kinds, registry }), emitSelf: false }),
        artifacts: artifactGossip({ subnetId: this.subnetId, registry, verifier: refuseAllVerifier, kinds: consensusArtifactKinds, bans, metrics: m }),
        xnet: xnetStream({
          subnetId: this.subnetId,
          registry,
          // Through `this.state`: after a state sync the node reopens message routing on the new checkpoint.
          store: this.faults.streamStore({ encodeSlice: (destination, query) => this.state.certifiedStreamStore.encodeSlice(destination, query) }),
          pool,
          // Past the finalized batches not executed yet: their messages are never needed again.
          expectedIndices: source => this.expectedFrom(source),
          // Background pulls are the replica's (XNetRefillPoller): only from subnets with a stream to us.
          backgroundRefill: false,
          onSlice: (source, added) => {
            this.refiller?.streamSeen(source)
            // With the 'batch executed' and 'certified' lines: when a pull brought a stream's next messages.
            if (this.log.enabled('debug')) this.log.debug('slice pulled', { from: source.toText().slice(0, 5), added })
          },
          metrics: m
        }),
        // A checkpoint is the subnet's whole state: only its own nodes may fetch it.
        stateSync: stateSync({ store: this.faults.checkpointStore(checkpoints), metrics: m, isAllowedPeer: peer => this.isMember(peer.toString()) })
      }
    }) as unknown as Libp2p<Services>
    this.faults.attach(this.node)
    this.refiller = new XNetRefillPoller({
      sources: () => this.registry.subnetIds().filter(s => !principalEquals(s, this.subnetId)),
      hasStreamFrom: source => { const e = this.expectedFrom(source); return e.message > 0 || e.signal > 0 },
      refill: async source => this.node.services.xnet.refill(source)
    })
    this.refiller.start()

    this.transport = new GossipConsensusTransport({
      gossip: this.node.services.artifacts,
      registrar: this.node,
      memberConnections: () => this.node.getConnections().filter(c => this.isMember(c.remotePeer.toString()))
    })
    await this.transport.start()

    const builder = new XNetPayloadBuilder({ ourSubnet: this.subnetId, registry: this.registry, pool, metrics: xnetMetrics })
    const ingressSection = ingressPayloadSection({
      pool: this.ingressPool,
      maxBlockPayloadBytes: this.params.maxBlockPayloadBytes,
      known: id => this.state.ingressStatus(id) !== undefined
    })
    const xnetBlocks = m.counter({ name: 'icnet_replica_xnet_blocks_built_total', help: 'Blocks this node built, by what their XNet section got (slices, none: nothing new, behind: finalized batches not known in time)', labelNames: ['outcome'] })
    const waitMs = advertWaitMs(this.params.unitDelayMs)
    const advertWaits = m.histogram({ name: 'icnet_replica_xnet_advert_wait_seconds', help: 'How long a block maker waited for slices announced by adverts and being pulled, when it waited', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25] })
    const section = xnetPayloadSection({
      builder,
      pool,
      maxBlockPayloadBytes: this.params.maxBlockPayloadBytes,
      maxXNetPayloadBytes: this.registry.requireSubnet(this.subnetId).params.maxXNetPayloadBytes,
      viewAt: h => this.xnetView(h),
      waitForView: async (h, ms) => this.waitForXNetView(h, ms),
      // The finalized batches normally arrive with finalization itself; a short wait covers a slow event loop.
      buildWaitMs: Math.max(200, 2 * this.params.unitDelayMs),
      validateWaitMs: 10_000,
      ...(waitMs > 0
        ? {
            awaitAdvertised: async () => {
              const started = Date.now()
              const sources = this.registry.subnetIds().filter(s => !principalEquals(s, this.subnetId))
              const waited = await Promise.all(sources.map(async s => this.node.services.xnet.awaitAdvertised(s, waitMs)))
              if (waited.includes(true)) advertWaits.observe((Date.now() - started) / 1000)
            }
          }
        : {}),
      onBuilt: outcome => { xnetBlocks.inc(1, { outcome }) }
    })

    const lmdb = new LmdbConsensusStore(join(config.dataDir, 'consensus'))
    this.consensus = new Consensus({
      committee: committeeFromRegistry(this.registry, this.subnetId),
      signer: signerFromConfig(this.registry, config),
      params: this.params,
      transport: this.transport,
      store: new ReplayFromCheckpointStore(lmdb, this.state.height),
      payloadBuilders: [ingressSection, section],
      metrics: m,
      name: `${config.subnetId.slice(0, 5)}-${config.nodeIndex}`,
      onCertification: (c, { late }) => { this.onCertification(Number(c.height), c.stateRoot, c.signature, late) },
      onCatchUpPackage: (cup, { jumped }) => {
        const h = Number(cup.content?.block?.block?.height ?? 0n)
        if (jumped && h > this.state.height) {
          this.log.warn('consensus jumped past the local state', { cupHeight: h, height: this.state.height })
        }
      }
    })

    this.startWatcher()
    await this.startHttp()
    this.dialMembers()
    this.redialTimer = setInterval(() => { this.dialMembers() }, REDIAL_INTERVAL_MS)
    await this.consensus.start()
    this.roundLoop = this.runRounds()
    this.status = 'ok'
    this.log.info('replica started', {
      peerId: this.node.peerId.toString(),
      listen: this.node.getMultiaddrs().map(a => a.toString()),
      http: this.httpPort,
      height: this.state.height,
      checkpointInterval: this.params.checkpointInterval,
      unitDelayMs: this.params.unitDelayMs
    })
  }

  /** Where we are in the stream from `source`: as far as inducted, plus the finalized batches not executed yet. */
  private expectedFrom (source: SubnetId): ReturnType<typeof expectedIndices> {
    return expectedIndices(source, {
      ownStream: remote => this.state.ownStream(remote),
      pastPayloads: this.finalized.payloadsAfter(this.state.streamsHeight)
    })
  }

  /** Opens message routing on a fresh sandbox at the latest checkpoint in `<dataDir>/state`. */
  private async openState (): Promise<void> {
    this.sandbox = new WasmSandbox()
    this.state = await MessageRouting.open({
      subnetId: this.subnetId,
      registry: this.registry,
      sandbox: this.sandbox,
      dataDir: join(this.config.dataDir, 'state'),
      checkpointInterval: this.params.checkpointInterval,
      // Round budget and stream limit shape the replicated state: the same registry record on every node.
      limits: limitsFromSubnetParams(this.registry.requireSubnet(this.subnetId).params),
      metrics: this.metrics
    })
  }

  /**
   * Consensus jumped to a catch-up package above our state (the node was down or
   * behind for longer than a checkpoint interval): fetch the CUP's checkpoint
   * from peers, install it, and reopen message routing on it.
   */
  private async catchUpState (nextHeight: number): Promise<void> {
    const latest = (): { height: number, stateHash: Uint8Array } => {
      const cup = this.consensus.latestCatchUpPackage
      return { height: Number(cup.content?.block?.block?.height ?? 0n), stateHash: cup.content?.stateHash ?? new Uint8Array(0) }
    }
    const first = latest()
    if (first.stateHash.length !== 32 || first.height < nextHeight - 1) {
      throw new StateGapError(`batch ${nextHeight} after state ${this.state.height}, and the latest CUP is at ${first.height}`)
    }
    this.log.info('state behind consensus: syncing the checkpoint of the latest CUP', { height: this.state.height, cupHeight: first.height })
    this.syncing = new AbortController()
    const started = Date.now()
    try {
      const r = await syncCheckpoint({ service: this.node.services.stateSync, store: this.stateSyncStore!, target: latest, signal: this.syncing.signal, log: this.log })
      this.stateSyncs.inc()
      await this.state.close()
      await this.sandbox?.close()
      await this.openState()
      await this.stateSyncStore!.refresh()
      if (this.state.height < r.height) throw new StateGapError(`after state sync the state is at ${this.state.height}, not ${r.height}`)
      this.log.info('state installed from peers', { height: this.state.height, ms: Date.now() - started, bytesFetched: r.bytesFetched })
    } finally {
      this.syncing = undefined
    }
  }

  /**
   * Genesis canisters of our subnet, installed before the first batch in the
   * order of the genesis file: every node of the subnet does the same, so the
   * state at height 0 is the same everywhere (a node that restarts before its
   * first checkpoint does it again).
   */
  private async installGenesis (genesis: GenesisCanisters): Promise<void> {
    for (const c of genesis.canisters) {
      if (c.subnetId !== this.config.subnetId) continue
      const module = await loadTestCanister(c.module === 'xnet-load' ? 'xnet_load' : c.module)
      await this.state.installCanister({ canisterId: Principal.fromText(c.canisterId), module })
      this.log.info('genesis canister installed', { canisterId: c.canisterId, module: c.module })
    }
  }

  /** An ingress message submitted to this node (the CLI, the testnet runner): checked, then pooled for a block. */
  submitIngress (sub: IngressSubmission): { requestId: string, status: 'accepted' | 'known' } {
    const expiry = sub.expiry ?? Date.now() + 4 * 60_000
    let canisterId: Principal
    try { canisterId = Principal.fromText(sub.canisterId) } catch (err) { throw new InvalidIdError(`not a canister id: ${sub.canisterId.slice(0, 64)}`, { cause: err }) }
    const fields = { sender: Principal.anonymous(), canisterId, methodName: sub.method, arg: sub.arg, expiry }
    const msg: IngressMessage = { requestId: ingressRequestId({ ...fields, ...(sub.nonce != null ? { nonce: sub.nonce } : {}) }), ...fields }
    const requestId = toHex(msg.requestId)
    if (this.state.ingressStatus(msg.requestId) !== undefined) return { requestId, status: 'known' }
    this.state.validateIngress(msg, Date.now())
    return { requestId, status: this.ingressPool.add(msg) ? 'accepted' : 'known' }
  }

  private isMember (peer: string): boolean {
    const s = this.registry.subnetOfNode(peer)
    return s != null && principalEquals(s, this.subnetId)
  }

  private dialMembers (): void {
    const subnet = this.registry.getSubnet(this.subnetId)
    if (subnet == null || this.node == null) return
    for (const id of subnet.nodes) {
      if (id === this.config.nodeId) continue
      if (this.node.getConnections().some(c => c.remotePeer.toString() === id && c.status === 'open')) continue
      const addrs = (this.registry.getNode(id)?.p2pAddresses ?? []).map(a => multiaddr(a))
      if (addrs.length === 0) continue
      this.node.dial(addrs, { signal: AbortSignal.timeout(5_000) }).catch(() => { /* retried next interval */ })
    }
  }

  private startWatcher (): void {
    this.watcher = new RegistryWatcher(this.registryStore, r => {
      this.registry = r
      this.log.info('registry version', { version: r.version })
    }, { intervalMs: REGISTRY_POLL_MS, fromVersion: this.registry.version, onError: err => { this.log.warn('registry poll failed', { err }) } })
    this.watcher.start()
  }

  private async startHttp (): Promise<void> {
    if (this.config.http == null) return
    this.publicApi = new PublicApi({ subnetId: this.subnetId, libp2pPrivateKey: this.config.libp2pPrivateKey, registry: () => this.registry, state: () => this.state, pool: this.ingressPool, running: () => this.status === 'ok', log: this.log, metrics: this.metrics })
    this.http = new ReplicaHttpServer({
      publicApi: { owns: path => PublicApi.owns(path), handle: (req, res) => { this.publicApi!.handle(req, res) } },
      health: () => this.health(),
      metrics: async () => this.metrics.exposition(),
      load: async () => this.loadReport(),
      stateRoot: (h) => { const r = this.roots.get(h); return r == null ? undefined : toHex(r) },
      submitIngress: sub => this.submitIngress(sub),
      ingressStatus: id => this.state.ingressStatus(id),
      ...(this.faults.admin != null ? { faultsAdmin: this.faults.admin } : {})
    })
    const addr = await this.http.listen(this.config.http.host, this.config.http.port)
    this.httpPort = addr.port
  }

  /**
   * Takes finalized batches from consensus as they come (bounded by
   * `FINALIZED_BATCHES_AHEAD`), so block makers know their XNet payloads before
   * execution reaches them.
   */
  private async takeFinalized (): Promise<void> {
    const maxBytes = this.params.maxBlockPayloadBytes
    try {
      for await (const batch of this.consensus.batches()) {
        let xnet: FinalizedEntry['xnet']
        try { xnet = decodeXNetPayload(batch.payload.get(XNET_SECTION) ?? new Uint8Array(0), maxBytes) } catch { xnet = undefined }
        if (!await this.finalized.push({ batch, xnet })) return
      }
    } finally {
      this.finalized.close()
    }
  }

  /**
   * The XNet view at a finalized height: our streams as far as inducted, and the
   * finalized payloads after them, at least up to that height. Every one taken
   * so far goes in: consensus may have finalized more between the height it
   * names and the ancestors it lists, and a payload counted twice is harmless
   * (expected indices take the newest slice from each subnet).
   */
  private xnetView (finalizedHeight: number): XNetStateView | undefined {
    const inducted = this.state.streamsHeight
    const payloads = this.finalized.payloadsAfter(inducted)
    if (inducted + payloads.length < finalizedHeight) return undefined
    return { ownStream: remote => this.state.ownStream(remote), finalizedPayloads: payloads }
  }

  private async waitForXNetView (finalizedHeight: number, timeoutMs: number): Promise<XNetStateView | undefined> {
    const until = Date.now() + timeoutMs
    for (;;) {
      const v = this.xnetView(finalizedHeight)
      if (v !== undefined || this.finalized.isClosed) return v
      const left = until - Date.now()
      if (left <= 0) return undefined
      let timer: ReturnType<typeof setTimeout> | undefined
      await Promise.race([this.finalized.changed(), new Promise<void>(resolve => { timer = setTimeout(resolve, left) })])
      clearTimeout(timer)
    }
  }

  /** The round: finalized batches in order → execute → state root → certification share (→ CUP share at checkpoints). */
  private async runRounds (): Promise<void> {
    const maxBytes = this.params.maxBlockPayloadBytes
    const executed = this.metrics.counter({ name: 'icnet_replica_batches_executed_total', help: 'Finalized batches executed' })
    const duration = this.metrics.histogram({ name: 'icnet_replica_batch_execution_seconds', help: 'Time to execute one batch', buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5] })
    const heightGauge = this.metrics.gauge({ name: 'icnet_replica_executed_height', help: 'Latest executed height' })
    // Handled from the start: if it fails while the round loop awaits something else, the rejection
    // must not go unhandled (that would kill the process during an orderly stop).
    const taking = this.takeFinalized().catch(err => {
      if (this.status === 'stopping') return
      throw err
    })
    try {
      for (let entry = await this.finalized.first(); entry !== undefined; this.finalized.done(), entry = await this.finalized.first()) {
        const { batch } = entry
        if (batch.height <= this.state.height) continue // replayed below our checkpoint: already in the state
        if (batch.height > this.state.height + 1) {
          await this.catchUpState(batch.height)
          if (batch.height <= this.state.height) continue // the synced checkpoint is above this batch
        }
        const done = duration.startTimer()
        const xnetSlices = batchSlices(entry.xnet ?? batch.payload.get(XNET_SECTION), maxBytes, this.subnetId)
        const result = await this.state.executeBatch({
          height: batch.height,
          time: batch.time,
          randomness: batch.randomness,
          ingress: batchIngress(batch.payload.get(INGRESS_SECTION), maxBytes),
          xnetSlices
        })
        done()
        if (this.log.enabled('debug')) this.logBatch(batch.height, batch.time, xnetSlices)
        executed.inc()
        heightGauge.set(result.height)
        this.roots.set(result.height, result.stateRoot)
        this.roots.delete(result.height - ROOTS_KEPT)
        this.ingressPool.purge(id => this.state.ingressStatus(id) !== undefined, batch.time)
        await this.consensus.submitStateRoot(result.height, result.stateRoot)
        if (result.checkpoint != null) {
          // Serve it by state sync first: once the CUP forms, nodes that fell behind ask for it.
          const served = await this.stateSyncStore!.refresh().catch(err => { this.log.warn('checkpoint not indexed for state sync', { err }); return [] })
          if (!served.some(c => toHex(c.stateHash) === toHex(result.checkpoint!.stateHash))) {
            this.log.error('state sync does not serve the new checkpoint under its state hash', { height: result.checkpoint.height })
          }
          await this.consensus.submitCheckpoint(result.checkpoint.height, result.checkpoint.stateHash).catch(err => {
            if (!(err instanceof InvalidSubmissionError)) throw err
            this.log.debug('checkpoint share not needed', { height: result.checkpoint!.height, reason: err.message })
          })
          this.log.info('checkpoint', { height: result.checkpoint.height, stateHash: toHex(result.checkpoint.stateHash) })
        }
        this.transport.purgeBelow(this.consensus.finalizedHeight, this.state.height)
      }
    } catch (err: any) {
      if (this.status === 'stopping') return
      this.log.error('round loop failed', { err })
      throw err
    } finally {
      this.finalized.close()
      await taking
    }
  }

  /** One debug line per executed batch: what XNet it brought and where our streams stand (an XNet timeline, with `jq`). */
  private logBatch (height: number, time: number, slices: ReturnType<typeof batchSlices>): void {
    this.log.debug('batch executed', {
      height,
      blockTime: time,
      lagMs: Date.now() - time,
      slices: slices.map(({ subnet, slice }) => ({
        from: subnet.toText().slice(0, 5),
        messages: slice.messages.length === 0 ? null : [slice.messages[0]!.index, slice.messages[slice.messages.length - 1]!.index + 1],
        signalsEnd: slice.header.signalsEnd
      })),
      streams: this.registry.subnetIds().filter(s => !principalEquals(s, this.subnetId)).map(s => {
        const own = this.state.ownStream(s)
        return { to: s.toText().slice(0, 5), begin: own?.begin ?? 0, end: own?.end ?? 0 }
      })
    })
  }

  private onCertification (height: number, stateRoot: Uint8Array, signature: Uint8Array, late: boolean): void {
    try {
      // False for a height this node has not executed yet (it is replaying) or already passed.
      if (!this.state.setCertification(height, signature)) return
      this.log.debug('certified', { height })
      this.faults.certified(height)
    } catch (err) {
      // The subnet certified a root this node did not compute: its state diverged. Loud, never silent.
      this.log.error('certification does not match the local state', { height, err })
      return
    }
    this.lastCertifiedRoot = stateRoot
    // Tell the receivers our streams moved, so they pull now rather than at their next poll; unless
    // the subnet certified the height before this node could: the other advertiser was on time, and a
    // late advert sends the receivers to a node that may be behind what they already pulled.
    if (late) return
    const xnet = this.node.services.xnet
    for (const remote of this.registry.subnetIds()) {
      if (principalEquals(remote, this.subnetId)) continue
      const own = this.state.ownStream(remote)
      if (own == null) continue
      // Adverts of a certified height come from two nodes in turn (spreads the dials; see xnet-adverts.ts).
      if (!advertisesHeight(height, this.config.nodeIndex, this.registry.getSubnet(this.subnetId)?.nodes.length ?? 1)) continue
      void xnet.advertise(remote, own.end, height).catch(() => {})
    }
  }

  private lastCertifiedRoot?: Uint8Array

  /** Resolves true once the executed height reaches `height`, false after `timeoutMs`. */
  async waitForHeight (height: number, timeoutMs: number): Promise<boolean> {
    const until = Date.now() + timeoutMs
    while (this.state.height < height) {
      const left = until - Date.now()
      if (left <= 0 || this.finalized.isClosed) return false
      let timer: ReturnType<typeof setTimeout> | undefined
      await Promise.race([this.finalized.changed(), new Promise<void>(resolve => { timer = setTimeout(resolve, left) })])
      clearTimeout(timer)
    }
    return true
  }

  health (): Health {
    return {
      status: this.status,
      nodeId: this.config.nodeId,
      subnetId: this.config.subnetId,
      rootSubnet: principalEquals(this.registry.rootSubnetId(), this.subnetId),
      height: this.state?.height ?? 0,
      certifiedHeight: this.state?.certifiedHeight ?? 0,
      finalizedHeight: this.consensus?.finalizedHeight ?? 0,
      ...(this.lastCertifiedRoot != null ? { certifiedStateRoot: toHex(this.lastCertifiedRoot) } : {}),
      peers: this.node?.getPeers().length ?? 0,
      stateMachine: 'message-routing',
      uptimeSeconds: Math.round((Date.now() - this.startedAt) / 1000)
    }
  }

  /** The load canister's counters on this node's executed state, plus stream figures. */
  async loadReport (): Promise<LoadReport> {
    return this.loadMonitor!.report(this.config.subnetId)
  }

  get peerId (): string { return this.node.peerId.toString() }
  get httpAddress (): string | undefined { return this.httpPort == null ? undefined : `http://${this.config.http!.host}:${this.httpPort}` }

  /** Stops in reverse order of start; safe to call twice. */
  async stop (): Promise<void> {
    if (this.status === 'stopping') return
    this.status = 'stopping'
    if (this.redialTimer != null) clearInterval(this.redialTimer)
    this.refiller?.stop()
    this.watcher?.stop()
    this.finalized.close()
    this.syncing?.abort()
    await this.consensus?.stop().catch(err => { this.log.warn('consensus stop', { err }) })
    await this.roundLoop?.catch(() => {})
    await this.transport?.stop().catch(() => {})
    this.faults.stop()
    await this.node?.stop()
    await this.state?.close()
    await this.sandbox?.close()
    await this.stateSyncStore?.close()
    await this.publicApi?.stop()
    await this.http?.close()
    this.log.info('replica stopped')
  }
}
