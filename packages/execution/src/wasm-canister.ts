import type { CanisterId } from '@icnet/types'
import type { SandboxLimits } from './constants.js'
import { InvalidModuleError } from './errors.js'
import { HeapShadow, StableMemory } from './paged-memory.js'
import { ExecutionState, HostTrap, SYSTEM_API, apiFunctionMatches, buildImports } from './system-api.js'
import type { ApiHost } from './system-api.js'
import type { CanisterSnapshot, Closure, ExecutionRequest, ExecutionResult, MemoryDelta, Trap } from './sandbox.js'
import { executeMessage } from './message-flow.js'
import type { CanisterRunner } from './message-flow.js'
import { WASM_PAGE_SIZE } from './sandbox.js'
import {
  BUDGET_EXPORT, GLOBAL_EXPORT_PREFIX, MEMORY_EXPORT, START_EXPORT, TABLE_EXPORT, instrumentModule
} from './wasm/instrument.js'
import type { InstrumentedModule } from './wasm/instrument.js'
import { ExternalKind } from './wasm/module.js'

/** A validated, instrumented and compiled canister module. */
export interface CompiledCanister {
  /** The module as installed (before instrumentation): what snapshots keep. */
  original: Uint8Array
  info: InstrumentedModule
  module: WebAssembly.Module
}

/** Validates, instruments and compiles a module; throws `InvalidModuleError` for anything unacceptable. */
export function compileCanister (bytes: Uint8Array, limits: SandboxLimits, meter = true): CompiledCanister {
  if (bytes.length > limits.maxModuleBytes) {
    throw new InvalidModuleError('too-large', `module is ${bytes.length} bytes, the limit is ${limits.maxModuleBytes}`)
  }
  const info = instrumentModule(bytes, { maxHeapPages: limits.maxHeapWasmPages, meter })
  for (const imp of info.parsed.imports) {
    const t = info.parsed.types[imp.typeIndex]!
    // Unknown names are allowed (they trap when called); known names must have the right signature.
    if (!apiFunctionMatches(imp.name, t.params, t.results) && isKnown(imp.name)) {
      throw new InvalidModuleError('bad-import', `import ic0.${imp.name} has the wrong signature`)
    }
  }
  let module: WebAssembly.Module
  try {
    module = new WebAssembly.Module(info.bytes as Uint8Array<ArrayBuffer>)
  } catch (err) {
    throw new InvalidModuleError('malformed', `module does not compile: ${String((err as Error).message)}`, { cause: err })
  }
  return { original: bytes.slice(), info, module }
}

function isKnown (name: string): boolean {
  return Object.hasOwn(SYSTEM_API, name)
}

/**
 * One installed wasm canister: its instance, its committed state (heap shadow,
 * globals, stable memory, certified data, timer) and the logic that runs a
 * message and then commits or rolls back.
 */
export class WasmCanister implements ApiHost, CanisterRunner {
  readonly canisterId: CanisterId
  readonly selfId: Uint8Array
  readonly limits: SandboxLimits
  readonly compiled: CompiledCanister
  stable: StableMemory
  exec: ExecutionState = new ExecutionState({ context: 'query', time: 0n })
  committedTimer = 0n
  certifiedData: Uint8Array = new Uint8Array(0)

  private instance!: WebAssembly.Instance
  private memoryObj: WebAssembly.Memory | undefined
  private table: WebAssembly.Table | undefined
  private budget!: WebAssembly.Global
  private globals: WebAssembly.Global[] = []
  private committedGlobals: Array<number | bigint> = []
  private readonly heap = new HeapShadow()
  private runLimit = 0n
  private readonly imports: WebAssembly.Imports

