import { BoundedQueue, LruMap, toHex, type RegistryView, type SubnetId } from '@icnet/types'
import { logger } from '@libp2p/logger'
import { artifactId } from './artifact-id.js'
import { checkArtifactKind, type ArtifactKind, type Verdict } from './artifact-kind.js'
import {
  ARTIFACT_ID_BYTES, DEFAULT_FETCH_QUEUE_LENGTH, DEFAULT_FETCH_RETRY_BACKOFF_MS, DEFAULT_FETCH_ROUNDS, DEFAULT_INLINE_THRESHOLD_BYTES, DEFAULT_MAX_CONCURRENT_BATCHES, DEFAULT_MAX_CONCURRENT_FETCHES,
  DEFAULT_STASH_LENGTH, DEFAULT_TOPIC_QUEUE_LENGTH, DEFAULT_VALIDATION_BATCH
} from './constants.js'
import { readGossipMessage, type Advert, type ArtifactIdFn, type GossipBody } from './envelope.js'
import { UnknownKindError } from './errors.js'
import { InMemoryArtifactPool, type ArtifactPool, type PoolEntry } from './pool.js'
import { defaultPriority, type Priority, type PriorityFn } from './priority.js'
import type { ArtifactGossipMetrics } from './metrics.js'
import type { SignatureSet, SignatureVerifier } from './verifier.js'

const log = logger('icnet:artifact-gossip:processor')

/** What to do when a topic queue is full: drop the oldest queued message (default) or the new one. */
export type DropPolicy = 'drop-oldest' | 'drop-newest'

/** A message as it arrived, before anything is decoded beyond the envelope. */
interface Received {
  msgId: string
  from: string
  body: GossipBody
  /** The artifact id (hex): the advert's, or the kind's id function over the inline bytes. */
  id: string
}

/** An artifact decoded and ready for signature checks. */
interface Prepared {
  msgId: string
  from: string
  kind: KindState<unknown>
  id: string
  bytes: Uint8Array
  artifact: unknown
  height: number
}

/** An artifact admitted to its pool, with its signature sets at `offset` in the batch's list. */
interface Admitted {
  p: Prepared
  sets: SignatureSet[]
  offset: number
}

interface KindState<A> {
  def: ArtifactKind<A>
  idFn: ArtifactIdFn
  pool: ArtifactPool<A>
  priority: PriorityFn
  queue: BoundedQueue<Received>
  stash: LruMap<string, Received>
}

/** An artifact that passed validation (or that we published). */
export interface AcceptedArtifact<A = unknown> {
  kind: string
  id: string
  artifact: A
  height: number
  /** The peer it came from; undefined for our own. */
  from?: string
}

/** The processor's bounds and pacing; the gossip service takes the same options and passes them on. */
export interface ProcessorTuning {
  inlineThresholdBytes?: number
  topicQueueLength?: number
  dropPolicy?: DropPolicy
  validationBatch?: number
  maxConcurrentBatches?: number
  stashLength?: number
  maxConcurrentFetches?: number
  fetchQueueLength?: number
  /** Rounds of fetch attempts per advert (default 4). */
  fetchRounds?: number
  /** Wait before the second round, doubled each round (default 1 s). */
  fetchRetryBackoffMs?: number
}

export interface ProcessorInit extends ProcessorTuning {
  subnetId: SubnetId
  registry: () => RegistryView
  verifier: SignatureVerifier
  metrics: ArtifactGossipMetrics
  /** Tells gossipsub the outcome for a message (forward, drop, or drop and penalise). */
  report(msgId: string, from: string, verdict: Verdict): void
  /** Fetches an advertised artifact's verified bytes. */
  fetch(advert: Advert, from: string): Promise<Uint8Array>
  onAccepted(accepted: AcceptedArtifact): void
  onRejected?(from: string, kind: string): void
}

