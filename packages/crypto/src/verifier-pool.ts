/**
 * BlsVerifierPool: node-signature verification on worker threads, batched.
 *
 * Callers hand in single signature sets; the pool buffers them for up to
 * `maxWaitMs` or until `maxBatch` are waiting, then a worker verifies the
 * whole batch at once (verifyMultipleSignatures, about 3.5x cheaper per
 * signature than one by one). If a batch fails, the worker re-checks each set
 * on its own, so exactly the bad sets come back false.
 *
 * The queue is bounded (`maxQueue` sets not yet handed to a worker): beyond
 * it, verify() rejects with QueueFullError and nothing is accepted; callers
 * can ask canAcceptWork() first and push back on their peers. Idle workers
 * do not keep the process alive, and close() ends them.
 */
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { logger } from '@libp2p/logger'
import { IcnetError, noopMetrics, QueueFullError, type Counter, type Gauge, type Histogram, type Metrics } from '@icnet/types'
import { PoolClosedError } from './errors.js'
import type { WireSignatureSet, WorkerRequest, WorkerResponse } from './verifier-protocol.js'

const log = logger('icnet:crypto:verifier-pool')

export interface BlsVerifierPoolOptions {
  /** Worker threads. Default: one per core but one, at least 1. */
  workers?: number
  /** Most sets in one batch. Default 64: batching gains flatten out beyond it, and a failed batch stays cheap to re-check. */
  maxBatch?: number
  /** Longest a set waits for companions before a partial batch goes out. Default 20 ms (a small fraction of a consensus round). */
  maxWaitMs?: number
  /** Most sets waiting for a worker; more are refused with QueueFullError. Default 8192. */
  maxQueue?: number
  metrics?: Metrics
}

/** One signature set: the public key as 48 bytes (objects cannot cross threads). */
export type PoolSignatureSet = WireSignatureSet

/** A worker thread died or answered with an internal error. */
export class VerifierWorkerError extends IcnetError {
  constructor (message: string, options?: { cause?: unknown }) { super(message, 'ERR_VERIFIER_WORKER', options) }
}

interface QueuedSet {
  set: WireSignatureSet
  resolve: (valid: boolean) => void
  reject: (err: Error) => void
}

interface WorkerSlot {
  worker: Worker
  inFlight?: { id: number, jobs: QueuedSet[] }
  gone: boolean
}

interface PoolMetrics {
  batches: Counter
  sets: Counter
  batchFailures: Counter
  invalidSets: Counter
  queueFull: Counter
  queueDepth: Gauge
  batchSize: Histogram
}

export const DEFAULT_MAX_BATCH = 64
export const DEFAULT_MAX_WAIT_MS = 20
export const DEFAULT_MAX_QUEUE = 8192

function isWireSet (s: unknown): s is WireSignatureSet {
  const v = s as WireSignatureSet | undefined
  return v != null && v.publicKey instanceof Uint8Array && v.message instanceof Uint8Array && v.signature instanceof Uint8Array
}

export class BlsVerifierPool {
  readonly workerCount: number
  readonly maxBatch: number
  readonly maxWaitMs: number
  readonly maxQueue: number

  private readonly slots: WorkerSlot[] = []
  private queue: QueuedSet[] = []
  private timer: ReturnType<typeof setTimeout> | undefined
  /** The oldest queued set has waited maxWaitMs: send partial batches as soon as a worker is free. */
  private overdue = false
  private closed = false
  private closing: Promise<void> | undefined
  private nextId = 1
  private readonly metrics: PoolMetrics

  constructor (options: BlsVerifierPoolOptions = {}) {
    this.workerCount = Math.max(1, Math.floor(options.workers ?? availableParallelism() - 1))
    this.maxBatch = Math.max(1, Math.floor(options.maxBatch ?? DEFAULT_MAX_BATCH))
    this.maxWaitMs = Math.max(0, options.maxWaitMs ?? DEFAULT_MAX_WAIT_MS)
    this.maxQueue = Math.max(1, Math.floor(options.maxQueue ?? DEFAULT_MAX_QUEUE))
    const m = options.metrics ?? noopMetrics
    this.metrics = {
      batches: m.counter({ name: 'icnet_crypto_verifier_batches_total', help: 'Batches verified by the BLS verifier pool' }),
      sets: m.counter({ name: 'icnet_crypto_verifier_sets_total', help: 'Signature sets verified by the BLS verifier pool' }),
      batchFailures: m.counter({ name: 'icnet_crypto_verifier_batch_failures_total', help: 'Batches that failed and were re-checked set by set' }),
      invalidSets: m.counter({ name: 'icnet_crypto_verifier_invalid_sets_total', help: 'Signature sets found invalid' }),
      queueFull: m.counter({ name: 'icnet_crypto_verifier_queue_full_total', help: 'Verification requests refused because the queue was full' }),
      queueDepth: m.gauge({ name: 'icnet_crypto_verifier_queue_depth', help: 'Signature sets waiting for a worker' }),
      batchSize: m.histogram({ name: 'icnet_crypto_verifier_batch_size', help: 'Sets per batch', buckets: [1, 2, 4, 8, 16, 32, 64, 128] })
    }
    for (let i = 0; i < this.workerCount; i++) this.slots.push(this.spawn())
  }