  constructor (canisterId: CanisterId, compiled: CompiledCanister, limits: SandboxLimits, stable = new StableMemory()) {
    this.canisterId = canisterId
    this.selfId = canisterId.toUint8Array()
    this.compiled = compiled
    this.limits = limits
    this.stable = stable
    const ic0 = compiled.info.parsed.imports.map(i => ({ name: i.name }))
    this.imports = { ic0: buildImports(() => this, ic0) as any }
    this.instantiate()
    this.committedGlobals = this.globals.map(g => g.value)
  }

  private instantiate (): void {
    this.instance = new WebAssembly.Instance(this.compiled.module, this.imports)
    const ex = this.instance.exports
    this.budget = ex[BUDGET_EXPORT] as WebAssembly.Global
    this.memoryObj = ex[MEMORY_EXPORT] as WebAssembly.Memory | undefined
    this.table = ex[TABLE_EXPORT] as WebAssembly.Table | undefined
    this.globals = this.compiled.info.mutableGlobals.map(i => ex[`${GLOBAL_EXPORT_PREFIX}${i}`] as WebAssembly.Global)
  }

  /** Rebuilds the instance from committed state: used when a rolled-back message had grown the heap. */
  private reinstantiate (): void {
    this.instantiate()
    this.loadHeap(this.heap.bytes)
    this.globals.forEach((g, i) => { g.value = this.committedGlobals[i] })
  }

  private loadHeap (bytes: Uint8Array): void {
    const mem = this.memoryObj
    if (mem === undefined) return
    const want = bytes.length / WASM_PAGE_SIZE
    const have = mem.buffer.byteLength / WASM_PAGE_SIZE
    if (want > have) mem.grow(want - have)
    new Uint8Array(mem.buffer).set(bytes)
  }

  memory (): Uint8Array {
    return this.memoryObj === undefined ? new Uint8Array(0) : new Uint8Array(this.memoryObj.buffer)
  }

  charge (n: bigint): void {
    const left = (this.budget.value as bigint) - n
    this.budget.value = left
    if (left < 0n) throw new HostTrap('instruction-limit', this.limitMessage())
  }

  instructionsUsed (): bigint {
    return this.runLimit - (this.budget.value as bigint)
  }

  private limitMessage (): string {
    return `Canister trapped: instruction limit exceeded (limit ${this.runLimit})`
  }

  private classify (err: unknown): Trap {
    if (err instanceof HostTrap) return { kind: err.kind, message: err.message }
    if ((this.budget.value as bigint) < 0n) return { kind: 'instruction-limit', message: this.limitMessage() }
    if (err instanceof WebAssembly.RuntimeError) return { kind: 'wasm', message: `Canister trapped: ${err.message}` }
    if (err instanceof RangeError) return { kind: 'wasm', message: 'Canister trapped: stack overflow' }
    return { kind: 'wasm', message: `Canister trapped: ${String((err as Error)?.message ?? err)}` }
  }

  /** Runs `fn` under `limit` instructions; returns the trap (state not yet rolled back) and the count used. */
  run (exec: ExecutionState, limit: bigint, fn: () => void): { trap: Trap | undefined, used: bigint } {
    this.exec = exec
    this.runLimit = limit
    this.budget.value = limit
    let trap: Trap | undefined
    try {
      fn()
    } catch (err) {
      trap = this.classify(err)
    }
    const left = this.budget.value as bigint
    if (trap === undefined && left < 0n) trap = { kind: 'instruction-limit', message: this.limitMessage() }
    const used = trap?.kind === 'instruction-limit' ? limit : limit - left
    return { trap, used }
  }

  exportedFunction (name: string): (() => unknown) | undefined {
    const f = this.instance.exports[name]
    return typeof f === 'function' ? f as () => unknown : undefined
  }

  hasExport (name: string): boolean {
    return this.compiled.info.parsed.exports.some(e => e.name === name && e.kind === ExternalKind.function)
  }

  callClosure (c: Closure): void {
    let f: unknown
    try { f = this.table?.get(c.fn) } catch { f = undefined }
    if (typeof f !== 'function') throw new HostTrap('wasm', `Canister trapped: callback function index ${c.fn} is not in the table`)
    ;(f as (env: number) => unknown)(c.env)
  }