/** An advert waiting for (or in) a fetch; `round` counts the rounds of candidates already tried. */
interface FetchJob {
  kind: KindState<unknown>
  item: Received
  advert: Advert
  round: number
}

export interface KindRegistration<A> {
  kind: ArtifactKind<A>
  /** Defaults to a bounded InMemoryArtifactPool. */
  pool?: ArtifactPool<A>
}

/**
 * The network-free core of artifact gossip: per-kind bounded queues, the priority
 * decision, fetch scheduling for adverts, and batched asynchronous validation.
 * Work is pulled, never pushed: the pump runs on a later turn of the event loop, takes
 * at most one batch per slot while the verifier accepts work, and leaves the rest in
 * bounded queues, so a flood costs bounded memory and never blocks the network thread.
 */
export class ArtifactProcessor {
  private readonly init: ProcessorInit
  private readonly kinds = new Map<string, KindState<unknown>>()
  private readonly fetchQueue: BoundedQueue<FetchJob>
  /** Adverts between fetch rounds (each holds a timer); bounded like the fetch queue. */
  private readonly fetchRetries = new Set<ReturnType<typeof setTimeout>>()
  private readonly ready: Prepared[] = []
  private readonly inline: number
  private readonly batchSize: number
  private readonly maxBatches: number
  private readonly maxFetches: number
  private batchesInFlight = 0
  private fetchesInFlight = 0
  private scheduled = false
  private retryTimer?: ReturnType<typeof setTimeout>
  private stopped = false
  private roundRobin = 0
  private readonly idMismatchWarned = new Set<string>()
  /** Calls to `validate` and signature checks, per kind (tests count them). */
  readonly validationCalls = new Map<string, number>()

  constructor (init: ProcessorInit) {
    this.init = init
    this.inline = init.inlineThresholdBytes ?? DEFAULT_INLINE_THRESHOLD_BYTES
    this.batchSize = init.validationBatch ?? DEFAULT_VALIDATION_BATCH
    this.maxBatches = init.maxConcurrentBatches ?? DEFAULT_MAX_CONCURRENT_BATCHES
    this.maxFetches = init.maxConcurrentFetches ?? DEFAULT_MAX_CONCURRENT_FETCHES
    this.fetchQueue = new BoundedQueue(init.fetchQueueLength ?? DEFAULT_FETCH_QUEUE_LENGTH)
  }

  get inlineThresholdBytes (): number { return this.inline }

  register<A> (reg: KindRegistration<A>, metricsFactory?: ConstructorParameters<typeof InMemoryArtifactPool>[1]): ArtifactPool<A> {
    const def = reg.kind
    checkArtifactKind(def as ArtifactKind<unknown>)
    if (this.kinds.has(def.kind)) throw new RangeError(`artifact kind ${def.kind} is already registered`)
    const pool = reg.pool ?? new InMemoryArtifactPool<A>(def.kind, metricsFactory)
    const state: KindState<A> = {
      def,
      idFn: def.id ?? artifactId,
      pool,
      priority: def.priority ?? defaultPriority,
      queue: new BoundedQueue(this.init.topicQueueLength ?? DEFAULT_TOPIC_QUEUE_LENGTH),
      stash: new LruMap(this.init.stashLength ?? DEFAULT_STASH_LENGTH)
    }
    // Stored type-erased: the processor only hands artifacts back to the kind's own functions.
    this.kinds.set(def.kind, state as KindState<unknown>)
    return pool
  }

  kindNames (): string[] { return [...this.kinds.keys()] }

  pool<A = unknown> (kind: string): ArtifactPool<A> { return this.state(kind).pool as ArtifactPool<A> }

  kindDef<A = unknown> (kind: string): ArtifactKind<A> { return this.state(kind).def as ArtifactKind<A> }

  /** Messages queued for validation for a kind (bounded by topicQueueLength). */
  queueLength (kind: string): number { return this.state(kind).queue.length }
  queueLimit (kind: string): number { return this.state(kind).queue.limit }
  stashLength (kind: string): number { return this.state(kind).stash.size }
  get fetchQueueLength (): number { return this.fetchQueue.length }

