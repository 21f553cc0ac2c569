/**
 * @packageDocumentation
 *
 * The sandbox interface (what message routing knows of execution) and its
 * implementations: WebAssembly canisters on the IC system API with
 * deterministic metering, in worker threads or in-process, and a JS sandbox
 * for fast tests.
 */
export * from './sandbox.js'
export * from './errors.js'
export * from './constants.js'
export { WasmSandbox, WasmSandboxCore } from './wasm-sandbox.js'
export type { WasmSandboxOptions } from './wasm-sandbox.js'
export { instrumentModule } from './wasm/instrument.js'
export type { InstrumentOptions, InstrumentedModule } from './wasm/instrument.js'
export { SYSTEM_API } from './system-api.js'
export { WorkerSandbox } from './worker-sandbox.js'
export type { WorkerSandboxOptions } from './worker-sandbox.js'
export { CanisterMirror } from './mirror.js'
export * from './xnet-load.js'
export { JsSandbox } from './js/js-sandbox.js'
export type { JsSandboxOptions } from './js/js-sandbox.js'
export type { JsCanister, JsCanisterFactory, JsSystemApi, JsStableMemory, JsCallOptions, JsHandler, JsCallback } from './js/js-canister.js'
export { JsCounter, JsEcho, JsXnetLoad, JS_TEST_CANISTERS } from './js/canisters.js'