  runStart (): void {
    this.exportedFunction(START_EXPORT)?.()
  }

  /** Keeps the execution's changes; returns the changed pages. */
  commit (exec: ExecutionState): { heap: MemoryDelta, stable: MemoryDelta } {
    const live = this.memory()
    const heap = this.heap.commit(live, this.heap.diff(live))
    this.committedGlobals = this.globals.map(g => g.value)
    const stable = this.stable.commit()
    if (exec.certifiedData !== undefined) this.certifiedData = exec.certifiedData
    if (exec.globalTimer !== undefined) this.committedTimer = exec.globalTimer
    return { heap, stable }
  }

  /** Undoes the execution's changes to heap, globals and stable memory. */
  rollback (): void {
    const live = this.memory()
    if (live.length === this.heap.byteLength) {
      this.heap.restoreInto(live, this.heap.diff(live))
      this.globals.forEach((g, i) => { g.value = this.committedGlobals[i] })
    } else {
      this.reinstantiate()
    }
    this.stable.rollback()
  }

  /** Treats the current live state as a fresh install: the whole heap is the delta. */
  commitFresh (exec: ExecutionState): MemoryDelta {
    const delta = this.heap.reset(this.memory())
    this.committedGlobals = this.globals.map(g => g.value)
    if (exec.certifiedData !== undefined) this.certifiedData = exec.certifiedData
    if (exec.globalTimer !== undefined) this.committedTimer = exec.globalTimer
    return delta
  }

  /** An unchanged state: sizes, no pages, the committed globals. */
  sizeDelta (): { heap: MemoryDelta, stable: MemoryDelta, globals: Array<number | bigint> } {
    return {
      heap: { sizeWasmPages: this.heap.byteLength / WASM_PAGE_SIZE, reset: false, pages: [] },
      stable: { sizeWasmPages: this.stable.size, reset: false, pages: [] },
      globals: [...this.committedGlobals]
    }
  }

  get committedGlobalValues (): Array<number | bigint> { return [...this.committedGlobals] }

  snapshot (): CanisterSnapshot {
    return {
      canisterId: this.canisterId,
      module: this.compiled.original.slice(),
      heap: new Uint8Array(this.heap.bytes),
      globals: [...this.committedGlobals],
      stableSizeWasmPages: this.stable.size,
      stablePages: this.stable.committedPages(),
      certifiedData: this.certifiedData.slice(),
      globalTimer: this.committedTimer
    }
  }

  static fromSnapshot (s: CanisterSnapshot, compiled: CompiledCanister, limits: SandboxLimits): WasmCanister {
    const c = new WasmCanister(s.canisterId, compiled, limits)
    if (s.globals.length !== c.globals.length) throw new InvalidModuleError('malformed', 'snapshot globals do not match the module')
    c.loadHeap(s.heap)
    c.heap.reset(c.memory())
    c.globals.forEach((g, i) => { g.value = s.globals[i] })
    c.committedGlobals = [...s.globals]
    c.stable.load(s.stableSizeWasmPages, s.stablePages)
    c.certifiedData = s.certifiedData.slice()
    c.committedTimer = s.globalTimer
    return c
  }

  /** The function behind `canister_update <name>` / `canister_query <name>`, if exported. */
  method (kind: 'update' | 'query', name: string): (() => unknown) | undefined {
    const exportName = `canister_${kind} ${name}`
    return this.hasExport(exportName) ? this.exportedFunction(exportName) : undefined
  }

  systemTask (kind: 'heartbeat' | 'timer'): (() => unknown) | undefined {
    return this.exportedFunction(kind === 'heartbeat' ? 'canister_heartbeat' : 'canister_global_timer')
  }

  /** Runs one message (update, query, response, heartbeat, timer). */
  execute (req: ExecutionRequest): ExecutionResult {
    return executeMessage(this, req)
  }
}