  /**
   * Takes one gossip message for `kind`. The envelope is decoded (once: `msgIdFn` already
   * did it) and duplicates are dropped. When nothing is waiting, the artifact is judged
   * right here, inside gossipsub's message event: an artifact without signature sets gets
   * its verdict, and so its forward to our mesh peers, before this returns, and one with
   * signature sets goes to the verifier at once. Otherwise it waits in the kind's bounded
   * queue for the pump, which batches.
   */
  receive (kind: string, msgId: string, from: string, data: Uint8Array): void {
    const state = this.kinds.get(kind)
    if (state == null || this.stopped) { this.init.report(msgId, from, 'ignore'); return }
    let read: { body: GossipBody, id: string }
    try {
      read = readGossipMessage(data, this.inline, state.idFn)
    } catch (err) {
      log('malformed gossip message from %s: %s', from, (err as { code?: string }).code)
      this.reject(state, msgId, from)
      return
    }
    const { body, id } = read
    this.init.metrics.received.inc(1, { kind, mode: body.type })
    if (id !== msgId) this.warnIdMismatch(kind)
    if (state.pool.has(id)) {
      this.init.metrics.duplicates.inc(1, { kind })
      this.init.report(msgId, from, 'ignore')
      return
    }
    const item: Received = { msgId, from, body, id }
    if (this.idle()) {
      const prepared = this.prepare(state, item)
      if (prepared != null) this.validate([prepared])
      this.startFetches()
      return
    }
    this.enqueue(state, item)
    this.schedule()
  }

  /** Publishes locally: decodes our own bytes and stores them as validated. */
  addLocal<A> (kind: string, bytes: Uint8Array): PoolEntry<A> {
    return this.addLocalWithId<A>(kind, bytes).entry
  }

  /** `addLocal`, also giving the id bytes and the function that computed them (for the message id). */
  addLocalWithId<A> (kind: string, bytes: Uint8Array): { entry: PoolEntry<A>, id: Uint8Array, idFn: ArtifactIdFn } {
    const state = this.state(kind) as KindState<A>
    if (bytes.byteLength > state.def.maxBytes) throw new RangeError(`artifact of ${bytes.byteLength} bytes exceeds ${kind}'s maxBytes`)
    const artifact = state.def.decode(bytes)
    const height = state.def.height(artifact)
    const idBytes = state.idFn(bytes)
    if (idBytes.byteLength !== ARTIFACT_ID_BYTES) throw new RangeError(`${kind}'s id function must return ${ARTIFACT_ID_BYTES} bytes`)
    const id = toHex(idBytes)
    const result = state.pool.add({ id, artifact, bytes, height }, 'validated')
    if (result === 'full' || result === 'below-purge') throw new RangeError(`pool refused artifact: ${result}`)
    return { entry: state.pool.get(id)!, id: idBytes, idFn: state.idFn }
  }

  /** A kind's artifact id (hex) of `bytes`, as the fetcher checks served bytes against adverts. */
  idHexOf (kind: string, bytes: Uint8Array): string {
    return toHex(this.state(kind).idFn(bytes))
  }

  /** Purges the pool below `height` and re-judges stashed work against the new floor. */
  purgeBelow (kind: string, height: number): number {
    const state = this.state(kind)
    const removed = state.pool.purgeBelow(height)
    this.reprioritize(kind)
    return removed
  }

  /** Re-applies the priority function to stashed artifacts (call when heights move on). */
  reprioritize (kind?: string): void {
    const states = kind == null ? [...this.kinds.values()] : [this.state(kind)]
    for (const state of states) {
      for (const [msgId, item] of [...state.stash.entries()]) {
        const height = item.body.type === 'advert' ? item.body.advert.height : undefined
        // Inline artifacts are decoded again in the pump; adverts are judged on their height.
        const p = height == null ? 'fetch' : this.priorityOf(state, item, height)
        if (p === 'stash') continue
        state.stash.delete(msgId)
        if (p === 'drop') this.drop(state, item, 'priority')
        else this.enqueue(state, item)
      }
      this.init.metrics.stashDepth.set(state.stash.size, { kind: state.def.kind })
    }
    this.schedule()
  }

