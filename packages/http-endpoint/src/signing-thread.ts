/**
 * Ed25519 signatures in a worker thread, in batches. Signing a query answer
 * (see ed25519-sign.ts) is the largest single cost of a query; on the event
 * loop it holds up every other request. libsodium signs synchronously only, so
 * taking it off the loop needs a thread of our own (node:crypto's callback
 * form would use libuv's pool, but with OpenSSL's slower signature and a job
 * and a wake-up per signature). The requests that finish in one turn of the
 * event loop are sent together, as one message, at the end of the turn
 * (`setImmediate`), and come back as one message: the hand-off is paid per
 * batch (about six signatures a batch under the HTTP benchmark's load), not
 * per signature.
 */
import type { KeyObject } from 'node:crypto'
import { Worker } from 'node:worker_threads'
import { MAX_PENDING_SIGNATURES, MAX_SIGNING_BATCH } from './constants.js'
import type { Ed25519Sign } from './ed25519-sign.js'

/** To the thread: the messages of a batch, concatenated, and where each ends. */
export interface SignBatch {
  id: number
  data: Uint8Array
  ends: Uint32Array
}

/** From the thread: 64 bytes per message of batch `id`, in order. */
export interface SignedBatch {
  id: number
  signatures: Uint8Array
}

interface Waiter {
  resolve: (signature: Uint8Array) => void
  reject: (err: unknown) => void
}

export class Ed25519SigningThread {
  readonly #key: KeyObject
  /** Signs on the caller's thread when the thread is not to be used. */
  readonly #signHere: Ed25519Sign
  #worker: Worker | undefined
  /** The batch being collected in this turn of the event loop. */
  #messages: Uint8Array[] = []
  #waiters: Waiter[] = []
  #flushScheduled = false
  /** Batches sent and not answered yet, by id. */
  readonly #inFlight = new Map<number, Waiter[]>()
  #pending = 0
  #nextId = 0
  #closed = false

  constructor (key: KeyObject, signHere: Ed25519Sign) {
    this.#key = key
    this.#signHere = signHere
  }

  /** Signatures waiting for or in the thread. */
  get pending (): number { return this.#pending }

  sign (message: Uint8Array): Promise<Uint8Array> {
    // Beyond the bound (or once closed), sign here rather than queue without limit.
    if (this.#closed || this.#pending >= MAX_PENDING_SIGNATURES) return Promise.resolve(this.#signHere(message))
    return new Promise<Uint8Array>((resolve, reject) => {
      this.#messages.push(message)
      this.#waiters.push({ resolve, reject })
      this.#pending++
      if (this.#messages.length >= MAX_SIGNING_BATCH) this.#flush()
      else if (!this.#flushScheduled) {
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
    const messages = this.#messages
    if (messages.length === 0) return
    const waiters = this.#waiters
    this.#messages = []
    this.#waiters = []
    let size = 0
    for (const m of messages) size += m.length
    const data = new Uint8Array(size)
    const ends = new Uint32Array(messages.length)
    let at = 0
    for (let i = 0; i < messages.length; i++) {
      data.set(messages[i]!, at)
      at += messages[i]!.length
      ends[i] = at
    }
    const id = this.#nextId++
    const thread = this.#thread()
    // The thread holds the process open only while it owes signatures.
    if (this.#inFlight.size === 0) thread.ref()
    this.#inFlight.set(id, waiters)
    const batch: SignBatch = { id, data, ends }
    thread.postMessage(batch, [data.buffer, ends.buffer])
  }

  #thread (): Worker {
    if (this.#worker !== undefined) return this.#worker
    const worker = new Worker(new URL('./signing-thread-main.js', import.meta.url), { workerData: { key: this.#key } })
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
    for (let i = 0; i < waiters.length; i++) waiters[i]!.resolve(answer.signatures.subarray(i * 64, i * 64 + 64))
  }

  #failAll (err: unknown): void {
    const waiting = [...this.#inFlight.values(), this.#waiters]
    this.#inFlight.clear()
    this.#worker?.unref()
    this.#messages = []
    this.#waiters = []
    for (const waiters of waiting) {
      this.#pending -= waiters.length
      for (const w of waiters) w.reject(err)
    }
  }
}
