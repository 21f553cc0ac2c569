/**
 * JS canisters: plain classes programmed against the same system API
 * semantics as wasm canisters (contexts, reply rules, calls with named
 * callbacks and an env, stable memory, certified data, timer), for fast tests
 * of everything above execution.
 */
import type { Principal } from '@icnet/types'

/** Callbacks are named, not closures, so outgoing calls carry plain data (`{ fn, env }`) like wasm ones. */
export interface JsCallOptions {
  reply: string
  reject: string
  cleanup?: string
  env?: number
}

export interface JsStableMemory {
  /** Size in wasm (64 KiB) pages. */
  size (): number
  /** Returns the old size, or -1 past the limit. */
  grow (pages: number): number
  read (offset: number, length: number): Uint8Array
  write (offset: number, data: Uint8Array): void
}

/** The system API as a JS canister sees it; every call checks its context, like `ic0`. */
export interface JsSystemApi {
  argData (): Uint8Array
  caller (): Principal
  self (): Principal
  time (): bigint
  methodName (): string
  rejectCode (): number
  rejectMessage (): string
  reply (data: Uint8Array): void
  reject (message: string): void
  /** Returns 0 when the call was queued, a reject code otherwise (like `ic0.call_perform`). */
  call (callee: Principal, method: string, payload: Uint8Array, callbacks: JsCallOptions): number
  readonly stable: JsStableMemory
  certifiedDataSet (data: Uint8Array): void
  globalTimerSet (timeNs: bigint): bigint
  debugPrint (text: string): void
  trap (message: string): never
  /** Charges instructions for work the canister does itself (JS code is not metered otherwise). */
  charge (instructions: number): void
}

export type JsHandler = (api: JsSystemApi) => void
export type JsCallback = (api: JsSystemApi, env: number) => void

export interface JsCanister {
  /** The canister's heap: its state as bytes. The sandbox pages it for dirty sets and restores it on rollback. */
  saveState (): Uint8Array
  loadState (bytes: Uint8Array): void
  init?: JsHandler
  preUpgrade?: JsHandler
  postUpgrade?: JsHandler
  heartbeat?: JsHandler
  globalTimer?: JsHandler
  updates?: Record<string, JsHandler>
  queries?: Record<string, JsHandler>
  callbacks?: Record<string, JsCallback>
}

/** Makes a fresh canister instance; installed by name (the install request's `module` is the UTF-8 name). */
export type JsCanisterFactory = () => JsCanister
