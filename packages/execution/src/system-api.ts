import { RejectCode } from '@icnet/types'
import { API_COST, MAX_CERTIFIED_DATA_BYTES } from './constants.js'
import type { SandboxLimits } from './constants.js'
import type { StableMemory } from './paged-memory.js'
import type { CallbackClosures, OutgoingCall, TrapKind } from './sandbox.js'
import { Principal } from '@icnet/types'

/** Where a piece of canister code runs; decides which system API calls are allowed. */
export type ApiContext =
  | 'start' | 'init' | 'pre_upgrade' | 'post_upgrade' | 'update' | 'query'
  | 'reply' | 'reject' | 'cleanup' | 'heartbeat' | 'timer'

/** Thrown by the host to end the running message with a trap. */
export class HostTrap extends Error {
  constructor (readonly kind: TrapKind, message: string) { super(message) }
}

/** A host function as wasm calls it. */
export type ImportFunction = (...args: any[]) => number | bigint | undefined

/** Everything one execution may read and everything it produces. */
export class ExecutionState {
  readonly context: ApiContext
  readonly arg: Uint8Array
  readonly caller: Uint8Array
  readonly method: string
  readonly time: bigint
  readonly rejectCode: number
  readonly rejectMessage: string
  private canReply: boolean
  replied = false
  replyChunks: Uint8Array[] = []
  replySize = 0
  outcome: { kind: 'reply', data: Uint8Array } | { kind: 'reject', code: RejectCode, message: string } | undefined
  calls: OutgoingCall[] = []
  pending: { callee: Uint8Array, method: string, chunks: Uint8Array[], size: number, callback: CallbackClosures } | undefined
  certifiedData: Uint8Array | undefined
  globalTimer: bigint | undefined
  readonly debugPrints: string[]

  constructor (init: {
    context: ApiContext
    arg?: Uint8Array
    caller?: Uint8Array
    method?: string
    time: bigint
    rejectCode?: number
    rejectMessage?: string
    canReply?: boolean
    debugPrints?: string[]
  }) {
    this.context = init.context
    this.arg = init.arg ?? new Uint8Array(0)
    this.caller = init.caller ?? new Uint8Array(0)
    this.method = init.method ?? ''
    this.time = init.time
    this.rejectCode = init.rejectCode ?? 0
    this.rejectMessage = init.rejectMessage ?? ''
    this.canReply = init.canReply ?? false
    this.debugPrints = init.debugPrints ?? []
  }

  get mayReply (): boolean { return this.canReply && !this.replied }
  markReplied (): void { this.replied = true; this.canReply = false }
}

/** What the system API needs from the canister it serves. */
export interface ApiHost {
  readonly exec: ExecutionState
  readonly selfId: Uint8Array
  readonly stable: StableMemory
  readonly limits: SandboxLimits
  /** The global timer before this execution. */
  readonly committedTimer: bigint
  memory (): Uint8Array
  /** Charges instructions; traps when the budget runs out. */
  charge (n: bigint): void
  instructionsUsed (): bigint
}

type Ctx = ApiContext
const ALL: Ctx[] = ['start', 'init', 'pre_upgrade', 'post_upgrade', 'update', 'query', 'reply', 'reject', 'cleanup', 'heartbeat', 'timer']
const NOT_START = ALL.filter(c => c !== 'start')
const ARG: Ctx[] = ['init', 'post_upgrade', 'update', 'query', 'reply']
const REPLY: Ctx[] = ['update', 'query', 'reply', 'reject']
const CALL: Ctx[] = ['update', 'reply', 'reject', 'heartbeat', 'timer']
const MUTATE_SYSTEM_STATE = ALL.filter(c => c !== 'query' && c !== 'start')

const I = 0x7f
const L = 0x7e

interface ApiFunction {
  params: number[]
  results: number[]
  contexts: Ctx[]
  impl: (host: ApiHost, ...args: any[]) => number | bigint | undefined
}

