import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { logger } from '@libp2p/logger'
import type { Uint8ArrayList } from 'uint8arraylist'
import { MAX_RESPONSE_BYTES, ROOT_WORKERS_MAX_PENDING, ROOT_WORKERS_MIN_BYTES, ROOT_WORKERS_MIN_MESSAGES } from './constants.js'
import { decodeCertifiedSlice, type CertifiedStreamSlice } from './slice.js'
import { copyChunks, unfilled } from './slice-codec.js'
import { certificationKey, precomputedRoots, rememberLeafDigests, sliceWireBytes, verifiedCertifications } from './slice-memo.js'
import type { RootJob, RootResult } from './slice-root-protocol.js'

const log = logger('icnet:xnet-stream:root-workers')
/** Hand-over buffers grow in steps of this (slices of one stream are of similar size). */
const BUFFER_ROUNDING = 256 * 1024
/** Hand-over buffers kept for reuse, in bytes: a few pulls' worth of 4 MiB slices. */
const SPARE_BYTES_MAX = 16 * 1024 * 1024

export interface SliceRootWorkersOptions {
  /** Worker threads. Default: one per core but one, at most 2 (the hashing of one pull rarely needs more), at least 1. */
  workers?: number
  /** Slices with fewer messages are left to the caller's thread: the hand-over would cost more than it saves. */
  minMessages?: number
  /** The same for wire bytes handed to `decode`: smaller slices are decoded and verified on the caller's thread. */
  minBytes?: number
  /** Most slices handed over and not yet answered; beyond it a slice is left to the caller's thread. */
  maxPending?: number
}

/** A job handed to a worker: what to do with its answer (`r` undefined: the worker is gone, no answer comes). */
interface PendingJob {
  publicKey?: Uint8Array
  done: (r?: RootResult) => void
}

interface Slot {
  worker: Worker | undefined
  pending: Map<number, PendingJob>
}

/** Totals since start, for benchmarks and monitoring. */
export interface SliceRootWorkersStats {
  /** Slices whose root a worker computed. */
  slices: number
  /** Slices a worker could not compute a root for (left to the caller's verification, which refuses them). */
  failed: number
  /** Slices left to the caller's thread because every worker was busy enough. */
  skipped: number
  /** Milliseconds the workers spent computing, in total (beside the event loop). */
  workerMs: number
}

/**
 * Moves the bulk of slice verification off the event loop: the state root a
 * slice proves (`sliceRootHash`: the witness with every message hashed into its
 * place) is recomputed from the slice's wire bytes on a worker thread, by the
 * same function, while the event loop goes on moving the next slices. The root
 * is remembered with the slice object, so `verifyCertifiedSlice` on it then only
 * checks the threshold signature against that root (and the subnet checks).
 *
 * Nothing is trusted that the worker did not compute from the slice's own bytes;
 * a slice whose root the worker could not compute is left as it was, and its
 * verification on the caller's thread refuses it with the typed error. Only
 * slices decoded or assembled by this package qualify (their wire bytes are
 * known). Idle workers do not keep the process alive.
 */
export class SliceRootWorkers {
  readonly workerCount: number
  readonly minMessages: number
  readonly minBytes: number
  readonly maxPending: number
  readonly stats: SliceRootWorkersStats = { slices: 0, failed: 0, skipped: 0, workerMs: 0 }
  private readonly slots: Slot[] = []
  private nextId = 1
  private pendingCount = 0
  /** Buffers the workers gave back, to copy the next slices into (at most SPARE_BYTES_MAX in all). */
  private readonly spare: ArrayBuffer[] = []
  private spareBytes = 0
  private closed = false

  constructor (options: SliceRootWorkersOptions = {}) {
    this.workerCount = Math.max(1, Math.floor(options.workers ?? Math.min(2, availableParallelism() - 1)))
    this.minMessages = Math.max(0, options.minMessages ?? ROOT_WORKERS_MIN_MESSAGES)
    this.minBytes = Math.max(0, options.minBytes ?? ROOT_WORKERS_MIN_BYTES)
    this.maxPending = Math.max(1, options.maxPending ?? ROOT_WORKERS_MAX_PENDING)
    for (let i = 0; i < this.workerCount; i++) this.slots.push({ worker: undefined, pending: new Map() })
  }