  stop (): void {
    this.stopped = true
    if (this.retryTimer != null) clearTimeout(this.retryTimer)
    for (const state of this.kinds.values()) {
      state.queue.clear()
      state.stash.clear()
      this.init.metrics.queueDepth.set(0, { kind: state.def.kind })
    }
    this.fetchQueue.clear()
    for (const timer of this.fetchRetries) clearTimeout(timer)
    this.fetchRetries.clear()
    this.ready.length = 0
  }

  private state (kind: string): KindState<unknown> {
    const s = this.kinds.get(kind)
    if (s == null) throw new UnknownKindError(`artifact kind ${kind} is not registered`)
    return s
  }

  private enqueue (state: KindState<unknown>, item: Received): void {
    if (state.queue.full) {
      const policy = this.init.dropPolicy ?? 'drop-oldest'
      const victim = policy === 'drop-oldest' ? state.queue.shift()! : item
      this.drop(state, victim, 'queue_full')
      if (victim === item) return
    }
    state.queue.push(item)
    this.init.metrics.queueDepth.set(state.queue.length, { kind: state.def.kind })
  }

  private drop (state: KindState<unknown>, item: Received, reason: string): void {
    this.init.metrics.dropped.inc(1, { kind: state.def.kind, reason })
    this.init.report(item.msgId, item.from, 'ignore')
  }

  private reject (state: KindState<unknown>, msgId: string, from: string): void {
    this.init.metrics.validated.inc(1, { kind: state.def.kind, outcome: 'reject' })
    this.init.report(msgId, from, 'reject')
    this.init.onRejected?.(from, state.def.kind)
  }

  private priorityOf (state: KindState<unknown>, item: Received, height: number): Priority {
    const size = item.body.type === 'advert' ? item.body.advert.size : item.body.bytes.byteLength
    return state.priority({ kind: state.def.kind, height, size, inline: item.body.type === 'inline' }, { purgeHeight: state.pool.purgeHeight })
  }

  /**
   * The host's gossipsub computes message ids without the kind's id function (built from
   * kind names only, or with another msgIdFn): things still work, keyed by artifact id,
   * but gossipsub's duplicate detection no longer matches ours. Said once per kind.
   */
  private warnIdMismatch (kind: string): void {
    if (this.idMismatchWarned.has(kind)) return
    this.idMismatchWarned.add(kind)
    log.error('message ids on %s are not artifact ids: build gossipsub with artifactGossipsubOptions({ kinds }) listing this kind\'s definition', kind)
  }

  /** Nothing queued, a validation slot free and the verifier accepting work: a new artifact need not wait. */
  private idle (): boolean {
    return this.batchesInFlight < this.maxBatches && this.pendingInput() === 0 && !this.verifierBusy()
  }

  private schedule (): void {
    if (this.scheduled || this.stopped) return
    this.scheduled = true
    const run = (): void => { this.scheduled = false; this.pump() }
    // Idle: run right after the current handler, so a lone artifact pays no extra event-loop
    // turn. Busy: setImmediate, so a flood yields to the network between batches (lodestar#5604).
    if (this.batchesInFlight === 0 && this.pendingInput() <= 1) queueMicrotask(run)
    else setImmediate(run)
  }

  private pendingInput (): number {
    let n = this.ready.length
    for (const state of this.kinds.values()) n += state.queue.length
    return n
  }

  private verifierBusy (): boolean {
    return this.init.verifier.canAcceptWork?.() === false
  }