function trap (kind: TrapKind, message: string): never {
  throw new HostTrap(kind, message)
}

function u32 (v: number): number { return v >>> 0 }

/** A view of `[ptr, ptr+len)` of the heap, trapping when out of bounds. */
function heapRange (host: ApiHost, ptr: number, len: number, what: string): Uint8Array {
  const mem = host.memory()
  const p = u32(ptr)
  const n = u32(len)
  if (p + n > mem.length) trap('api-misuse', `${what}: heap range [${p}, ${p + n}) is out of bounds (heap is ${mem.length} bytes)`)
  return mem.subarray(p, p + n)
}

function copyOut (host: ApiHost, src: Uint8Array, dst: number, offset: number, size: number, what: string): void {
  const o = u32(offset)
  const n = u32(size)
  if (o + n > src.length) trap('api-misuse', `${what}: source range [${o}, ${o + n}) is out of bounds (${src.length} bytes)`)
  host.charge(BigInt(n) * API_COST.perByte)
  heapRange(host, dst, n, what).set(src.subarray(o, o + n))
}

function appendReply (host: ApiHost, bytes: Uint8Array): void {
  const e = host.exec
  if (e.replySize + bytes.length > host.limits.maxPayloadBytes) {
    trap('memory-limit', `reply payload exceeds ${host.limits.maxPayloadBytes} bytes`)
  }
  e.replyChunks.push(bytes.slice())
  e.replySize += bytes.length
}

function concat (chunks: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size)
  let off = 0
  for (const c of chunks) { out.set(c, off); off += c.length }
  return out
}

const STABLE32_MAX_PAGES = 65536

function stableRange (host: ApiHost, offset: bigint, size: bigint, what: string): [number, number] {
  if (offset < 0n || size < 0n || offset + size > BigInt(host.stable.byteLength)) {
    trap('api-misuse', `${what}: stable memory range [${offset}, ${offset + size}) is out of bounds (${host.stable.byteLength} bytes)`)
  }
  return [Number(offset), Number(size)]
}

function u64 (v: bigint): bigint { return BigInt.asUintN(64, v) }

