/**
 * The sandbox interface: the only thing message routing knows of execution.
 *
 * A sandbox holds installed canisters and runs one message at a time per
 * canister under an instruction budget. Every input that can influence the
 * outcome is in the request (caller, time, budget, the callback to run), so
 * the same sequence of requests gives the same results, the same memory and
 * the same instruction counts on every node.
 *
 * Callbacks are not kept by the sandbox: an outgoing call comes back with its
 * closures (`CallbackClosures`), message routing stores them with the call
 * context under a callback id of its own, and hands them back in a `response`
 * request when the reply or reject arrives.
 */
import type { CanisterId, Principal, RejectCode } from '@icnet/types'

/** Size of a memory page as tracked for checkpoints (heap and stable memory). */
export const PAGE_SIZE = 4096
/** Size of a WebAssembly page (the unit of `memory.grow` and `stable64_grow`). */
export const WASM_PAGE_SIZE = 65536

export type InstallMode = 'install' | 'reinstall' | 'upgrade'

export interface InstallRequest {
  canisterId: CanisterId
  mode: InstallMode
  /** The canister module: a wasm binary (wasm sandbox) or a registered JS canister name (JS sandbox, UTF-8). */
  module: Uint8Array
  /** Argument for `canister_init` / `canister_post_upgrade`. */
  arg: Uint8Array
  /** Who installs (the controller); `msg_caller` in init and upgrade hooks. */
  caller: Principal
  /** Batch time in nanoseconds since the epoch. */
  time: bigint
  /** Instructions for start + init (or pre_upgrade + start + post_upgrade together). */
  instructionLimit: bigint
}

/** The reply or reject a response request carries back to the callback. */
export type CallResponse =
  | { kind: 'reply', data: Uint8Array }
  | { kind: 'reject', code: RejectCode, message: string }

/** A function-table index and its environment, as given to `call_new` / `call_on_cleanup`. */
export interface Closure { fn: number, env: number }

export interface CallbackClosures {
  reply: Closure
  reject: Closure
  cleanup?: Closure
}

interface BaseExecution {
  canisterId: CanisterId
  /** Batch time in nanoseconds since the epoch (`ic0.time`). */
  time: bigint
  instructionLimit: bigint
}

/** An ingress or inter-canister call to `canister_update <method>`. */
export interface UpdateExecution extends BaseExecution {
  kind: 'update'
  method: string
  arg: Uint8Array
  caller: Principal
}

/** A call to `canister_query <method>`: runs like an update, then every state change is discarded. */
export interface QueryExecution extends BaseExecution {
  kind: 'query'
  method: string
  arg: Uint8Array
  caller: Principal
}

/** A reply or reject for one of the canister's outgoing calls. */
export interface ResponseExecution extends BaseExecution {
  kind: 'response'
  callback: CallbackClosures
  response: CallResponse
  /** The caller of the call context the callback belongs to (`msg_caller`). */
  caller: Principal
  /** True when the call context was already replied to: then `msg_reply`/`msg_reject` trap. */
  callContextReplied: boolean
}

/** `canister_heartbeat` (once per round) or `canister_global_timer` (when the timer fired). */
export interface SystemTaskExecution extends BaseExecution {
  kind: 'heartbeat' | 'timer'
}

export type ExecutionRequest = UpdateExecution | QueryExecution | ResponseExecution | SystemTaskExecution

/** A call the canister made with `call_perform`, to be routed by message routing. */
export interface OutgoingCall {
  callee: Principal
  method: string
  payload: Uint8Array
  callback: CallbackClosures
}

/** Why an execution trapped: a bounded set (safe as a metric label). */
export type TrapKind =
  | 'explicit'              // ic0.trap
  | 'wasm'                  // unreachable, out-of-bounds access, division by zero, stack overflow...
  | 'instruction-limit'     // the budget ran out
  | 'api-misuse'            // a system API call not allowed here, or with bad arguments
  | 'unimplemented'         // an ic0 function this sandbox does not provide
  | 'memory-limit'          // stable memory or payload past its limit
  | 'missing-method'        // no such export

export interface Trap { kind: TrapKind, message: string }

/**
 * What happens to the call context:
 * - `reply` / `reject`: the canister replied (or an update trapped: reject with CanisterError);
 * - `none`: no answer yet (outstanding calls, or a callback that did not reply).
 */
export type CallOutcome =
  | { kind: 'reply', data: Uint8Array }
  | { kind: 'reject', code: RejectCode, message: string }
  | { kind: 'none' }

export interface Page { index: number, bytes: Uint8Array }

/**
 * The pages a message changed. With `reset`, the memory was replaced as a
 * whole (install, reinstall, upgrade for the heap): pages not listed are zero.
 */
export interface MemoryDelta {
  /** Size after the execution, in wasm (64 KiB) pages. */
  sizeWasmPages: number
  reset: boolean
  /** Changed 4 KiB pages, in ascending index order, with their new contents. */
  pages: Page[]
}

export interface ExecutionResult {
  outcome: CallOutcome
  /** Present when the message (or a response callback) trapped; its changes were rolled back. */
  trap?: Trap
  /** For a response whose callback trapped: the cleanup closure ran (and its changes were kept unless it trapped too). */
  cleanupRan?: boolean
  calls: OutgoingCall[]
  instructionsUsed: bigint
  /** The new certified data, when the execution set it (and kept its changes). */
  certifiedData?: Uint8Array
  /** The new global timer (ns; 0 = off), when the execution set it. */
  globalTimer?: bigint
  debugPrints: string[]
  heap: MemoryDelta
  stable: MemoryDelta
  /** The module's own mutable globals after the execution (canister state, a few values; empty for JS canisters). */
  globals: Array<number | bigint>
}

/** Everything that makes up an installed canister: enough to restore it on another sandbox or after a crash. */
export interface CanisterSnapshot {
  canisterId: CanisterId
  module: Uint8Array
  heap: Uint8Array
  /** Values of the module's own mutable globals, in index order (numbers for i32/f32/f64, bigint for i64). */
  globals: Array<number | bigint>
  stableSizeWasmPages: number
  /** Non-zero stable pages only. */
  stablePages: Page[]
  certifiedData: Uint8Array
  globalTimer: bigint
}

export interface Sandbox {
  /** Installs, reinstalls or upgrades a canister. Refuses invalid modules with `InvalidModuleError`. */
  install (req: InstallRequest): Promise<ExecutionResult>
  /** Runs one message. Throws only for local faults (not installed, sandbox closed, watchdog), never for canister faults. */
  execute (req: ExecutionRequest): Promise<ExecutionResult>
  uninstall (canisterId: CanisterId): Promise<void>
  /** The canister's committed state. */
  snapshot (canisterId: CanisterId): Promise<CanisterSnapshot>
  /** Installs a canister from a snapshot (state sync, crash recovery), running no code. */
  restore (snapshot: CanisterSnapshot): Promise<void>
  close (): Promise<void>
}