  /** Whether a verify() now would be accepted (not closed, queue not full). */
  canAcceptWork (): boolean {
    return !this.closed && this.queue.length < this.maxQueue
  }

  /** Sets waiting for a worker. */
  get queueDepth (): number {
    return this.queue.length
  }

  /** Verifies one set; false for an invalid or malformed one. Rejects with QueueFullError or PoolClosedError. */
  async verify (set: PoolSignatureSet): Promise<boolean> {
    const [result] = await this.verifyMany([set])
    return result!
  }

  /**
   * Verifies many sets (they may share batches with other callers' sets).
   * All or nothing on admission: if they do not all fit in the queue, none is
   * queued and the promise rejects with QueueFullError.
   */
  async verifyMany (sets: readonly PoolSignatureSet[]): Promise<boolean[]> {
    if (this.closed) throw new PoolClosedError('verifier pool is closed')
    if (this.queue.length + sets.length > this.maxQueue) {
      this.metrics.queueFull.inc()
      throw new QueueFullError(`verifier queue full (${this.queue.length} of ${this.maxQueue} waiting)`)
    }
    const promises = sets.map(async set => {
      if (!isWireSet(set)) return false
      return new Promise<boolean>((resolve, reject) => {
        this.queue.push({ set: { publicKey: set.publicKey, message: set.message, signature: set.signature }, resolve, reject })
      })
    })
    this.metrics.queueDepth.set(this.queue.length)
    this.schedule()
    return Promise.all(promises)
  }

  /**
   * Refuses new work, fails sets still queued with PoolClosedError, lets
   * batches already on a worker finish, then ends the workers.
   */
  async close (): Promise<void> {
    if (this.closing !== undefined) return this.closing
    this.closed = true
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    const queued = this.queue
    this.queue = []
    this.metrics.queueDepth.set(0)
    for (const job of queued) job.reject(new PoolClosedError('verifier pool closed before this set was verified'))
    this.closing = (async () => {
      await Promise.all(this.slots.map(async slot => {
        if (slot.inFlight !== undefined) await new Promise<void>(resolve => slot.worker.once('message', () => resolve()).once('exit', () => resolve()))
        slot.gone = true
        await slot.worker.terminate()
      }))
    })()
    return this.closing
  }

  private spawn (): WorkerSlot {
    const worker = new Worker(new URL('./verifier-worker.js', import.meta.url))
    worker.unref() // idle workers never hold the process open
    const slot: WorkerSlot = { worker, gone: false }
    worker.on('message', (response: WorkerResponse) => this.onResponse(slot, response))
    worker.on('error', err => this.onWorkerGone(slot, err))
    worker.on('exit', code => this.onWorkerGone(slot, new VerifierWorkerError(`verifier worker exited with code ${code}`)))
    return slot
  }

  private schedule (): void {
    this.dispatch()
    if (this.queue.length === 0) {
      this.overdue = false
      if (this.timer !== undefined) { clearTimeout(this.timer); this.timer = undefined }
      return
    }
    if (this.timer === undefined && !this.overdue) {
      this.timer = setTimeout(() => {
        this.timer = undefined
        this.overdue = true
        this.schedule()
      }, this.maxWaitMs)
    }
  }

  /** Hands batches to idle workers: full ones always, partial ones once overdue. */
  private dispatch (): void {
    for (const slot of this.slots) {
      if (this.queue.length === 0) break
      if (slot.gone || slot.inFlight !== undefined) continue
      if (this.queue.length < this.maxBatch && !this.overdue) break
      const jobs = this.queue.splice(0, this.maxBatch)
      const id = this.nextId++
      slot.inFlight = { id, jobs }
      slot.worker.ref() // a batch in flight keeps the process alive until it answers
      const request: WorkerRequest = { id, sets: jobs.map(j => j.set) }
      slot.worker.postMessage(request)
      this.metrics.batches.inc()
      this.metrics.sets.inc(jobs.length)
      this.metrics.batchSize.observe(jobs.length)
    }
    this.metrics.queueDepth.set(this.queue.length)
  }

  private onResponse (slot: WorkerSlot, response: WorkerResponse): void {
    const inFlight = slot.inFlight
    if (inFlight === undefined || inFlight.id !== response.id) return
    slot.inFlight = undefined
    slot.worker.unref()
    if (response.error !== undefined) {
      const err = new VerifierWorkerError(response.error)
      for (const job of inFlight.jobs) job.reject(err)
    } else {
      if (response.batchFailed) this.metrics.batchFailures.inc()
      inFlight.jobs.forEach((job, i) => {
        const valid = response.results[i] === true
        if (!valid) this.metrics.invalidSets.inc()
        job.resolve(valid)
      })
    }
    if (!this.closed) this.schedule()
  }

  private onWorkerGone (slot: WorkerSlot, err: Error): void {
    if (slot.gone) return
    slot.gone = true
    const inFlight = slot.inFlight
    slot.inFlight = undefined
    if (inFlight !== undefined) {
      const failure = err instanceof VerifierWorkerError ? err : new VerifierWorkerError('verifier worker failed', { cause: err })
      for (const job of inFlight.jobs) job.reject(failure)
    }
    if (this.closed) return
    log.error('verifier worker gone, replacing it: %s', err.message)
    const index = this.slots.indexOf(slot)
    if (index >= 0) this.slots[index] = this.spawn()
    this.schedule()
  }
}