  /** Slices handed to a worker and not yet answered. */
  get pending (): number { return this.pendingCount }

  /**
   * Computes `slice`'s root on a worker thread, if it is worth it, and remembers
   * it for `verifyCertifiedSlice`. With the source subnet's threshold `publicKey`,
   * the worker also checks the signature against that root, and a signature that
   * verified is remembered as verified (one that did not is left for the caller's
   * verification to refuse). With `leafDigests`, every payload message's leaf
   * digest comes back too and is remembered with the message, so a pooled slice's
   * messages are not hashed again when a suffix merges into it. Resolves when done (or at once if the slice stays
   * with the caller's thread); never rejects.
   */
  async precompute (slice: CertifiedStreamSlice, publicKey?: Uint8Array, options: { leafDigests?: boolean } = {}): Promise<void> {
    const bytes = sliceWireBytes.get(slice)
    if (this.closed || bytes === undefined || slice.messages.length < this.minMessages || precomputedRoots.has(slice)) return
    if (this.pendingCount >= this.maxPending) { this.stats.skipped++; return }
    // A copy of its own, moved (not cloned): the bytes may be a view into a larger buffer
    // (and Buffer#slice would be a view too, so moving it would detach that buffer).
    const copy = new Uint8Array(this.bufferFor(bytes.length), 0, bytes.length)
    copy.set(bytes)
    const r = await this.run(copy, publicKey, options.leafDigests)
    if (r === undefined) return
    if (r.buffer instanceof ArrayBuffer && this.spareBytes + r.buffer.byteLength <= SPARE_BYTES_MAX) {
      this.spare.push(r.buffer)
      this.spareBytes += r.buffer.byteLength
    }
    this.remember(slice, r, publicKey)
  }

  /**
   * Decodes a slice from its wire bytes (`decodeCertifiedSlice`, with all its checks)
   * and has its root computed on a worker thread, with one copy of the bytes: the
   * chunks they arrived in are copied once into a buffer of the slice's own, which is
   * moved to a worker; the worker hashes it and moves it back, and the slice's message
   * views are then decoded from that buffer. The root (and, given `publicKey`, the
   * signature check, and with `leafDigests` each message's leaf digest) is remembered
   * for the slice that the worker's bytes decoded to, as `precompute` does. Rejects with
   * the decoder's typed error for a malformed slice. A slice not worth a worker (under
   * `minBytes`), beyond `maxPending`, or larger than `maxBytes` is decoded here and left
   * to the caller's verification.
   *
   * With `owned`, `wire` is a view into a buffer that is the caller's alone and that it
   * gives up (as `readFrame` returns): the buffer itself is moved, with no copy at all. If
   * the worker then ends before answering, the bytes are gone with it and `decode` rejects
   * with a plain `Error` (not the sender's fault: ask again).
   */
  async decode (wire: Uint8ArrayList | Uint8Array, publicKey?: Uint8Array, options: { leafDigests?: boolean, maxBytes?: number, owned?: boolean } = {}): Promise<CertifiedStreamSlice> {
    const maxBytes = options.maxBytes ?? MAX_RESPONSE_BYTES
    const length = wire.byteLength
    const here = (): CertifiedStreamSlice => decodeCertifiedSlice(wire instanceof Uint8Array ? wire : wire.subarray(), { maxBytes })
    if (this.closed || length < this.minBytes || length > maxBytes) return here()
    if (this.pendingCount >= this.maxPending) { this.stats.skipped++; return here() }
    const owned = options.owned === true && wire instanceof Uint8Array
    // Handed over as it is, or copied whole (every byte written) into a buffer of its own that can be moved.
    const handed = owned ? wire : copyChunks(wire instanceof Uint8Array ? [wire] : wire, unfilled(length))
    const offset = handed.byteOffset
    const r = await this.run(handed, publicKey, options.leafDigests)
    // The worker moves the buffer back unchanged. If it ended first, a copied frame is still
    // here to decode; an owned one went with the worker.
    if (r === undefined || !(r.buffer instanceof ArrayBuffer) || r.buffer.byteLength < offset + length) {
      if (owned) throw new Error('the root worker ended before it answered')
      return here()
    }
    const slice = decodeCertifiedSlice(new Uint8Array(r.buffer, offset, length), { maxBytes })
    this.remember(slice, r, publicKey)
    return slice
  }

