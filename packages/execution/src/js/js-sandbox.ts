import { Principal, RejectCode } from '@icnet/types'
import type { CanisterId } from '@icnet/types'
import { API_COST, DEFAULT_LIMITS, MAX_CERTIFIED_DATA_BYTES } from '../constants.js'
import type { SandboxLimits } from '../constants.js'
import { CanisterStateError, InvalidModuleError } from '../errors.js'
import { executeMessage } from '../message-flow.js'
import type { CanisterRunner } from '../message-flow.js'
import { HeapShadow, StableMemory } from '../paged-memory.js'
import { ExecutionState, HostTrap, SYSTEM_API } from '../system-api.js'
import { WASM_PAGE_SIZE } from '../sandbox.js'
import type {
  CanisterSnapshot, Closure, ExecutionRequest, ExecutionResult, InstallRequest, MemoryDelta, Sandbox, Trap
} from '../sandbox.js'
import type { JsCallOptions, JsCanister, JsCanisterFactory, JsSystemApi } from './js-canister.js'

/** Every message costs this much before the canister charges anything itself. */
const MESSAGE_BASE_COST = 1000n

function unpadded (heap: Uint8Array): Uint8Array {
  const n = new DataView(heap.buffer, heap.byteOffset, heap.byteLength).getUint32(0, true)
  return heap.slice(4, 4 + n)
}

function encodedState (c: JsCanister): Uint8Array {
  // The heap is kept in whole wasm pages like a wasm memory, prefixed by the state's length.
  const s = c.saveState()
  const need = s.length + 4
  const size = Math.max(1, Math.ceil(need / WASM_PAGE_SIZE)) * WASM_PAGE_SIZE
  const heap = new Uint8Array(size)
  new DataView(heap.buffer).setUint32(0, s.length, true)
  heap.set(s, 4)
  return heap
}

/** A JS canister in the JS sandbox: state as a paged heap, metering by explicit charges. */
class JsCanisterHost implements CanisterRunner {
  readonly canisterId: CanisterId
  readonly name: string
  readonly stable: StableMemory
  committedTimer = 0n
  certifiedData: Uint8Array = new Uint8Array(0)
  readonly committedGlobalValues: Array<number | bigint> = []
  readonly canister: JsCanister
  private readonly heap = new HeapShadow()
  private readonly limits: SandboxLimits
  private readonly callbackNames: string[]
  private exec: ExecutionState = new ExecutionState({ context: 'query', time: 0n })
  private left = 0n
  private limit = 0n

  constructor (id: CanisterId, name: string, canister: JsCanister, limits: SandboxLimits, stable = new StableMemory()) {
    this.canisterId = id
    this.name = name
    this.canister = canister
    this.limits = limits
    this.stable = stable
    this.callbackNames = Object.keys(canister.callbacks ?? {})
  }

  private check (ic0: string): void {
    const ctx = this.exec.context
    if (!SYSTEM_API[ic0]!.contexts.includes(ctx)) throw new HostTrap('api-misuse', `ic0.${ic0} cannot be called in the ${ctx} context`)
    this.charge(API_COST.base)
  }

  charge (n: bigint): void {
    this.left -= n
    if (this.left < 0n) throw new HostTrap('instruction-limit', `Canister trapped: instruction limit exceeded (limit ${this.limit})`)
  }