  private nextReceived (): { state: KindState<unknown>, item: Received } | undefined {
    const states = [...this.kinds.values()]
    for (let i = 0; i < states.length; i++) {
      const state = states[(this.roundRobin + i) % states.length]!
      const item = state.queue.shift()
      if (item != null) {
        this.roundRobin = (this.roundRobin + i + 1) % states.length
        this.init.metrics.queueDepth.set(state.queue.length, { kind: state.def.kind })
        return { state, item }
      }
    }
    return undefined
  }

  private pump (): void {
    if (this.stopped) return
    this.startFetches()
    // A few batches per turn: artifacts without signature sets are judged synchronously, so
    // without this bound a flood would be drained in one go while the network waits.
    for (let turn = 0; turn < this.maxBatches && this.batchesInFlight < this.maxBatches; turn++) {
      if (this.verifierBusy()) { this.retryLater(); return }
      const batch = this.takeBatch()
      if (batch.length === 0) break
      this.validate(batch)
    }
    this.startFetches()
    if (this.batchesInFlight < this.maxBatches && this.pendingInput() > 0) this.schedule()
  }

  /** Up to `batchSize` artifacts: fetched ones first, then queued ones, kinds in turn. */
  private takeBatch (): Prepared[] {
    const batch: Prepared[] = []
    while (batch.length < this.batchSize) {
      const ready = this.ready.shift()
      if (ready != null) { batch.push(ready); continue }
      const next = this.nextReceived()
      if (next == null) break
      const prepared = this.prepare(next.state, next.item)
      if (prepared != null) batch.push(prepared)
    }
    return batch
  }

  private retryLater (): void {
    if (this.retryTimer != null) return
    this.retryTimer = setTimeout(() => { this.retryTimer = undefined; this.schedule() }, 10)
  }

  /** Decodes inline bytes or routes an advert to the fetcher; undefined when the item is done with. */
  private prepare (state: KindState<unknown>, item: Received): Prepared | undefined {
    const kind = state.def.kind
    if (item.body.type === 'advert') {
      const advert = item.body.advert
      if (advert.kind !== kind || advert.size > state.def.maxBytes || advert.size <= this.inline) {
        // Wrong topic, larger than the kind allows, or small enough that it should have come inline.
        this.reject(state, item.msgId, item.from)
        return undefined
      }
      if (state.pool.has(advert.id)) { this.init.metrics.duplicates.inc(1, { kind }); this.init.report(item.msgId, item.from, 'ignore'); return undefined }
      const p = this.priorityOf(state, item, advert.height)
      if (p !== 'fetch') { this.park(state, item, p); return undefined }
      if (this.fetchQueue.full) { this.drop(state, this.fetchQueue.shift()!.item, 'queue_full') }
      this.fetchQueue.push({ kind: state, item, advert, round: 0 })
      this.init.metrics.fetchQueueDepth.set(this.fetchQueue.length)
      return undefined
    }
    const bytes = item.body.bytes
    if (bytes.byteLength > state.def.maxBytes) { this.reject(state, item.msgId, item.from); return undefined }
    let artifact: unknown
    let height: number
    try {
      artifact = state.def.decode(bytes)
      height = state.def.height(artifact)
      if (!Number.isSafeInteger(height) || height < 0) throw new RangeError('height out of range')
    } catch (err) {
      log('undecodable %s from %s: %s', kind, item.from, (err as Error)?.message)
      this.reject(state, item.msgId, item.from)
      return undefined
    }
    const p = this.priorityOf(state, item, height)
    if (p !== 'fetch') { this.park(state, item, p); return undefined }
    return { msgId: item.msgId, from: item.from, kind: state, id: item.id, bytes, artifact, height }
  }

  private park (state: KindState<unknown>, item: Received, p: Priority): void {
    if (p === 'drop') { this.drop(state, item, 'priority'); return }
    if (state.stash.size >= state.stash.limit) {
      const oldest = state.stash.keys().next().value as string
      this.drop(state, state.stash.get(oldest)!, 'stash_full')
      state.stash.delete(oldest)
    }
    state.stash.set(item.msgId, item)
    this.init.metrics.stashDepth.set(state.stash.size, { kind: state.def.kind })
  }

