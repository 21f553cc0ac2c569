import { MAX_INTER_CANISTER_PAYLOAD_BYTES } from '@icnet/types'

export interface SandboxLimits {
  /** Heap limit in wasm pages; written into the module's memory maximum, so `memory.grow` returns -1 past it. */
  maxHeapWasmPages: number
  /** Stable memory limit in wasm pages; `stable64_grow` returns -1 past it. */
  maxStableWasmPages: number
  /** Largest module accepted at install. */
  maxModuleBytes: number
  /** Largest reply or outgoing call payload; appending past it traps. */
  maxPayloadBytes: number
  /** Outgoing calls per execution; `call_perform` returns SysTransient past it (like a full output queue). */
  maxOutgoingCalls: number
  /** Debug print lines kept per execution, and bytes per line (the rest is dropped). */
  maxDebugPrints: number
  maxDebugPrintBytes: number
}

export const DEFAULT_LIMITS: SandboxLimits = {
  // 1 GiB heap: enough for test and load canisters, small enough for a shared machine.
  maxHeapWasmPages: 16384,
  // 4 GiB stable memory; it is stored sparsely, so the limit costs nothing until used.
  maxStableWasmPages: 65536,
  maxModuleBytes: 32 * 1024 * 1024,
  maxPayloadBytes: MAX_INTER_CANISTER_PAYLOAD_BYTES,
  maxOutgoingCalls: 500,
  maxDebugPrints: 100,
  maxDebugPrintBytes: 4096
}

/**
 * Instruction costs of system API calls, on top of the call instruction
 * itself: a fixed part and a per-byte part for calls that copy data, so
 * copying is never free.
 */
export const API_COST = {
  base: 20n,
  perByte: 1n,
  callPerform: 1000n,
  stableGrow: 100n
} as const

/** Default per-message budget (the IC's update message limit is 20 billion; a round budget is a scheduler matter). */
export const DEFAULT_INSTRUCTION_LIMIT = 20_000_000_000n

/** Wall-clock watchdog per call in a worker: a last resort, metering is what bounds execution. */
export const DEFAULT_WATCHDOG_MS = 30_000

/** Certified data is at most 32 bytes (a hash). */
export const MAX_CERTIFIED_DATA_BYTES = 32

/** Calls waiting per worker: a scheduler keeps a handful in flight; thousands mean a runaway caller. */
export const DEFAULT_MAX_QUEUED_PER_WORKER = 10_000