  private api (): JsSystemApi {
    const self = this
    const e = (): ExecutionState => self.exec
    const stable = self.stable
    return {
      argData () { self.check('msg_arg_data_copy'); self.charge(BigInt(e().arg.length)); return e().arg.slice() },
      caller () { self.check('msg_caller_copy'); return Principal.fromUint8Array(e().caller) },
      self () { self.check('canister_self_copy'); return self.canisterId },
      time () { self.check('time'); return e().time },
      methodName () { self.check('msg_method_name_copy'); return e().method },
      rejectCode () { self.check('msg_reject_code'); return e().rejectCode },
      rejectMessage () { self.check('msg_reject_msg_copy'); return e().rejectMessage },
      reply (data) {
        self.check('msg_reply')
        if (!e().mayReply) throw new HostTrap('api-misuse', 'ic0.msg_reply: the call was already replied to, or cannot be replied to here')
        if (data.length > self.limits.maxPayloadBytes) throw new HostTrap('memory-limit', `reply payload exceeds ${self.limits.maxPayloadBytes} bytes`)
        self.charge(BigInt(data.length))
        e().outcome = { kind: 'reply', data: data.slice() }
        e().markReplied()
      },
      reject (message) {
        self.check('msg_reject')
        if (!e().mayReply) throw new HostTrap('api-misuse', 'ic0.msg_reject: the call was already replied to, or cannot be replied to here')
        e().outcome = { kind: 'reject', code: RejectCode.CanisterReject, message }
        e().markReplied()
      },
      call (callee, method, payload, cb: JsCallOptions) {
        self.check('call_new')
        const idx = (n: string): number => {
          const i = self.callbackNames.indexOf(n)
          if (i < 0) throw new HostTrap('api-misuse', `no callback named ${JSON.stringify(n)}`)
          return i
        }
        if (payload.length > self.limits.maxPayloadBytes) throw new HostTrap('memory-limit', `ic0.call_data_append: payload exceeds ${self.limits.maxPayloadBytes} bytes`)
        const env = cb.env ?? 0
        self.charge(BigInt(payload.length) + API_COST.callPerform)
        if (e().calls.length >= self.limits.maxOutgoingCalls) return RejectCode.SysTransient
        e().calls.push({
          callee, method, payload: payload.slice(),
          callback: {
            reply: { fn: idx(cb.reply), env },
            reject: { fn: idx(cb.reject), env },
            ...(cb.cleanup !== undefined ? { cleanup: { fn: idx(cb.cleanup), env } } : {})
          }
        })
        return 0
      },
      stable: {
        size () { self.check('stable64_size'); return stable.size },
        grow (pages) { self.check('stable64_grow'); return stable.grow(pages, self.limits.maxStableWasmPages) },
        read (offset, length) {
          self.check('stable64_read')
          if (offset < 0 || length < 0 || offset + length > stable.byteLength) throw new HostTrap('api-misuse', 'ic0.stable64_read: out of bounds')
          self.charge(BigInt(length))
          const out = new Uint8Array(length)
          stable.read(offset, out)
          return out
        },
        write (offset, data) {
          self.check('stable64_write')
          if (offset < 0 || offset + data.length > stable.byteLength) throw new HostTrap('api-misuse', 'ic0.stable64_write: out of bounds')
          self.charge(BigInt(data.length))
          stable.write(offset, data)
        }
      },
      certifiedDataSet (data) {
        self.check('certified_data_set')
        if (data.length > MAX_CERTIFIED_DATA_BYTES) throw new HostTrap('api-misuse', `ic0.certified_data_set: more than ${MAX_CERTIFIED_DATA_BYTES} bytes`)
        e().certifiedData = data.slice()
      },
      globalTimerSet (t) {
        self.check('global_timer_set')
        const prev = e().globalTimer ?? self.committedTimer
        e().globalTimer = t
        return prev
      },
      debugPrint (text) {
        self.check('debug_print')
        if (e().debugPrints.length < self.limits.maxDebugPrints) e().debugPrints.push(text.slice(0, self.limits.maxDebugPrintBytes))
      },
      trap (message): never {
        throw new HostTrap('explicit', `Canister called ic0.trap with message: ${message}`)
      },
      charge (n) { self.charge(BigInt(Math.max(0, Math.floor(n)))) }
    }
  }

  run (exec: ExecutionState, limit: bigint, fn: () => void): { trap: Trap | undefined, used: bigint } {
    this.exec = exec
    this.limit = limit
    this.left = limit
    let trap: Trap | undefined
    try {
      this.charge(MESSAGE_BASE_COST)
      fn()
    } catch (err) {
      trap = err instanceof HostTrap
        ? { kind: err.kind, message: err.message }
        : { kind: 'wasm', message: `Canister trapped: ${String((err as Error)?.message ?? err)}` }
    }
    const used = trap?.kind === 'instruction-limit' ? limit : limit - this.left
    return { trap, used }
  }

