import { RejectCode } from '@icnet/types'
import type { CanisterId } from '@icnet/types'
import { DEFAULT_LIMITS } from './constants.js'
import type { SandboxLimits } from './constants.js'
import { CanisterStateError, InvalidModuleError } from './errors.js'
import { ExecutionState } from './system-api.js'
import { WasmCanister, compileCanister } from './wasm-canister.js'
import type {
  CanisterSnapshot, ExecutionRequest, ExecutionResult, InstallRequest, MemoryDelta, Sandbox, Trap
} from './sandbox.js'

export interface WasmSandboxOptions {
  limits?: Partial<SandboxLimits>
  /**
   * Run modules without metering code. Only for measuring the metering
   * overhead: without it, a runaway canister is stopped only by a worker's watchdog.
   */
  unmetered?: boolean
}

const EMPTY: MemoryDelta = { sizeWasmPages: 0, reset: false, pages: [] }

function key (id: CanisterId): string { return id.toHex() }

/**
 * The synchronous core of the wasm sandbox: canisters by id and the install
 * flows. Runs on whatever thread owns it (the caller's, or a worker's).
 */
export class WasmSandboxCore {
  readonly limits: SandboxLimits
  private readonly meter: boolean
  private readonly canisters = new Map<string, WasmCanister>()

  constructor (options: WasmSandboxOptions = {}) {
    this.limits = { ...DEFAULT_LIMITS, ...options.limits }
    this.meter = options.unmetered !== true
  }

  get size (): number { return this.canisters.size }

  private get (id: CanisterId): WasmCanister {
    const c = this.canisters.get(key(id))
    if (c === undefined) throw new CanisterStateError(`canister ${id.toText()} is not installed`)
    return c
  }

  private create (req: InstallRequest, compiled: ReturnType<typeof compileCanister>, stable?: WasmCanister['stable']): WasmCanister {
    try {
      return new WasmCanister(req.canisterId, compiled, this.limits, stable)
    } catch (err) {
      throw new InvalidModuleError('malformed', `module does not instantiate: ${String((err as Error).message)}`, { cause: err })
    }
  }

  install (req: InstallRequest): ExecutionResult {
    const existing = this.canisters.get(key(req.canisterId))
    if (req.mode === 'install' && existing !== undefined) {
      throw new CanisterStateError(`canister ${req.canisterId.toText()} is already installed (use reinstall or upgrade)`)
    }
    if (req.mode !== 'install' && existing === undefined) {
      throw new CanisterStateError(`canister ${req.canisterId.toText()} is not installed`)
    }
    const compiled = compileCanister(req.module, this.limits, this.meter)
    const caller = req.caller.toUint8Array()
    const debugPrints: string[] = []
    const failed = (trap: Trap, used: bigint): ExecutionResult => ({
      outcome: { kind: 'reject', code: RejectCode.CanisterError, message: trap.message },
      trap, calls: [], instructionsUsed: used, debugPrints,
      ...(existing?.sizeDelta() ?? { heap: EMPTY, stable: EMPTY, globals: [] })
    })

    let used = 0n
    let stable: WasmCanister['stable'] | undefined
    if (req.mode === 'upgrade') {
      const old = existing!
      const pre = old.exportedFunction('canister_pre_upgrade')
      if (pre !== undefined) {
        const r = old.run(new ExecutionState({ context: 'pre_upgrade', caller, time: req.time, debugPrints }), req.instructionLimit, () => pre())
        used = r.used
        if (r.trap !== undefined) { old.rollback(); return failed(r.trap, used) }
      }
      // Stable memory (with pre_upgrade's uncommitted writes) carries over; the heap does not.
      stable = old.stable
    }
    const fresh = this.create(req, compiled, stable)
    const start = fresh.run(new ExecutionState({ context: 'start', time: req.time, debugPrints }), req.instructionLimit - used, () => fresh.runStart())
    used += start.used
    let trap = start.trap
    const hookName = req.mode === 'upgrade' ? 'canister_post_upgrade' : 'canister_init'
    const exec = new ExecutionState({ context: req.mode === 'upgrade' ? 'post_upgrade' : 'init', arg: req.arg, caller, time: req.time, debugPrints })
    if (trap === undefined) {
      const hook = fresh.exportedFunction(hookName)
      if (hook !== undefined) {
        const r = fresh.run(exec, req.instructionLimit - used, () => hook())
        used += r.used
        trap = r.trap
      }
    }
    if (trap !== undefined) {
      if (existing !== undefined && req.mode === 'upgrade') existing.rollback()
      return failed(trap, used)
    }
    if (req.mode === 'upgrade') fresh.certifiedData = existing!.certifiedData
    const heap = fresh.commitFresh(exec)
    const stableDelta = req.mode === 'upgrade' ? fresh.stable.commit() : fresh.stable.fullDelta()
    this.canisters.set(key(req.canisterId), fresh)
    const result: ExecutionResult = {
      outcome: { kind: 'reply', data: new Uint8Array(0) },
      calls: [], instructionsUsed: used, debugPrints, heap, stable: stableDelta, globals: fresh.committedGlobalValues,
      // Install and upgrade leave the timer off; certified data is kept only by an upgrade.
      globalTimer: fresh.committedTimer
    }
    if (exec.certifiedData !== undefined || req.mode !== 'upgrade') result.certifiedData = fresh.certifiedData
    return result
  }

  execute (req: ExecutionRequest): ExecutionResult {
    return this.get(req.canisterId).execute(req)
  }

  uninstall (id: CanisterId): void {
    this.canisters.delete(key(id))
  }

  snapshot (id: CanisterId): CanisterSnapshot {
    return this.get(id).snapshot()
  }

  restore (s: CanisterSnapshot): void {
    const compiled = compileCanister(s.module, this.limits, this.meter)
    this.canisters.set(key(s.canisterId), WasmCanister.fromSnapshot(s, compiled, this.limits))
  }
}

/** The wasm sandbox on the caller's thread: deterministic, but a canister runs on the event loop. */
export class WasmSandbox implements Sandbox {
  private readonly core: WasmSandboxCore
  private closed = false

  constructor (options: WasmSandboxOptions = {}) {
    this.core = new WasmSandboxCore(options)
  }

  private live (): WasmSandboxCore {
    if (this.closed) throw new CanisterStateError('sandbox is closed')
    return this.core
  }

  async install (req: InstallRequest): Promise<ExecutionResult> { return this.live().install(req) }
  async execute (req: ExecutionRequest): Promise<ExecutionResult> { return this.live().execute(req) }
  async uninstall (id: CanisterId): Promise<void> { this.live().uninstall(id) }
  async snapshot (id: CanisterId): Promise<CanisterSnapshot> { return this.live().snapshot(id) }
  async restore (s: CanisterSnapshot): Promise<void> { this.live().restore(s) }
  async close (): Promise<void> { this.closed = true }
}
