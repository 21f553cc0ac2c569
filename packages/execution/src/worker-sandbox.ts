import { Worker } from 'node:worker_threads'
import { availableParallelism } from 'node:os'
import { logger } from '@libp2p/logger'
import { QueueFullError, noopMetrics } from '@icnet/types'
import type { CanisterId, Counter, Metrics } from '@icnet/types'
import { DEFAULT_LIMITS, DEFAULT_MAX_QUEUED_PER_WORKER, DEFAULT_WATCHDOG_MS } from './constants.js'
import type { SandboxLimits } from './constants.js'
import { CanisterStateError, SandboxClosedError, WatchdogTimeoutError } from './errors.js'
import { CanisterMirror } from './mirror.js'
import { decodeError, decodeWire, encodeWire } from './worker-protocol.js'
import type { WorkerOp, WorkerRequest, WorkerResponse } from './worker-protocol.js'
import type { CanisterSnapshot, ExecutionRequest, ExecutionResult, InstallRequest, Sandbox } from './sandbox.js'

const log = logger('icnet:execution:workers')

export interface WorkerSandboxOptions {
  /** Worker threads; canisters are spread over them. Default: the number of cores, at least 1. */
  workers?: number
  limits?: Partial<SandboxLimits>
  /** Wall-clock limit per call; past it the worker is terminated and rebuilt. A last resort behind metering. */
  watchdogMs?: number
  /** Calls queued per worker; past it calls fail with `QueueFullError` (nothing is accepted). Bounds memory. */
  maxQueuedPerWorker?: number
  unmetered?: boolean
  metrics?: Metrics
}

interface Pending {
  id: number
  op: WorkerOp
  resolve: (v: unknown) => void
  reject: (e: Error) => void
  onResult?: (v: unknown) => void
}

interface Slot {
  index: number
  worker: Worker
  queue: Pending[]
  watchdog: ReturnType<typeof setTimeout> | undefined
  canisters: Set<string>
  gone: boolean
}

function key (id: CanisterId): string { return id.toHex() }

/**
 * The default sandbox: wasm canisters in a pool of worker threads. A canister
 * lives in one worker (assigned at install), so its messages run in order
 * while other canisters use the other cores. The pool keeps a mirror of each
 * canister's committed state, fed by the dirty pages of every result, and
 * rebuilds a worker from it when the watchdog has to kill one.
 */
export class WorkerSandbox implements Sandbox {
  private readonly slots: Slot[] = []
  private readonly home = new Map<string, Slot>()
  private readonly mirrors = new Map<string, CanisterMirror>()
  private readonly limits: SandboxLimits
  private readonly watchdogMs: number
  private readonly unmetered: boolean
  private readonly maxQueued: number
  private nextId = 1
  private closed = false
  private readonly kills: Counter
  private readonly executions: Counter

  constructor (options: WorkerSandboxOptions = {}) {
    this.limits = { ...DEFAULT_LIMITS, ...options.limits }
    this.watchdogMs = options.watchdogMs ?? DEFAULT_WATCHDOG_MS
    this.unmetered = options.unmetered === true
    this.maxQueued = options.maxQueuedPerWorker ?? DEFAULT_MAX_QUEUED_PER_WORKER
    const metrics = options.metrics ?? noopMetrics
    this.kills = metrics.counter({ name: 'icnet_execution_watchdog_kills_total', help: 'Workers terminated by the wall-clock watchdog' })
    this.executions = metrics.counter({ name: 'icnet_execution_messages_total', help: 'Messages executed, by kind and outcome', labelNames: ['kind', 'outcome'] })
    const n = Math.max(1, options.workers ?? availableParallelism())
    for (let i = 0; i < n; i++) this.slots.push(this.spawn(i))
  }