  commit (exec: ExecutionState): { heap: MemoryDelta, stable: MemoryDelta } {
    const live = encodedState(this.canister)
    const heap = this.heap.commit(live, this.heap.diff(live))
    if (exec.certifiedData !== undefined) this.certifiedData = exec.certifiedData
    if (exec.globalTimer !== undefined) this.committedTimer = exec.globalTimer
    return { heap, stable: this.stable.commit() }
  }

  commitFresh (exec: ExecutionState): MemoryDelta {
    if (exec.certifiedData !== undefined) this.certifiedData = exec.certifiedData
    return this.heap.reset(encodedState(this.canister))
  }

  rollback (): void {
    this.canister.loadState(unpadded(this.heap.bytes))
    this.stable.rollback()
  }

  sizeDelta (): { heap: MemoryDelta, stable: MemoryDelta, globals: Array<number | bigint> } {
    return {
      heap: { sizeWasmPages: this.heap.byteLength / WASM_PAGE_SIZE, reset: false, pages: [] },
      stable: { sizeWasmPages: this.stable.size, reset: false, pages: [] },
      globals: []
    }
  }

  method (kind: 'update' | 'query', name: string): (() => unknown) | undefined {
    const table = kind === 'update' ? this.canister.updates : this.canister.queries
    const h = table !== undefined && Object.hasOwn(table, name) ? table[name] : undefined
    return h === undefined ? undefined : () => h.call(this.canister, this.api())
  }

  systemTask (kind: 'heartbeat' | 'timer'): (() => unknown) | undefined {
    const h = kind === 'heartbeat' ? this.canister.heartbeat : this.canister.globalTimer
    return h === undefined ? undefined : () => h.call(this.canister, this.api())
  }

  hook (name: 'init' | 'preUpgrade' | 'postUpgrade'): (() => unknown) | undefined {
    const h = this.canister[name]
    return h === undefined ? undefined : () => h.call(this.canister, this.api())
  }

  callClosure (c: Closure): void {
    const name = this.callbackNames[c.fn]
    if (name === undefined) throw new HostTrap('wasm', `Canister trapped: callback function index ${c.fn} is not in the table`)
    this.canister.callbacks![name]!.call(this.canister, this.api(), c.env)
  }

  snapshot (): CanisterSnapshot {
    return {
      canisterId: this.canisterId,
      module: new TextEncoder().encode(this.name),
      heap: new Uint8Array(this.heap.bytes),
      globals: [],
      stableSizeWasmPages: this.stable.size,
      stablePages: this.stable.committedPages(),
      certifiedData: this.certifiedData.slice(),
      globalTimer: this.committedTimer
    }
  }

  loadSnapshot (s: CanisterSnapshot): void {
    this.heap.reset(s.heap)
    this.canister.loadState(unpadded(s.heap))
    this.stable.load(s.stableSizeWasmPages, s.stablePages)
    this.certifiedData = s.certifiedData.slice()
    this.committedTimer = s.globalTimer
  }
}

export interface JsSandboxOptions {
  /** The canisters that can be installed, by name. */
  canisters: Record<string, JsCanisterFactory>
  limits?: Partial<SandboxLimits>
}

/**
 * An in-process sandbox for JS canisters, with the same interface and message
 * semantics as the wasm sandbox. JS code is not preempted: a canister that
 * loops forever hangs the thread, so it is for tests of trusted canisters.
 */
export class JsSandbox implements Sandbox {
  private readonly factories: Record<string, JsCanisterFactory>
  private readonly limits: SandboxLimits
  private readonly canisters = new Map<string, JsCanisterHost>()

  constructor (options: JsSandboxOptions) {
    this.factories = options.canisters
    this.limits = { ...DEFAULT_LIMITS, ...options.limits }
  }