  /** Hands `bytes` (a view into a buffer of their own, which is moved) to the least busy worker; its answer, or undefined if it ended first. */
  private async run (bytes: Uint8Array, publicKey: Uint8Array | undefined, leafDigests: boolean | undefined): Promise<RootResult | undefined> {
    const slot = this.slots.reduce((a, b) => b.pending.size < a.pending.size ? b : a)
    const worker = this.workerOf(slot)
    const id = this.nextId++
    return await new Promise<RootResult | undefined>(resolve => {
      slot.pending.set(id, { publicKey, done: resolve })
      this.pendingCount++
      if (slot.pending.size === 1) worker.ref() // an answer is awaited: keep the process alive for it
      const job: RootJob = { id, bytes, publicKey, leafDigests }
      worker.postMessage(job, [bytes.buffer as ArrayBuffer])
    })
  }

  /** What a worker computed from `slice`'s own bytes, remembered with the slice. */
  private remember (slice: CertifiedStreamSlice, r: RootResult, publicKey: Uint8Array | undefined): void {
    this.stats.workerMs += r.ms
    if ('root' in r && r.root instanceof Uint8Array && r.root.length === 32) {
      precomputedRoots.set(slice, r.root)
      if (r.leafDigests instanceof Uint8Array) rememberLeafDigests(slice.messages, r.leafDigests)
      if (r.signatureValid === true && publicKey !== undefined) {
        verifiedCertifications.set(certificationKey(publicKey, r.root, slice.certification.signature), true)
      }
      this.stats.slices++
    } else {
      this.stats.failed++
    }
  }

  /** Ends the workers; slices in flight stay with their callers' threads. */
  async close (): Promise<void> {
    this.closed = true
    await Promise.all(this.slots.map(async slot => {
      const w = slot.worker
      slot.worker = undefined
      this.settle(slot)
      if (w !== undefined) await w.terminate()
    }))
  }

  /** A spare buffer of at least `length` bytes, or a new one (rounded up, so it fits later slices too). */
  private bufferFor (length: number): ArrayBuffer {
    const k = this.spare.findIndex(b => b.byteLength >= length)
    if (k >= 0) {
      const b = this.spare.splice(k, 1)[0]!
      this.spareBytes -= b.byteLength
      return b
    }
    return new ArrayBuffer(Math.ceil(length / BUFFER_ROUNDING) * BUFFER_ROUNDING)
  }

  private workerOf (slot: Slot): Worker {
    if (slot.worker !== undefined) return slot.worker
    const worker = new Worker(new URL('./slice-root-worker.js', import.meta.url))
    worker.unref()
    worker.on('message', (r: RootResult) => { this.onResult(slot, r) })
    const gone = (err: unknown): void => {
      if (slot.worker !== worker) return
      log.error('slice root worker ended: %e', err)
      slot.worker = undefined // a new one is started on next use
      this.settle(slot)
    }
    worker.on('error', gone)
    worker.on('exit', code => { gone(new Error(`exit code ${code}`)) })
    slot.worker = worker
    return worker
  }

  private onResult (slot: Slot, r: RootResult): void {
    const job = slot.pending.get(r.id)
    if (job === undefined) return
    slot.pending.delete(r.id)
    this.pendingCount--
    if (slot.pending.size === 0) slot.worker?.unref()
    job.done(r)
  }

  /** Releases every caller waiting on `slot` (their slices are verified on their own threads). */
  private settle (slot: Slot): void {
    for (const job of slot.pending.values()) job.done()
    this.pendingCount -= slot.pending.size
    slot.pending.clear()
  }
}

let shared: SliceRootWorkers | undefined

/** The process's shared `SliceRootWorkers` (made on first use; its idle workers never hold the process open). */
export function sharedSliceRootWorkers (): SliceRootWorkers {
  shared ??= new SliceRootWorkers()
  return shared
}