  private startFetches (): void {
    while (this.fetchesInFlight < this.maxFetches && this.fetchQueue.length > 0) {
      const job = this.fetchQueue.shift()!
      this.init.metrics.fetchQueueDepth.set(this.fetchQueue.length)
      const { kind: state, item, advert } = job
      // The floor may have moved while the advert waited.
      if (this.priorityOf(state, item, advert.height) === 'drop') { this.drop(state, item, 'purged'); continue }
      this.fetchesInFlight++
      this.init.fetch(advert, item.from)
        .then(bytes => {
          if (this.stopped) return
          if (bytes.byteLength !== advert.size) { this.reject(state, item.msgId, item.from); return }
          let artifact: unknown
          let height: number
          try {
            artifact = state.def.decode(bytes)
            height = state.def.height(artifact)
          } catch {
            this.reject(state, item.msgId, item.from)
            return
          }
          if (height !== advert.height) { this.reject(state, item.msgId, item.from); return }
          const prepared: Prepared = { msgId: item.msgId, from: item.from, kind: state, id: advert.id, bytes, artifact, height }
          // Idle: straight to validation (and the advert's forward), no pump turn in between.
          if (this.idle()) this.validate([prepared])
          else this.ready.push(prepared)
        }, () => {
          // Nobody served it: not proof of malice (peers may be overloaded, not hold it yet,
          // or have purged it), so no penalty. Try another round later, while rounds remain.
          if (this.stopped) return
          if (!this.retryFetchLater(job)) {
            this.init.metrics.dropped.inc(1, { kind: state.def.kind, reason: 'fetch_failed' })
            this.init.report(item.msgId, item.from, 'ignore')
          }
        })
        .finally(() => { this.fetchesInFlight--; this.schedule() })
    }
  }

  /** Puts a failed advert back in the fetch queue after a backoff; false when out of rounds or room. */
  private retryFetchLater (job: FetchJob): boolean {
    const rounds = this.init.fetchRounds ?? DEFAULT_FETCH_ROUNDS
    if (job.round + 1 >= rounds || this.fetchRetries.size >= this.fetchQueue.limit) return false
    const backoff = (this.init.fetchRetryBackoffMs ?? DEFAULT_FETCH_RETRY_BACKOFF_MS) * 2 ** job.round
    const timer = setTimeout(() => {
      this.fetchRetries.delete(timer)
      if (this.stopped) return
      const next: FetchJob = { ...job, round: job.round + 1 }
      if (job.kind.pool.has(job.advert.id)) { this.init.metrics.duplicates.inc(1, { kind: job.kind.def.kind }); this.init.report(job.item.msgId, job.item.from, 'ignore'); return }
      if (this.fetchQueue.full) { this.drop(job.kind, this.fetchQueue.shift()!.item, 'queue_full') }
      this.fetchQueue.push(next)
      this.init.metrics.fetchQueueDepth.set(this.fetchQueue.length)
      this.schedule()
    }, backoff)
    this.fetchRetries.add(timer)
    return true
  }