  private get (id: CanisterId): JsCanisterHost {
    const c = this.canisters.get(id.toHex())
    if (c === undefined) throw new CanisterStateError(`canister ${id.toText()} is not installed`)
    return c
  }

  private create (id: CanisterId, module: Uint8Array, stable?: StableMemory): JsCanisterHost {
    const name = new TextDecoder().decode(module)
    const factory = Object.hasOwn(this.factories, name) ? this.factories[name] : undefined
    if (factory === undefined) throw new InvalidModuleError('malformed', `no JS canister named ${JSON.stringify(name.slice(0, 64))}`)
    return new JsCanisterHost(id, name, factory(), this.limits, stable)
  }

  async install (req: InstallRequest): Promise<ExecutionResult> {
    const existing = this.canisters.get(req.canisterId.toHex())
    if (req.mode === 'install' && existing !== undefined) throw new CanisterStateError(`canister ${req.canisterId.toText()} is already installed (use reinstall or upgrade)`)
    if (req.mode !== 'install' && existing === undefined) throw new CanisterStateError(`canister ${req.canisterId.toText()} is not installed`)
    const caller = req.caller.toUint8Array()
    const debugPrints: string[] = []
    let used = 0n
    const failed = (trap: Trap): ExecutionResult => ({
      outcome: { kind: 'reject', code: RejectCode.CanisterError, message: trap.message },
      trap, calls: [], instructionsUsed: used, debugPrints,
      ...(existing?.sizeDelta() ?? { heap: { sizeWasmPages: 0, reset: false, pages: [] }, stable: { sizeWasmPages: 0, reset: false, pages: [] }, globals: [] })
    })
    let stable: StableMemory | undefined
    if (req.mode === 'upgrade') {
      const old = existing!
      const pre = old.hook('preUpgrade')
      if (pre !== undefined) {
        const r = old.run(new ExecutionState({ context: 'pre_upgrade', caller, time: req.time, debugPrints }), req.instructionLimit, () => { pre() })
        used = r.used
        if (r.trap !== undefined) { old.rollback(); return failed(r.trap) }
      }
      stable = old.stable
    }
    const fresh = this.create(req.canisterId, req.module, stable)
    const exec = new ExecutionState({ context: req.mode === 'upgrade' ? 'post_upgrade' : 'init', arg: req.arg, caller, time: req.time, debugPrints })
    const hook = fresh.hook(req.mode === 'upgrade' ? 'postUpgrade' : 'init')
    if (hook !== undefined) {
      const r = fresh.run(exec, req.instructionLimit - used, () => { hook() })
      used += r.used
      if (r.trap !== undefined) {
        if (req.mode === 'upgrade') existing!.rollback()
        return failed(r.trap)
      }
    }
    if (req.mode === 'upgrade') fresh.certifiedData = existing!.certifiedData
    const heap = fresh.commitFresh(exec)
    const stableDelta = req.mode === 'upgrade' ? fresh.stable.commit() : fresh.stable.fullDelta()
    this.canisters.set(req.canisterId.toHex(), fresh)
    const result: ExecutionResult = {
      outcome: { kind: 'reply', data: new Uint8Array(0) },
      calls: [], instructionsUsed: used, debugPrints, heap, stable: stableDelta, globals: [], globalTimer: 0n
    }
    if (exec.certifiedData !== undefined || req.mode !== 'upgrade') result.certifiedData = fresh.certifiedData
    return result
  }

  async execute (req: ExecutionRequest): Promise<ExecutionResult> {
    return executeMessage(this.get(req.canisterId), req)
  }

  async uninstall (id: CanisterId): Promise<void> { this.canisters.delete(id.toHex()) }

  async snapshot (id: CanisterId): Promise<CanisterSnapshot> { return this.get(id).snapshot() }

  async restore (s: CanisterSnapshot): Promise<void> {
    const c = this.create(s.canisterId, s.module)
    c.loadSnapshot(s)
    this.canisters.set(s.canisterId.toHex(), c)
  }

  async close (): Promise<void> { this.canisters.clear() }
}

