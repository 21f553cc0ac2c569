import type { CallbackClosures } from '@icnet/execution'
import type { CanisterId, Principal, Request, Response } from '@icnet/types'

/** Who is waiting for a call context's answer. */
export type CallOrigin =
  | { kind: 'ingress', requestId: Uint8Array, caller: Principal }
  | { kind: 'canister', caller: CanisterId, callback: number }
  /** Heartbeat or timer: nobody waits; the context only tracks the calls it made. */
  | { kind: 'system' }

export interface CallContext {
  id: number
  origin: CallOrigin
  replied: boolean
  /** Callbacks of this context still waiting for a response. */
  outstanding: number
}

/** A call in flight: the closures to run when its response arrives. */
export interface Callback {
  id: number
  contextId: number
  callee: CanisterId
  closures: CallbackClosures
}

/** An ingress message waiting in a canister's ingress queue. */
export interface IngressItem { kind: 'ingress', requestId: Uint8Array, caller: Principal, method: string, arg: Uint8Array }

/** Something that runs a canister method: an ingress message or another canister's request. */
export type InputRequest = IngressItem | { kind: 'request', request: Request }

export type CanisterRunStatus = 'running' | 'stopping' | 'stopped'

/** Pages changed since the last checkpoint: `'all'` after an install replaced the memory. */
export type DirtyPages = Set<number> | 'all'

/**
 * Everything message routing keeps about one canister next to what the sandbox
 * holds (module, memories): queues, call contexts, callbacks, the certified
 * metadata, and what changed since the last checkpoint.
 */
export class CanisterState {
  readonly id: CanisterId
  readonly idHex: string
  controllers: Principal[]
  /** The installed module (kept for checkpoints). */
  module: Uint8Array = new Uint8Array(0)
  moduleHash: Uint8Array
  certifiedData: Uint8Array = new Uint8Array(0)
  globalTimer = 0n
  /**
   * Set by the management canister. `stopping` (after stop_canister) takes no
   * new calls but still executes the responses to its own calls; it becomes
   * `stopped` once no call context is open.
   */
  status: CanisterRunStatus = 'running'
  /**
   * Request ids of the `stop_canister` calls (always ingress) waiting for this
   * canister to stop, in arrival order; answered all at once when it stops, or
   * rejected by start_canister. Replicated state, bounded by MAX_PENDING_STOP_CALLS.
   */
  pendingStops: Uint8Array[] = []
  /** undefined until the first heartbeat shows whether the module exports one. */
  hasHeartbeat: boolean | undefined
  /** The module's committed mutable globals (for checkpoints without a sandbox snapshot). */
  globals: Array<number | bigint> = []
  heapWasmPages = 0
  stableWasmPages = 0

  /** Requests from canisters, FIFO, bounded by the input queue capacity. */
  readonly inputRequests: Request[] = []
  /** Ingress messages, FIFO, bounded by the ingress queue capacity (apart, so calls cannot crowd users out). */
  readonly inputIngress: IngressItem[] = []
  /** Responses to our calls: always accepted (each holds a reservation, see `callbacks`). */
  readonly inputResponses: Response[] = []
  /** Requests and responses produced but not yet routed (waiting for room in a stream). */
  output: Array<Request | Response> = []
  outputRequests = 0
  /** Which input queue goes next (0 responses, 1 requests, 2 ingress): round-robin, part of the state. */
  nextQueue = 0

  readonly contexts = new Map<number, CallContext>()
  readonly callbacks = new Map<number, Callback>()
  nextContextId = 1
  nextCallbackId = 1

  /** Messages executed since open (progress only; not part of the state). */
  executed = 0

  // Since the last checkpoint:
  heapDirty: DirtyPages = 'all'
  stableDirty: DirtyPages = 'all'
  moduleDirty = true

  constructor (id: CanisterId, controllers: Principal[], moduleHash: Uint8Array) {
    this.id = id
    this.idHex = id.toHex()
    this.controllers = controllers
    this.moduleHash = moduleHash
  }

  get hasInput (): boolean { return this.inputRequests.length > 0 || this.inputResponses.length > 0 || this.inputIngress.length > 0 }

  markPages (which: 'heap' | 'stable', reset: boolean, pages: ReadonlyArray<{ index: number }>): void {
    const key = which === 'heap' ? 'heapDirty' : 'stableDirty'
    if (reset) { this[key] = 'all'; return }
    const set = this[key]
    if (set === 'all') return
    for (const p of pages) set.add(p.index)
  }

  clearDirty (): void {
    this.heapDirty = new Set()
    this.stableDirty = new Set()
    this.moduleDirty = false
  }
}