  /**
   * Admits a batch to the pool's unvalidated section and judges it: at once when no
   * signature needs checking (and `validate`, if any, answers synchronously), otherwise
   * after one `verifyMany` call for the whole batch. Async work holds a validation slot.
   */
  private validate (batch: Prepared[]): void {
    const admitted: Admitted[] = []
    const allSets: SignatureSet[] = []
    for (const p of batch) {
      const kind = p.kind.def.kind
      const added = p.kind.pool.add({ id: p.id, artifact: p.artifact, bytes: p.bytes, height: p.height, from: p.from }, 'unvalidated')
      if (added === 'duplicate') { this.init.metrics.duplicates.inc(1, { kind }); this.init.report(p.msgId, p.from, 'ignore'); continue }
      if (added === 'below-purge') { this.init.metrics.dropped.inc(1, { kind, reason: 'purged' }); this.init.report(p.msgId, p.from, 'ignore'); continue }
      if (added === 'full') { this.init.metrics.dropped.inc(1, { kind, reason: 'pool_full' }); this.init.report(p.msgId, p.from, 'ignore'); continue }
      let sets: SignatureSet[]
      try {
        sets = p.kind.def.signatureSets(p.artifact)
      } catch {
        p.kind.pool.remove(p.id)
        this.reject(p.kind, p.msgId, p.from)
        continue
      }
      this.validationCalls.set(kind, (this.validationCalls.get(kind) ?? 0) + 1)
      if (sets.length > 0) this.init.metrics.signatureSets.inc(sets.length, { kind })
      admitted.push({ p, sets, offset: allSets.length })
      for (const s of sets) allSets.push(s)
    }
    if (admitted.length === 0) return
    if (allSets.length === 0) { this.conclude(admitted, []); return }
    this.batchesInFlight++
    this.init.verifier.verifyMany(allSets)
      .then(results => { this.conclude(admitted, results) }, (err: Error) => {
        // The verifier failed (e.g. closed): we cannot judge, so nobody is penalised.
        log.error('verifier failed: %s', err?.message)
        for (const { p } of admitted) this.finish(p, 'ignore')
      })
      .catch((err: Error) => { log.error('validation batch failed: %s', err?.message) })
      .finally(() => { this.batchesInFlight--; this.schedule() })
  }

  /** Verdicts for admitted artifacts given the verifier's results; async `validate` calls share one slot. */
  private conclude (admitted: Admitted[], results: boolean[]): void {
    const pending: Array<Promise<void>> = []
    let registry: RegistryView | undefined
    for (const { p, sets, offset } of admitted) {
      let verdict: Verdict | Promise<Verdict> = 'accept'
      for (let i = 0; i < sets.length; i++) if (results[offset + i] !== true) { verdict = 'reject'; break }
      if (verdict === 'accept' && p.kind.def.validate != null) {
        registry ??= this.init.registry()
        verdict = this.runValidate(p, registry)
      }
      if (typeof verdict === 'string') this.finish(p, verdict)
      else pending.push(verdict.then(v => { this.finish(p, v) }))
    }
    if (pending.length === 0) return
    this.batchesInFlight++
    void Promise.all(pending).finally(() => { this.batchesInFlight--; this.schedule() })
  }

  /** The kind's own checks; a throw or a rejected promise counts as `reject`. */
  private runValidate (p: Prepared, registry: RegistryView): Verdict | Promise<Verdict> {
    const onError = (err: unknown): Verdict => {
      log('validate threw for %s: %s', p.id, (err as Error)?.message)
      return 'reject'
    }
    try {
      const v = p.kind.def.validate!(p.artifact, { subnetId: this.init.subnetId, registry, pool: p.kind.pool, from: p.from })
      return typeof v === 'string' ? v : Promise.resolve(v).catch(onError)
    } catch (err) {
      return onError(err)
    }
  }

  private finish (p: Prepared, verdict: Verdict): void {
    if (this.stopped) return
    const kind = p.kind.def.kind
    if (verdict === 'accept') {
      p.kind.pool.markValidated(p.id)
      this.init.metrics.validated.inc(1, { kind, outcome: 'accept' })
      this.init.report(p.msgId, p.from, 'accept')
      this.init.onAccepted({ kind, id: p.id, artifact: p.artifact, height: p.height, from: p.from })
      return
    }
    p.kind.pool.remove(p.id)
    if (verdict === 'reject') { this.reject(p.kind, p.msgId, p.from); return }
    this.init.metrics.validated.inc(1, { kind, outcome: 'ignore' })
    this.init.report(p.msgId, p.from, 'ignore')
  }
}