  private spawn (index: number): Slot {
    const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: { limits: this.limits, unmetered: this.unmetered } })
    const slot: Slot = { index, worker, queue: [], watchdog: undefined, canisters: new Set(), gone: false }
    worker.on('message', (r: WorkerResponse) => this.onResponse(slot, r))
    worker.on('error', err => this.onGone(slot, new SandboxClosedError(`sandbox worker failed: ${err.message}`, { cause: err })))
    worker.on('exit', code => this.onGone(slot, new SandboxClosedError(`sandbox worker exited with code ${code}`)))
    return slot
  }

  private armWatchdog (slot: Slot): void {
    clearTimeout(slot.watchdog)
    slot.watchdog = undefined
    const head = slot.queue[0]
    if (head === undefined) return
    slot.watchdog = setTimeout(() => this.onWatchdog(slot, head), this.watchdogMs)
  }

  private call (slot: Slot, op: WorkerOp, payload: unknown, onResult?: (v: unknown) => void): Promise<unknown> {
    if (this.closed) return Promise.reject(new SandboxClosedError('sandbox is closed'))
    if (slot.queue.length >= this.maxQueued) return Promise.reject(new QueueFullError(`sandbox worker ${slot.index} has ${slot.queue.length} calls queued`))
    return new Promise((resolve, reject) => {
      const p: Pending = { id: this.nextId++, op, resolve, reject, ...(onResult !== undefined ? { onResult } : {}) }
      slot.queue.push(p)
      if (slot.queue.length === 1) this.armWatchdog(slot)
      const req: WorkerRequest = { id: p.id, op, payload: encodeWire(payload) }
      slot.worker.postMessage(req)
    })
  }

  private onResponse (slot: Slot, r: WorkerResponse): void {
    const head = slot.queue[0]
    // The worker answers in order: anything else is a bug worth failing loudly on.
    if (head === undefined || head.id !== r.id) {
      log.error('out-of-order worker response %d', r.id)
      return
    }
    slot.queue.shift()
    this.armWatchdog(slot)
    if (r.ok) {
      const value = decodeWire(r.value)
      try { head.onResult?.(value) } catch (err) { head.reject(err as Error); return }
      head.resolve(value)
    } else {
      head.reject(decodeError(r.error))
    }
  }

  private onWatchdog (slot: Slot, head: Pending): void {
    if (slot.gone) return
    log.error('worker %d ran past the %d ms watchdog; terminating it', slot.index, this.watchdogMs)
    this.kills.inc()
    slot.gone = true
    clearTimeout(slot.watchdog)
    const queued = slot.queue.splice(0)
    for (const p of queued) {
      p.reject(new WatchdogTimeoutError(p === head
        ? `execution ran past the ${this.watchdogMs} ms watchdog; the worker was terminated and its canisters restored from their last committed state`
        : 'the worker was terminated by the watchdog before this call ran'))
    }
    void slot.worker.terminate()
    this.rebuild(slot)
  }

  /** Replaces a dead worker and restores its canisters from the mirror. */
  private rebuild (old: Slot): void {
    if (this.closed) return
    const fresh = this.spawn(old.index)
    fresh.canisters = old.canisters
    this.slots[old.index] = fresh
    for (const k of fresh.canisters) {
      this.home.set(k, fresh)
      const m = this.mirrors.get(k)
      if (m !== undefined) this.call(fresh, 'restore', m.snapshot()).catch(err => log.error('restore after crash failed: %s', err.message))
    }
  }

  private onGone (slot: Slot, err: Error): void {
    if (slot.gone) return
    slot.gone = true
    clearTimeout(slot.watchdog)
    for (const p of slot.queue.splice(0)) p.reject(err)
    this.rebuild(slot)
  }

  private slotFor (id: CanisterId): Slot {
    const s = this.home.get(key(id))
    if (s === undefined) throw new CanisterStateError(`canister ${id.toText()} is not installed`)
    return s
  }

  private leastLoaded (): Slot {
    return this.slots.reduce((a, b) => (b.canisters.size < a.canisters.size ? b : a))
  }

  async install (req: InstallRequest): Promise<ExecutionResult> {
    const k = key(req.canisterId)
    const existing = this.home.get(k)
    const slot = existing ?? this.leastLoaded()
    const result = await this.call(slot, 'install', req, v => {
      const r = v as ExecutionResult
      if (r.trap !== undefined) return
      slot.canisters.add(k)
      this.home.set(k, slot)
      const mirror = req.mode === 'upgrade' ? this.mirrors.get(k)! : new CanisterMirror(req.canisterId)
      mirror.module = req.module.slice()
      mirror.apply(r)
      this.mirrors.set(k, mirror)
    }) as ExecutionResult
    this.executions.inc(1, { kind: 'install', outcome: result.trap === undefined ? 'ok' : 'trap' })
    return result
  }

  async execute (req: ExecutionRequest): Promise<ExecutionResult> {
    const k = key(req.canisterId)
    const result = await this.call(this.slotFor(req.canisterId), 'execute', req, v => {
      if (req.kind !== 'query') this.mirrors.get(k)?.apply(v as ExecutionResult)
    }) as ExecutionResult
    this.executions.inc(1, { kind: req.kind, outcome: result.trap === undefined ? 'ok' : 'trap' })
    return result
  }

  async uninstall (id: CanisterId): Promise<void> {
    const slot = this.slotFor(id)
    await this.call(slot, 'uninstall', id)
    slot.canisters.delete(key(id))
    this.home.delete(key(id))
    this.mirrors.delete(key(id))
  }

  async snapshot (id: CanisterId): Promise<CanisterSnapshot> {
    return await this.call(this.slotFor(id), 'snapshot', id) as CanisterSnapshot
  }

  async restore (s: CanisterSnapshot): Promise<void> {
    const k = key(s.canisterId)
    const slot = this.home.get(k) ?? this.leastLoaded()
    await this.call(slot, 'restore', s)
    slot.canisters.add(k)
    this.home.set(k, slot)
    this.mirrors.set(k, CanisterMirror.fromSnapshot(s))
  }

  /** The pool's copy of a canister's committed state (what a checkpoint would write). */
  mirrorSnapshot (id: CanisterId): CanisterSnapshot {
    const m = this.mirrors.get(key(id))
    if (m === undefined) throw new CanisterStateError(`canister ${id.toText()} is not installed`)
    return m.snapshot()
  }

  async close (): Promise<void> {
    if (this.closed) return
    this.closed = true
    const slots = this.slots.splice(0)
    await Promise.all(slots.map(async s => {
      s.gone = true
      clearTimeout(s.watchdog)
      for (const p of s.queue.splice(0)) p.reject(new SandboxClosedError('sandbox is closed'))
      await s.worker.terminate()
    }))
  }
}
