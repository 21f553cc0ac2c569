/**
 * Ed25519 signatures, and whole signed query answers, in a worker thread, in
 * batches. Signing a query answer (see ed25519-sign.ts) is the largest single
 * cost of a query; on the event loop it holds up every other request, and so
 * do the request id and the response hash that go with it (query-answer.ts).
 * libsodium signs synchronously only, so taking it off the loop needs a
 * thread of our own (node:crypto's callback form would use libuv's pool, but
 * with OpenSSL's slower signature and a job and a wake-up per signature). The
 * jobs that arrive in one turn of the event loop are sent together, as one
 * transferred buffer, at the end of the turn (`setImmediate`), and come back
 * as one; and while a batch is in the thread, new jobs wait and go as the
 * next batch as soon as its answer is back. So the hand-off (a message, a
 * wake-up of each thread) is paid per batch, and batches grow with the load
 * instead of the wake-ups.
 */
import { createPublicKey, type KeyObject } from 'node:crypto'
import { Worker } from 'node:worker_threads'
import { Principal } from '@icnet/types'
import { MAX_PENDING_SIGNATURES, MAX_SIGNING_BATCH } from './constants.js'
import type { Ed25519Sign } from './ed25519-sign.js'
import type { QueryAnswerJob } from './query-answer.js'
import { encodeSigningJobs, runSigningJob, type SigningJob } from './signing-jobs.js'

/** To the thread: the jobs of a batch (encodeSigningJobs). */
export interface SignBatch {
  id: number
  data: Uint8Array
}

/** From the thread: the outputs of batch `id`, in order, concatenated, and where each ends (an empty output: the job failed). */
export interface SignedBatch {
  id: number
  data: Uint8Array
  ends: Uint32Array
}

/** What the thread is started with. */
export interface SigningThreadData {
  key: KeyObject
  nodeId: Uint8Array
}

interface Waiter {
  resolve: (output: Uint8Array) => void
  reject: (err: unknown) => void
}

export class Ed25519SigningThread {
  readonly #key: KeyObject
  /** Signs on the caller's thread when the thread is not to be used. */
  readonly #signHere: Ed25519Sign
  readonly #nodeId: Uint8Array
  #worker: Worker | undefined
  /** The batch being collected in this turn of the event loop. */
  #jobs: SigningJob[] = []
  #waiters: Waiter[] = []
  #flushScheduled = false
  /** Batches sent and not answered yet, by id. */
  readonly #inFlight = new Map<number, Waiter[]>()
  #pending = 0
  #nextId = 0
  #closed = false

  /**
   * `signHere` signs on the caller's thread when the thread is not to be
   * used; `nodeId` (the identity in query answers) defaults to the
   * self-authenticating principal of the key's public key.
   */
  constructor (key: KeyObject, signHere: Ed25519Sign, nodeId?: Uint8Array) {
    this.#key = key
    this.#signHere = signHere
    this.#nodeId = nodeId ?? Principal.selfAuthenticating(new Uint8Array(createPublicKey(key).export({ format: 'der', type: 'spki' }))).toUint8Array()
  }

  /** Jobs waiting for or in the thread. */
  get pending (): number { return this.#pending }

  /** The 64-byte Ed25519 signature of `message`. */
  sign (message: Uint8Array): Promise<Uint8Array> {
    return this.#submit({ kind: 'sign', message })
  }

  /** The CBOR body of the signed query answer (see query-answer.ts). */
  answerQuery (job: QueryAnswerJob): Promise<Uint8Array> {
    return this.#submit({ kind: 'answer', job })
  }

  #submit (job: SigningJob): Promise<Uint8Array> {
    // Beyond the bound (or once closed), work here rather than queue without limit.
    if (this.#closed || this.#pending >= MAX_PENDING_SIGNATURES) {
      try {
        return Promise.resolve(runSigningJob(job, this.#signHere, this.#nodeId))
      } catch (err) {
        return Promise.reject(err)
      }
    }
    return new Promise<Uint8Array>((resolve, reject) => {
      this.#jobs.push(job)
      this.#waiters.push({ resolve, reject })
      this.#pending++
      if (this.#jobs.length >= MAX_SIGNING_BATCH) this.#flush()
      else if (!this.#flushScheduled && this.#inFlight.size === 0) {
        // While a batch is in the thread, jobs wait for its answer and go together then (#answered).
        this.#flushScheduled = true
        setImmediate(() => { this.#flush() })
      }
    })
  }

  /** Stops the thread; signatures still pending are refused, later ones are computed on the caller's thread. */
  async close (): Promise<void> {
    this.#closed = true
    const worker = this.#worker
    this.#worker = undefined
    this.#failAll(new Error('the signing thread was closed'))
    if (worker !== undefined) await worker.terminate()
  }

  #flush (): void {
    this.#flushScheduled = false
    const jobs = this.#jobs
    if (jobs.length === 0) return
    const waiters = this.#waiters
    this.#jobs = []
    this.#waiters = []
    const data = encodeSigningJobs(jobs)
    const id = this.#nextId++
    const thread = this.#thread()
    // The thread holds the process open only while it owes signatures.
    if (this.#inFlight.size === 0) thread.ref()
    this.#inFlight.set(id, waiters)
    const batch: SignBatch = { id, data }
    thread.postMessage(batch, [data.buffer])
  }

  #thread (): Worker {
    if (this.#worker !== undefined) return this.#worker
    const workerData: SigningThreadData = { key: this.#key, nodeId: this.#nodeId }
    const worker = new Worker(new URL('./signing-thread-main.js', import.meta.url), { workerData })
    worker.on('message', (answer: SignedBatch) => { this.#answered(answer) })
    worker.on('error', err => {
      if (this.#worker === worker) this.#worker = undefined
      this.#failAll(err)
    })
    worker.on('exit', () => {
      if (this.#worker === worker) {
        this.#worker = undefined
        this.#failAll(new Error('the signing thread exited'))
      }
    })
    // After the listeners: adding a 'message' listener refs the thread's port again.
    worker.unref()
    this.#worker = worker
    return worker
  }

  #answered (answer: SignedBatch): void {
    const waiters = this.#inFlight.get(answer.id)
    if (waiters === undefined) return
    this.#inFlight.delete(answer.id)
    if (this.#inFlight.size === 0) this.#worker?.unref()
    this.#pending -= waiters.length
    let start = 0
    for (let i = 0; i < waiters.length; i++) {
      const end = answer.ends[i]!
      if (end > start) waiters[i]!.resolve(answer.data.subarray(start, end))
      else waiters[i]!.reject(new Error('the signing thread could not do this job'))
      start = end
    }
    // The jobs that came while this batch was in the thread: at once, so that the thread never idles while work waits.
    if (this.#jobs.length > 0 && !this.#flushScheduled) this.#flush()
  }

  #failAll (err: unknown): void {
    const waiting = [...this.#inFlight.values(), this.#waiters]
    this.#inFlight.clear()
    this.#worker?.unref()
    this.#jobs = []
    this.#waiters = []
    for (const waiters of waiting) {
      this.#pending -= waiters.length
      for (const w of waiters) w.reject(err)
    }
  }
}