/** The implemented subset of the IC system API (32-bit wasm signatures). */
export const SYSTEM_API: Record<string, ApiFunction> = {
  msg_arg_data_size: { params: [], results: [I], contexts: ARG, impl: h => h.exec.arg.length },
  msg_arg_data_copy: {
    params: [I, I, I], results: [], contexts: ARG,
    impl: (h, dst, off, size) => { copyOut(h, h.exec.arg, dst, off, size, 'ic0.msg_arg_data_copy'); return undefined }
  },
  msg_caller_size: { params: [], results: [I], contexts: NOT_START, impl: h => h.exec.caller.length },
  msg_caller_copy: {
    params: [I, I, I], results: [], contexts: NOT_START,
    impl: (h, dst, off, size) => { copyOut(h, h.exec.caller, dst, off, size, 'ic0.msg_caller_copy'); return undefined }
  },
  msg_method_name_size: { params: [], results: [I], contexts: ['update', 'query'], impl: h => new TextEncoder().encode(h.exec.method).length },
  msg_method_name_copy: {
    params: [I, I, I], results: [], contexts: ['update', 'query'],
    impl: (h, dst, off, size) => { copyOut(h, new TextEncoder().encode(h.exec.method), dst, off, size, 'ic0.msg_method_name_copy'); return undefined }
  },
  msg_reject_code: { params: [], results: [I], contexts: ['reply', 'reject'], impl: h => h.exec.rejectCode },
  msg_reject_msg_size: { params: [], results: [I], contexts: ['reject'], impl: h => new TextEncoder().encode(h.exec.rejectMessage).length },
  msg_reject_msg_copy: {
    params: [I, I, I], results: [], contexts: ['reject'],
    impl: (h, dst, off, size) => { copyOut(h, new TextEncoder().encode(h.exec.rejectMessage), dst, off, size, 'ic0.msg_reject_msg_copy'); return undefined }
  },
  msg_reply_data_append: {
    params: [I, I], results: [], contexts: REPLY,
    impl: (h, src, size) => {
      if (!h.exec.mayReply) trap('api-misuse', 'ic0.msg_reply_data_append: the call was already replied to, or cannot be replied to here')
      h.charge(BigInt(u32(size)) * API_COST.perByte)
      appendReply(h, heapRange(h, src, size, 'ic0.msg_reply_data_append'))
      return undefined
    }
  },
  msg_reply: {
    params: [], results: [], contexts: REPLY,
    impl: h => {
      const e = h.exec
      if (!e.mayReply) trap('api-misuse', 'ic0.msg_reply: the call was already replied to, or cannot be replied to here')
      e.outcome = { kind: 'reply', data: concat(e.replyChunks, e.replySize) }
      e.replyChunks = []
      e.markReplied()
      return undefined
    }
  },
  msg_reject: {
    params: [I, I], results: [], contexts: REPLY,
    impl: (h, src, size) => {
      const e = h.exec
      if (!e.mayReply) trap('api-misuse', 'ic0.msg_reject: the call was already replied to, or cannot be replied to here')
      if (u32(size) > h.limits.maxPayloadBytes) trap('memory-limit', 'ic0.msg_reject: message too long')
      h.charge(BigInt(u32(size)) * API_COST.perByte)
      const bytes = heapRange(h, src, size, 'ic0.msg_reject')
      let message: string
      try { message = new TextDecoder('utf-8', { fatal: true }).decode(bytes) } catch { trap('api-misuse', 'ic0.msg_reject: message is not UTF-8') }
      e.outcome = { kind: 'reject', code: RejectCode.CanisterReject, message }
      e.markReplied()
      return undefined
    }
  },
  canister_self_size: { params: [], results: [I], contexts: ALL, impl: h => h.selfId.length },
  canister_self_copy: {
    params: [I, I, I], results: [], contexts: ALL,
    impl: (h, dst, off, size) => { copyOut(h, h.selfId, dst, off, size, 'ic0.canister_self_copy'); return undefined }
  },
  call_new: {
    params: [I, I, I, I, I, I, I, I], results: [], contexts: CALL,
    impl: (h, calleeSrc, calleeSize, nameSrc, nameSize, replyFn, replyEnv, rejectFn, rejectEnv) => {
      const e = h.exec
      if (e.pending !== undefined) trap('api-misuse', 'ic0.call_new: a call is already under construction (call ic0.call_perform first)')
      if (u32(calleeSize) > 29) trap('api-misuse', 'ic0.call_new: callee principal longer than 29 bytes')
      if (u32(nameSize) > 20_000) trap('api-misuse', 'ic0.call_new: method name too long')
      h.charge(BigInt(u32(calleeSize) + u32(nameSize)) * API_COST.perByte)
      const callee = heapRange(h, calleeSrc, calleeSize, 'ic0.call_new').slice()
      let method: string
      try { method = new TextDecoder('utf-8', { fatal: true }).decode(heapRange(h, nameSrc, nameSize, 'ic0.call_new')) } catch (err) {
        if (err instanceof HostTrap) throw err
        trap('api-misuse', 'ic0.call_new: method name is not UTF-8')
      }
      e.pending = {
        callee, method, chunks: [], size: 0,
        callback: { reply: { fn: u32(replyFn), env: u32(replyEnv) }, reject: { fn: u32(rejectFn), env: u32(rejectEnv) } }
      }
      return undefined
    }
  },
  call_data_append: {
    params: [I, I], results: [], contexts: CALL,
    impl: (h, src, size) => {
      const p = h.exec.pending
      if (p === undefined) trap('api-misuse', 'ic0.call_data_append: no call under construction')
      if (p.size + u32(size) > h.limits.maxPayloadBytes) trap('memory-limit', `ic0.call_data_append: payload exceeds ${h.limits.maxPayloadBytes} bytes`)
      h.charge(BigInt(u32(size)) * API_COST.perByte)
      p.chunks.push(heapRange(h, src, size, 'ic0.call_data_append').slice())
      p.size += u32(size)
      return undefined
    }
  },
  call_on_cleanup: {
    params: [I, I], results: [], contexts: CALL,
    impl: (h, fn, env) => {
      const p = h.exec.pending
      if (p === undefined) trap('api-misuse', 'ic0.call_on_cleanup: no call under construction')
      if (p.callback.cleanup !== undefined) trap('api-misuse', 'ic0.call_on_cleanup: cleanup already set for this call')
      p.callback.cleanup = { fn: u32(fn), env: u32(env) }
      return undefined
    }
  },
  call_perform: {
    params: [], results: [I], contexts: CALL,
    impl: h => {
      const e = h.exec
      const p = e.pending
      if (p === undefined) trap('api-misuse', 'ic0.call_perform: no call under construction')
      e.pending = undefined
      h.charge(API_COST.callPerform)
      // Like a full output queue on the IC: the call is dropped and the canister is told so.
      if (e.calls.length >= h.limits.maxOutgoingCalls) return RejectCode.SysTransient
      e.calls.push({ callee: Principal.fromUint8Array(p.callee), method: p.method, payload: concat(p.chunks, p.size), callback: p.callback })
      return 0
    }
  },
  stable_size: {
    params: [], results: [I], contexts: ALL,
    impl: h => {
      if (h.stable.size > STABLE32_MAX_PAGES - 1) trap('api-misuse', 'ic0.stable_size: stable memory is larger than the 32-bit API can address')
      return h.stable.size
    }
  },
  stable_grow: {
    params: [I], results: [I], contexts: ALL,
    impl: (h, pages) => {
      h.charge(API_COST.stableGrow)
      return h.stable.grow(u32(pages), Math.min(h.limits.maxStableWasmPages, STABLE32_MAX_PAGES - 1))
    }
  },
  stable_read: {
    params: [I, I, I], results: [], contexts: ALL,
    impl: (h, dst, offset, size) => {
      const [o, n] = stableRange(h, BigInt(u32(offset)), BigInt(u32(size)), 'ic0.stable_read')
      h.charge(BigInt(n) * API_COST.perByte)
      h.stable.read(o, heapRange(h, dst, n, 'ic0.stable_read'))
      return undefined
    }
  },
  stable_write: {
    params: [I, I, I], results: [], contexts: ALL,
    impl: (h, offset, src, size) => {
      const [o, n] = stableRange(h, BigInt(u32(offset)), BigInt(u32(size)), 'ic0.stable_write')
      h.charge(BigInt(n) * API_COST.perByte)
      h.stable.write(o, heapRange(h, src, n, 'ic0.stable_write'))
      return undefined
    }
  },
  stable64_size: { params: [], results: [L], contexts: ALL, impl: h => BigInt(h.stable.size) },
  stable64_grow: {
    params: [L], results: [L], contexts: ALL,
    impl: (h, pages: bigint) => {
      h.charge(API_COST.stableGrow)
      const n = u64(pages)
      if (n > BigInt(h.limits.maxStableWasmPages)) return -1n
      return BigInt(h.stable.grow(Number(n), h.limits.maxStableWasmPages))
    }
  },
  stable64_read: {
    params: [L, L, L], results: [], contexts: ALL,
    impl: (h, dst: bigint, offset: bigint, size: bigint) => {
      const [o, n] = stableRange(h, u64(offset), u64(size), 'ic0.stable64_read')
      if (u64(dst) > 0xffffffffn) trap('api-misuse', 'ic0.stable64_read: destination beyond the 32-bit heap')
      h.charge(BigInt(n) * API_COST.perByte)
      h.stable.read(o, heapRange(h, Number(u64(dst)), n, 'ic0.stable64_read'))
      return undefined
    }
  },
  stable64_write: {
    params: [L, L, L], results: [], contexts: ALL,
    impl: (h, offset: bigint, src: bigint, size: bigint) => {
      const [o, n] = stableRange(h, u64(offset), u64(size), 'ic0.stable64_write')
      if (u64(src) > 0xffffffffn) trap('api-misuse', 'ic0.stable64_write: source beyond the 32-bit heap')
      h.charge(BigInt(n) * API_COST.perByte)
      h.stable.write(o, heapRange(h, Number(u64(src)), n, 'ic0.stable64_write'))
      return undefined
    }
  },
  certified_data_set: {
    params: [I, I], results: [], contexts: MUTATE_SYSTEM_STATE,
    impl: (h, src, size) => {
      if (u32(size) > MAX_CERTIFIED_DATA_BYTES) trap('api-misuse', `ic0.certified_data_set: more than ${MAX_CERTIFIED_DATA_BYTES} bytes`)
      h.exec.certifiedData = heapRange(h, src, size, 'ic0.certified_data_set').slice()
      return undefined
    }
  },
  time: { params: [], results: [L], contexts: ALL, impl: h => h.exec.time },
  global_timer_set: {
    params: [L], results: [L], contexts: MUTATE_SYSTEM_STATE,
    impl: (h, t: bigint) => {
      const e = h.exec
      const prev = e.globalTimer ?? h.committedTimer
      e.globalTimer = u64(t)
      return prev
    }
  },
  performance_counter: {
    params: [I], results: [L], contexts: ALL,
    impl: (h, type) => {
      if (type !== 0 && type !== 1) trap('api-misuse', `ic0.performance_counter: unknown counter type ${type}`)
      return h.instructionsUsed()
    }
  },
  debug_print: {
    params: [I, I], results: [], contexts: ALL,
    impl: (h, src, size) => {
      const n = Math.min(u32(size), h.limits.maxDebugPrintBytes)
      h.charge(BigInt(n) * API_COST.perByte)
      const bytes = heapRange(h, src, n, 'ic0.debug_print')
      if (h.exec.debugPrints.length < h.limits.maxDebugPrints) h.exec.debugPrints.push(new TextDecoder().decode(bytes))
      return undefined
    }
  },
  trap: {
    params: [I, I], results: [], contexts: ALL,
    impl: (h, src, size) => {
      const n = Math.min(u32(size), h.limits.maxDebugPrintBytes)
      const text = new TextDecoder().decode(heapRange(h, src, n, 'ic0.trap'))
      trap('explicit', `Canister called ic0.trap with message: ${text}`)
    }
  }
}


export function apiFunctionMatches (name: string, params: number[], results: number[]): boolean {
  const f = SYSTEM_API[name]
  if (f === undefined) return false
  return f.params.length === params.length && f.params.every((p, i) => p === params[i]) &&
    f.results.length === results.length && f.results.every((r, i) => r === results[i])
}

/**
 * Builds the `ic0` import object for a module's imports. Implemented functions
 * check the calling context and charge their base cost; names this sandbox
 * does not implement get a stub that traps naming the function, so a module
 * that never calls them still runs.
 */
export function buildImports (host: () => ApiHost, imports: Array<{ name: string }>): Record<string, ImportFunction> {
  const out: Record<string, ImportFunction> = {}
  for (const { name } of imports) {
    const f = SYSTEM_API[name]
    if (f === undefined) {
      out[name] = () => trap('unimplemented', `ic0.${name} is not implemented by this sandbox`)
      continue
    }
    const allowed = new Set(f.contexts)
    out[name] = (...args: any[]) => {
      const h = host()
      if (!allowed.has(h.exec.context)) trap('api-misuse', `ic0.${name} cannot be called in the ${h.exec.context} context`)
      h.charge(API_COST.base)
      return f.impl(h, ...args)
    }
  }
  return out
}

