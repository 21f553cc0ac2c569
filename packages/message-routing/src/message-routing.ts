import { createHash } from 'node:crypto'
import { mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { logger } from '@libp2p/logger'
import { certificateMessage, verifyThreshold, type Delegation } from '@icnet/crypto'
import type { CallOutcome, ExecutionResult, Sandbox } from '@icnet/execution'
import type { Path } from '@icnet/hashtree'
import {
  Principal, RejectCode, principalEquals, principalText, toHex,
  type CanisterId, type RegistryView, type SubnetId
} from '@icnet/types'
import type { ExpectedIndices, OwnStreamPosition } from '@icnet/xnet-stream'
import { CanisterState, type CanisterRunStatus } from './canister.js'
import { SnapshotStreamStore, readStateCertificate, type CertifiedState, type StateSnapshot } from './certification.js'
import { listCheckpointHeights, loadCheckpoint, pruneCheckpoints, writeCheckpoint, type WrittenCheckpoint } from './checkpoint.js'
import {
  DEFAULT_CHECKPOINTS_KEPT, DEFAULT_INGRESS_QUEUE_CAPACITY, DEFAULT_INSTALL_INSTRUCTIONS, DEFAULT_MAX_CERTIFICATION_BACKLOG, DEFAULT_MAX_INGRESS_HISTORY,
  DEFAULT_MAX_OUTSTANDING_CALLS, DEFAULT_MESSAGE_INSTRUCTIONS, DEFAULT_OUTPUT_QUEUE_CAPACITY, DEFAULT_QUEUE_CAPACITY,
  DEFAULT_ROUND_INSTRUCTIONS, DEFAULT_STREAM_MAX_BYTES, DEFAULT_STREAM_MAX_MESSAGES, MAX_INGRESS_ARG_BYTES,
  MAX_INGRESS_METHOD_BYTES, MAX_INGRESS_TTL_MS
} from './constants.js'
import { BatchOrderError, CertificationMismatchError, CheckpointLoadError, IngressValidationError, InstallError } from './errors.js'
import { collectStreams, inductIngress, inductLoopback, inductSlices, orderedSlices } from './induction.js'
import { completeStops } from './canister-stop.js'
import { executeManagementIngress } from './management.js'
import { createMetrics, type CriticalErrorKind, type MessageRoutingMetrics } from './metrics.js'
import type { MigrationSource, Progress, RoundContext } from './round-context.js'
import { routeCanisterOutputs } from './routing.js'
import { executeRound } from './scheduler.js'
import { ReplicatedState } from './state.js'
import { StateTree } from './state-tree.js'
import type {
  Batch, BatchResult, CanisterInstall, IngressMessage, IngressStatus, MessageRoutingInit, MessageRoutingLimits, MessageRoutingStats
} from './types.js'

const log = logger('icnet:message-routing')
/** One line per refused request (enable with DEBUG=icnet:message-routing:rejects). */
const rejectLog = logger('icnet:message-routing:rejects')

const ZERO_HASH = new Uint8Array(32)

export const DEFAULT_LIMITS: MessageRoutingLimits = {
  roundInstructions: DEFAULT_ROUND_INSTRUCTIONS,
  messageInstructions: DEFAULT_MESSAGE_INSTRUCTIONS,
  inputQueueCapacity: DEFAULT_QUEUE_CAPACITY,
  ingressQueueCapacity: DEFAULT_INGRESS_QUEUE_CAPACITY,
  outputQueueCapacity: DEFAULT_OUTPUT_QUEUE_CAPACITY,
  maxOutstandingCalls: DEFAULT_MAX_OUTSTANDING_CALLS,
  streamMaxMessages: DEFAULT_STREAM_MAX_MESSAGES,
  streamMaxBytes: DEFAULT_STREAM_MAX_BYTES,
  maxIngressHistory: DEFAULT_MAX_INGRESS_HISTORY,
  maxCertificationBacklog: DEFAULT_MAX_CERTIFICATION_BACKLOG,
  checkpointsKept: DEFAULT_CHECKPOINTS_KEPT
}

/**
 * A subnet's deterministic state machine: per finalized batch it inducts
 * (loopback, stream GC from signals, slice messages, ingress), executes canisters
 * through the sandbox under a round budget, routes outputs into input queues or
 * XNet streams, updates the canonical state tree incrementally and returns its
 * root for certification; every `checkpointInterval` heights it writes a
 * checkpoint. Every node of a subnet that executes the same batches gets the same
 * roots and the same checkpoint hashes.
 */
export class MessageRouting {
  readonly subnetId: SubnetId
  /** Serves certified slices of our streams to xnet-stream's server (latest certified height only). */
  readonly certifiedStreamStore: SnapshotStreamStore
  private registry: RegistryView & MigrationSource
  private readonly sandbox: Sandbox
  private readonly dataDir: string
  private readonly checkpointInterval: number
  private readonly limits: MessageRoutingLimits
  private readonly metrics: MessageRoutingMetrics
  private readonly state: ReplicatedState
  private readonly tree = new StateTree()
  private readonly pending = new Map<number, StateSnapshot>()
  private certified: CertifiedState | undefined
  private lastCheckpoint: WrittenCheckpoint | undefined
  private readonly progress: Progress = { xnetInducted: 0, executed: 0, criticalErrors: 0 }
  /** Height whose XNet slices (messages and signals) our streams reflect; it leads `height` while a batch executes. */
  private slicesHeight = 0
  private lock: Promise<unknown> = Promise.resolve()
  private closed = false

  private constructor (init: MessageRoutingInit) {
    if (!Number.isSafeInteger(init.checkpointInterval) || init.checkpointInterval <= 0) throw new RangeError('checkpointInterval must be a positive integer')
    this.subnetId = init.subnetId
    this.registry = init.registry
    this.sandbox = init.sandbox
    this.dataDir = init.dataDir
    this.checkpointInterval = init.checkpointInterval
    this.limits = { ...DEFAULT_LIMITS, ...init.limits }
    this.metrics = createMetrics(init.metrics)
    this.state = new ReplicatedState(init.subnetId, this.limits)
    this.certifiedStreamStore = new SnapshotStreamStore(() => this.certified)
  }

  /**
   * Opens the state in `dataDir`: the latest checkpoint if there is one (its
   * canisters restored into the sandbox), else an empty genesis state at height 0.
   * The host then replays the finalized batches after `height`.
   */
  static async open (init: MessageRoutingInit): Promise<MessageRouting> {
    const mr = new MessageRouting(init)
    await mkdir(join(init.dataDir, 'checkpoints'), { recursive: true })
    await rm(join(init.dataDir, 'tmp'), { recursive: true, force: true })
    mr.tree.setSubnets(mr.registry)
    const heights = await listCheckpointHeights(init.dataDir)
    const latest = heights[heights.length - 1]
    if (latest !== undefined) await mr.restore(latest)
    else mr.commitTree(ZERO_HASH)
    return mr
  }

  private async restore (height: number): Promise<void> {
    const cp = await loadCheckpoint(this.dataDir, height)
    const s = this.state
    s.height = cp.height
    this.slicesHeight = cp.height
    s.timeNs = cp.timeNs
    s.loopback = cp.loopback
    for (const { state, snapshot } of cp.canisters) {
      await this.sandbox.restore(snapshot)
      s.canisters.set(state.idHex, state)
      s.dirtyCanisters.add(state.idHex)
    }
    for (const { subnet, stream } of cp.streams) {
      s.streams.set(subnet.toText(), { subnet, stream })
      s.dirtyStreams.add(subnet.toText())
    }
    for (const e of cp.ingress) s.ingress.set(e.id, e.state)
    const root = this.commitTree(cp.prevStateHash)
    if (toHex(root) !== toHex(cp.stateRoot)) {
      throw new CheckpointLoadError(`checkpoint ${height}: rebuilt state root ${toHex(root)} is not the recorded ${toHex(cp.stateRoot)}`)
    }
    this.lastCheckpoint = cp.written
    log('opened checkpoint %d (%d canisters, %d streams)', height, cp.canisters.length, cp.streams.length)
  }

  /** Last executed height. */
  get height (): number { return this.state.height }
  /** Root of the state tree at `height`. */
  get stateRoot (): Uint8Array { return this.state.stateRoot }
  /** Highest height whose certification was recorded (0 before any). */
  get latestCertifiedHeight (): number { return this.certified?.height ?? 0 }
  /** Same as `latestCertifiedHeight`. */
  get certifiedHeight (): number { return this.latestCertifiedHeight }
  /** The latest certified state (tree snapshot, root, signature), for read_state. */
  latestCertifiedState (): CertifiedState | undefined { return this.certified }
  /** The latest checkpoint written or loaded. */
  get latestCheckpoint (): { height: number, stateHash: Uint8Array, dir: string } | undefined {
    const c = this.lastCheckpoint
    return c === undefined ? undefined : { height: c.height, stateHash: c.stateHash, dir: c.dir }
  }

  private async serialized<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn)
    this.lock = run.catch(() => {})
    return await run
  }

  private context (): RoundContext {
    return {
      state: this.state,
      registry: this.registry,
      table: this.registry.routingTable(),
      sandbox: this.sandbox,
      limits: this.limits,
      metrics: this.metrics,
      progress: this.progress,
      critical: (kind: CriticalErrorKind) => {
        this.progress.criticalErrors++
        this.metrics.criticalErrors.inc(1, { kind })
        log.error('critical error: %s at height %d', kind, this.state.height)
      },
      rejected: (kind, req) => {
        this.metrics.rejectedRequests.inc(1, { reason: kind })
        rejectLog('height %d: %s request %s -> %s (callback %d)', this.state.height, kind, req.sender.toText(), req.receiver.toText(), req.senderReplyCallback)
      }
    }
  }

  /**
   * Swaps the registry view (new subnets, routing table, migrations). Like a
   * batch, it must be applied at the same height on every node of the subnet.
   */
  setRegistry (registry: RegistryView): void {
    this.registry = registry
    this.tree.setSubnets(registry)
  }

  /** Installs a genesis canister (before the first batch; later installs go in `batch.installs`). */
  async installCanister (spec: CanisterInstall): Promise<void> {
    await this.serialized(async () => {
      if (this.state.height !== 0) throw new InstallError('genesis installs only at height 0; use batch.installs')
      await this.install(spec)
    })
  }

  private async install (spec: CanisterInstall): Promise<void> {
    const routed = this.registry.routingTable().route(spec.canisterId)
    if (routed === undefined || !principalEquals(routed, this.subnetId)) {
      throw new InstallError(`canister ${spec.canisterId.toText()} is not in the ranges of subnet ${this.subnetId.toText()}`)
    }
    if (this.state.canister(spec.canisterId) !== undefined) throw new InstallError(`canister ${spec.canisterId.toText()} is already installed`)
    const controllers = spec.controllers ?? []
    let result: ExecutionResult
    try {
      result = await this.sandbox.install({
        canisterId: spec.canisterId, mode: 'install', module: spec.module, arg: spec.arg ?? new Uint8Array(0),
        caller: controllers[0] ?? Principal.anonymous(), time: this.state.timeNs, instructionLimit: DEFAULT_INSTALL_INSTRUCTIONS
      })
    } catch (err) {
      throw new InstallError(`install of ${spec.canisterId.toText()} failed: ${(err as Error).message}`, { cause: err })
    }
    if (result.trap !== undefined) {
      await this.sandbox.uninstall(spec.canisterId).catch(() => {})
      throw new InstallError(`init of ${spec.canisterId.toText()} trapped: ${result.trap.message}`)
    }
    const c = new CanisterState(spec.canisterId, controllers, createHash('sha256').update(spec.module).digest())
    c.module = spec.module.slice()
    c.certifiedData = result.certifiedData ?? new Uint8Array(0)
    c.globals = result.globals
    c.heapWasmPages = result.heap.sizeWasmPages
    c.stableWasmPages = result.stable.sizeWasmPages
    this.state.canisters.set(c.idHex, c)
    this.state.dirtyCanisters.add(c.idHex)
  }

  /** Executes the next finalized batch (height must be `height + 1`). */
  async executeBatch (batch: Batch): Promise<BatchResult> {
    return await this.serialized(async () => await this.execute(batch))
  }

  private async execute (batch: Batch): Promise<BatchResult> {
    if (this.closed) throw new BatchOrderError('message routing is closed')
    const s = this.state
    if (batch.height !== s.height + 1) throw new BatchOrderError(`batch ${batch.height} does not follow height ${s.height}`)
    const done = this.metrics.roundDuration.startTimer()
    const prevRoot = s.stateRoot
    s.height = batch.height
    const t = BigInt(Math.max(0, Math.floor(batch.time))) * 1_000_000n
    if (t > s.timeNs) s.timeNs = t
    for (const spec of batch.installs ?? []) {
      try {
        await this.install(spec)
      } catch (err) {
        // Deterministic: every node refuses the same install the same way.
        log('install at height %d refused: %s', batch.height, (err as Error).message)
      }
    }
    const ctx = this.context()
    s.ingress.purge(batch.time)
    // Induction, in the IC's order.
    inductLoopback(ctx)
    const slices = orderedSlices(batch.xnetSlices)
    collectStreams(ctx, slices)
    inductSlices(ctx, slices)
    this.slicesHeight = batch.height
    inductIngress(ctx, await executeManagementIngress(ctx, batch.ingress ?? [], batch.time), batch.time)
    const used = await executeRound(ctx)
    this.metrics.roundInstructions.observe(Number(used))
    completeStops(ctx)
    for (const c of s.sortedCanisters()) routeCanisterOutputs(ctx, c, true)
    const root = this.commitTree(prevRoot)
    this.pending.set(s.height, { height: s.height, tree: this.tree.snapshot(), root })
    while (this.pending.size > this.limits.maxCertificationBacklog) this.pending.delete(Math.min(...this.pending.keys()))
    const result: BatchResult = { height: s.height, stateRoot: root }
    if (s.height % this.checkpointInterval === 0) {
      const stop = this.metrics.checkpointDuration.startTimer()
      this.lastCheckpoint = await writeCheckpoint(s, this.sandbox, this.dataDir, this.lastCheckpoint, prevRoot)
      await pruneCheckpoints(this.dataDir, this.limits.checkpointsKept)
      stop()
      const cp = this.lastCheckpoint
      result.checkpoint = { height: cp.height, stateHash: cp.stateHash, dir: cp.dir }
      log('checkpoint %d: state hash %s', cp.height, toHex(cp.stateHash).slice(0, 16))
    }
    this.updateGauges()
    done()
    return result
  }

  /** Writes the round's changes into the state tree and returns the new root. */
  private commitTree (prevRoot: Uint8Array): Uint8Array {
    const s = this.state
    this.tree.setTime(s.timeNs)
    for (const key of [...s.dirtyStreams].sort()) {
      const e = s.streams.get(key)
      if (e !== undefined) this.tree.syncStream(e.subnet, e.stream)
    }
    s.dirtyStreams.clear()
    for (const hex of s.dirtyCanisters) {
      const c = s.canisters.get(hex)
      if (c !== undefined) this.tree.setCanister(c)
      else this.tree.deleteCanister(Principal.fromHex(hex)) // deleted by the management canister
    }
    s.dirtyCanisters.clear()
    for (const ch of s.ingress.takeChanged()) this.tree.setRequestStatus(ch.requestId, ch.state)
    this.tree.setMetadata(s.height, prevRoot)
    s.prevStateRoot = prevRoot
    s.stateRoot = this.tree.rootHash()
    return s.stateRoot
  }

  private updateGauges (): void {
    for (const { subnet, stream } of this.state.streams.values()) {
      this.metrics.streamMessages.set(stream.length, { subnet: principalText(subnet) })
      this.metrics.streamBytes.set(stream.byteSize, { subnet: principalText(subnet) })
    }
    let waiting = 0
    let stopping = 0
    let stopCalls = 0
    for (const c of this.state.canisters.values()) {
      waiting += c.output.length
      if (c.status === 'stopping') { stopping++; stopCalls += c.pendingStops.length }
    }
    this.metrics.outputsWaiting.set(waiting)
    this.metrics.stoppingCanisters.set(stopping)
    this.metrics.pendingStopCalls.set(stopCalls)
    this.metrics.ingressHistory.set(this.state.ingress.size)
    this.metrics.height.set(this.state.height)
  }

  /**
   * Records the subnet's combined threshold signature for `height`. The signature
   * is checked against the subnet's public key in the registry; from then on the
   * certified stream store serves that height. Returns false for a height no
   * longer (or not yet) held, or older than the latest certified one.
   */
  setCertification (height: number, signature: Uint8Array): boolean {
    const snap = this.pending.get(height)
    if (snap === undefined || height <= this.latestCertifiedHeight) return false
    const key = this.registry.getSubnet(this.subnetId)?.publicKey
    if (key === undefined || !verifyThreshold(key, certificateMessage(snap.root), signature)) {
      throw new CertificationMismatchError(`certification of height ${height} does not verify against the root ${toHex(snap.root).slice(0, 16)}…`)
    }
    this.certified = { ...snap, signature }
    for (const h of [...this.pending.keys()]) if (h <= height) this.pending.delete(h)
    this.metrics.certifiedHeight.set(height)
    return true
  }

  /** The state root executed at `height`, while it awaits certification (or is the latest certified). */
  stateRootAt (height: number): Uint8Array | undefined {
    if (this.certified?.height === height) return this.certified.root
    return this.pending.get(height)?.root
  }

  /** A read_state certificate for `paths` from the latest certified state (undefined before any certification). */
  readStateCertificate (paths: readonly Path[], delegation?: Delegation): Uint8Array | undefined {
    const c = this.certified
    return c === undefined ? undefined : readStateCertificate(c, paths, delegation)
  }

  /** Our stream towards `remote` in the executed state: what xnet-stream's payload builder takes as `ownStream`. */
  ownStream (remote: SubnetId): OwnStreamPosition | undefined {
    const e = this.state.streams.get(principalText(remote))
    if (e === undefined) return undefined
    return { begin: e.stream.begin, end: e.stream.end, signalsEnd: e.stream.signalsEnd }
  }

  /**
   * The height whose XNet slices `ownStream` and `expectedIndices` reflect. It
   * reaches a batch's height as soon as that batch's slices are inducted, before
   * its execution ends, so block makers need not wait for execution.
   */
  get streamsHeight (): number { return this.slicesHeight }

  /** Where the next slice from `remote` must start, with no unexecuted payloads in between. */
  expectedIndices (remote: SubnetId): ExpectedIndices {
    const own = this.ownStream(remote)
    return { message: own?.signalsEnd ?? 0, signal: own?.begin ?? 0 }
  }

  /**
   * Checks an ingress message before it enters the ingress pool (what the HTTP
   * layer calls on submit); throws `IngressValidationError` with the reason.
   * `nowMs` defaults to the last batch time.
   */
  validateIngress (msg: IngressMessage, nowMs = Number(this.state.timeNs / 1_000_000n)): void {
    if (!(msg.requestId instanceof Uint8Array) || msg.requestId.length !== 32 || typeof msg.methodName !== 'string' ||
      !(msg.arg instanceof Uint8Array) || !Number.isSafeInteger(msg.expiry)) {
      throw new IngressValidationError('MALFORMED', 'ingress message fields have the wrong type or size')
    }
    if (msg.arg.length > MAX_INGRESS_ARG_BYTES || msg.methodName.length > MAX_INGRESS_METHOD_BYTES) {
      throw new IngressValidationError('TOO_LARGE', `argument or method name too large (limit ${MAX_INGRESS_ARG_BYTES} bytes)`)
    }
    const routed = this.registry.routingTable().route(msg.canisterId)
    if (routed === undefined || !principalEquals(routed, this.subnetId) || this.state.canister(msg.canisterId) === undefined) {
      throw new IngressValidationError('CANISTER_NOT_FOUND', `canister ${msg.canisterId.toText()} is not on subnet ${this.subnetId.toText()}`)
    }
    if (msg.expiry < nowMs) throw new IngressValidationError('EXPIRED', `expiry ${msg.expiry} is before ${nowMs}`)
    if (msg.expiry > nowMs + MAX_INGRESS_TTL_MS) throw new IngressValidationError('EXPIRY_TOO_FAR', `expiry more than ${MAX_INGRESS_TTL_MS} ms ahead`)
    if (this.state.ingress.has(msg.requestId)) throw new IngressValidationError('DUPLICATE', 'request id already in the ingress history')
    if (this.state.ingress.full) throw new IngressValidationError('HISTORY_FULL', 'the ingress history is full')
    if (this.state.canister(msg.canisterId)!.inputIngress.length >= this.limits.ingressQueueCapacity) {
      throw new IngressValidationError('QUEUE_FULL', `canister ${msg.canisterId.toText()} ingress queue is full`)
    }
  }

  /**
   * A canister's run status in the executed state and whether it holds a
   * module (undefined when this subnet has no such canister): what the HTTP
   * layer checks to refuse ingress before consensus. Read-only; induction
   * checks again, as the state may change before the message is in a batch.
   */
  canisterStatusOf (id: CanisterId): { status: CanisterRunStatus, hasModule: boolean } | undefined {
    const c = this.state.canister(id)
    return c === undefined ? undefined : { status: c.status, hasModule: c.moduleHash.length > 0 }
  }

  /** The status of an ingress message in the executed state. */
  ingressStatus (requestId: Uint8Array): IngressStatus | undefined { return this.state.ingress.get(requestId) }

  /** Runs a query on the executed state; its changes are discarded. */
  async query (canisterId: CanisterId, method: string, arg: Uint8Array, caller: Principal): Promise<CallOutcome> {
    return await this.serialized(async () => {
      if (this.state.canister(canisterId) === undefined) {
        return { kind: 'reject', code: RejectCode.DestinationInvalid, message: `Canister ${canisterId.toText()} not found` }
      }
      const r = await this.sandbox.execute({
        kind: 'query', canisterId, method, arg, caller, time: this.state.timeNs, instructionLimit: this.limits.messageInstructions
      })
      return r.outcome
    })
  }

  /** Progress figures (not replicated state): streams, queues, counters since open. */
  stats (): MessageRoutingStats {
    const s = this.state
    const streams = s.sortedStreams().map(({ subnet, stream }) => ({
      subnet: subnet.toText(), begin: stream.begin, end: stream.end, messages: stream.length, bytes: stream.byteSize, signalsEnd: stream.signalsEnd, maxMessages: stream.limits.maxMessages
    }))
    const canisters = s.sortedCanisters().map(c => ({
      canisterId: c.id.toText(),
      inputRequests: c.inputRequests.length,
      inputIngress: c.inputIngress.length,
      inputResponses: c.inputResponses.length,
      outputQueue: c.output.length,
      outstandingCalls: c.callbacks.size,
      executed: c.executed
    }))
    return {
      height: s.height,
      certifiedHeight: this.latestCertifiedHeight,
      streams,
      messagesInStreams: streams.reduce((n, x) => n + x.messages, 0),
      outputsWaiting: canisters.reduce((n, c) => n + c.outputQueue, 0),
      xnetInducted: this.progress.xnetInducted,
      executed: this.progress.executed,
      criticalErrors: this.progress.criticalErrors,
      ingressHistory: s.ingress.size,
      canisters
    }
  }

  /** Waits for the running batch and refuses new ones. The sandbox belongs to the caller. */
  async close (): Promise<void> {
    await this.serialized(async () => { this.closed = true })
  }
}
