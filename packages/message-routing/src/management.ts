import { createHash } from 'node:crypto'
import { IDL } from '@dfinity/candid'
import { logger } from '@libp2p/logger'
import {
  MANAGEMENT_CANISTER_ID, RejectCode, canisterIdFromU64, canisterIdToU64, compareBytes, principalEquals,
  type CanisterId, type Principal
} from '@icnet/types'
import type { ExecutionResult } from '@icnet/execution'
import { CanisterState } from './canister.js'
import { requestStop, startCanister } from './canister-stop.js'
import { DEFAULT_INSTALL_INSTRUCTIONS, MAX_PENDING_STOP_CALLS } from './constants.js'
import type { RoundContext } from './round-context.js'
import type { IngressMessage } from './types.js'

/**
 * The management canister `aaaaa-aa` as a part of the state machine: its
 * calls arrive as ingress in a finalized batch and are executed during
 * induction, in batch order, identically on every node of the subnet (the
 * canister id a create picks depends on the state alone). The arguments and
 * replies are the interface specification's Candid.
 *
 * A created canister holds an empty module until `install_code` (an empty
 * wasm module stands in, so that checkpoints and restores treat it like any
 * other canister); its `module_hash` is absent meanwhile, as on the IC.
 * `stop_canister` moves a running canister to `stopping` and its call stays
 * open (ingress status `processing`) until the canister has no open call
 * context: then it is `stopped` and every pending stop call is replied in the
 * same round (canister-stop.ts). A stopping canister takes no new ingress or
 * requests but still executes the responses to its own calls;
 * `start_canister` meanwhile makes it `running` and rejects the pending stop
 * calls; `delete_canister` needs `stopped`. Calls to a stopping, stopped or
 * empty canister are rejected when they are inducted.
 */
const log = logger('icnet:message-routing:management')

/** `(module)`: what a canister without code runs. */
export const EMPTY_MODULE = Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00])
/** Controllers a canister may have (the IC's limit). */
export const MAX_CONTROLLERS = 10

const CanisterSettings = IDL.Record({ controllers: IDL.Opt(IDL.Vec(IDL.Principal)) })
const CanisterIdRecord = IDL.Record({ canister_id: IDL.Principal })
const InstallMode = IDL.Variant({ install: IDL.Null, reinstall: IDL.Null, upgrade: IDL.Opt(IDL.Record({ skip_pre_upgrade: IDL.Opt(IDL.Bool) })) })
const StatusResult = IDL.Record({
  status: IDL.Variant({ running: IDL.Null, stopping: IDL.Null, stopped: IDL.Null }),
  settings: IDL.Record({ controllers: IDL.Vec(IDL.Principal), compute_allocation: IDL.Nat, memory_allocation: IDL.Nat, freezing_threshold: IDL.Nat }),
  module_hash: IDL.Opt(IDL.Vec(IDL.Nat8)),
  memory_size: IDL.Nat,
  cycles: IDL.Nat,
  idle_cycles_burned_per_day: IDL.Nat
})
/** Argument types: the specification's records trimmed to what is acted on (Candid subtyping accepts the full ones). */
const ARGS = {
  provisional_create_canister_with_cycles: IDL.Record({ settings: IDL.Opt(CanisterSettings), specified_id: IDL.Opt(IDL.Principal) }),
  create_canister: IDL.Record({ settings: IDL.Opt(CanisterSettings) }),
  install_code: IDL.Record({ mode: InstallMode, canister_id: IDL.Principal, wasm_module: IDL.Vec(IDL.Nat8), arg: IDL.Vec(IDL.Nat8) }),
  canister_status: CanisterIdRecord,
  stop_canister: CanisterIdRecord,
  start_canister: CanisterIdRecord,
  delete_canister: CanisterIdRecord
} as const
type Method = keyof typeof ARGS

export function isManagementMethod (name: string): name is Method { return Object.hasOwn(ARGS, name) }

/** The management canister's outcome of one call: a Candid reply, a reject, or no answer yet (a stop in progress). */
type Outcome = { reply: Uint8Array } | { code: RejectCode, message: string } | { pending: true }

const reject = (code: RejectCode, message: string): Outcome => ({ code, message })
const empty = (): Outcome => ({ reply: new Uint8Array(IDL.encode([], [])) })
const sha256 = (b: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(b).digest())

/**
 * Runs the batch's management calls and rejects calls to stopped or empty
 * canisters, recording each outcome in the ingress history; returns the other
 * messages, in order, for the usual ingress induction.
 */
export async function executeManagementIngress (ctx: RoundContext, ingress: readonly IngressMessage[], nowMs: number): Promise<IngressMessage[]> {
  const { state } = ctx
  const rest: IngressMessage[] = []
  for (const msg of ingress) {
    // Expired, duplicate or history full: left to inductIngress, which drops them.
    if (msg.expiry < nowMs || state.ingress.has(msg.requestId) || state.ingress.full) { rest.push(msg); continue }
    let outcome: Outcome | undefined
    if (principalEquals(msg.canisterId, MANAGEMENT_CANISTER_ID)) {
      outcome = await executeManagementCall(ctx, msg)
      ctx.metrics.executed.inc(1, { kind: 'management' })
    } else {
      const c = state.canister(msg.canisterId)
      if (c !== undefined && c.status !== 'running') outcome = reject(RejectCode.CanisterError, `Canister ${c.id.toText()} is ${c.status}`)
      else if (c !== undefined && c.moduleHash.length === 0) outcome = reject(RejectCode.CanisterError, `Canister ${c.id.toText()} has no wasm module`)
    }
    if (outcome === undefined) { rest.push(msg); continue }
    state.ingress.set(msg.requestId, 'reply' in outcome
      ? { status: 'replied', reply: outcome.reply, expiry: msg.expiry }
      : 'pending' in outcome
        ? { status: 'processing', expiry: msg.expiry }
        : { status: 'rejected', code: outcome.code, message: outcome.message, expiry: msg.expiry })
  }
  return rest
}

async function executeManagementCall (ctx: RoundContext, msg: IngressMessage): Promise<Outcome> {
  const method = msg.methodName
  if (!isManagementMethod(method)) return reject(RejectCode.DestinationInvalid, `the management canister has no method ${method.slice(0, 64)}`)
  // biome-ignore lint/suspicious/noExplicitAny: Candid decodes to untyped records, given types right below
  let arg: Record<string, any>
  try {
    arg = IDL.decode([ARGS[method]], msg.arg)[0] as Record<string, unknown>
  } catch (err) {
    return reject(RejectCode.CanisterError, `the argument of ${method} is not the expected Candid record: ${(err as Error).message.slice(0, 120)}`)
  }
  if (method === 'provisional_create_canister_with_cycles' || method === 'create_canister') {
    const settings = (arg.settings as [] | [{ controllers: [] | [Principal[]] }])[0]
    const controllers = settings?.controllers[0] ?? [msg.sender]
    const specified = method === 'provisional_create_canister_with_cycles' ? (arg.specified_id as [] | [Principal])[0] : undefined
    return await createCanister(ctx, msg.sender, controllers, specified)
  }
  const id = arg.canister_id as Principal
  const c = ctx.state.canister(id)
  if (c === undefined) return reject(RejectCode.DestinationInvalid, `Canister ${id.toText()} not found`)
  if (!c.controllers.some(p => principalEquals(p, msg.sender))) {
    return reject(RejectCode.CanisterError, `Only the controllers of canister ${id.toText()} can call ${method}`)
  }
  switch (method) {
    case 'install_code': return await installCode(ctx, c, msg.sender, Object.keys(arg.mode)[0] as 'install' | 'reinstall' | 'upgrade', u8(arg.wasm_module), u8(arg.arg))
    case 'canister_status': return { reply: statusReply(c) }
    case 'stop_canister': {
      const stop = requestStop(ctx, c, msg.requestId)
      if (stop === 'stopped') return empty()
      if (stop === 'pending') return { pending: true }
      return reject(RejectCode.SysTransient, `Canister ${id.toText()} already has ${MAX_PENDING_STOP_CALLS} stop_canister calls waiting for it to stop`)
    }
    case 'start_canister': startCanister(ctx, c); return empty()
    default: {
      if (c.status !== 'stopped') return reject(RejectCode.CanisterError, `Canister ${id.toText()} must be stopped before it is deleted`)
      await ctx.sandbox.uninstall(c.id)
      ctx.state.canisters.delete(c.idHex)
      ctx.state.dirtyCanisters.add(c.idHex)
      log('deleted canister %s', id.toText())
      return empty()
    }
  }
}

/** The next canister id of this subnet: one above the highest in its first range (deterministic; ids are not reused unless the highest is deleted). */
function nextCanisterId (ctx: RoundContext): CanisterId | undefined {
  const range = ctx.table.rangesOf(ctx.state.subnetId)[0]
  if (range === undefined) return undefined
  const start = range.start.toUint8Array()
  const end = range.end.toUint8Array()
  let next = canisterIdToU64(range.start)
  for (const c of ctx.state.canisters.values()) {
    const b = c.id.toUint8Array()
    if (compareBytes(b, start) >= 0 && compareBytes(b, end) <= 0) {
      const n = canisterIdToU64(c.id) + 1n
      if (n > next) next = n
    }
  }
  const id = canisterIdFromU64(next)
  return compareBytes(id.toUint8Array(), end) <= 0 ? id : undefined
}

async function createCanister (ctx: RoundContext, sender: Principal, controllers: Principal[], specified: Principal | undefined): Promise<Outcome> {
  if (controllers.length > MAX_CONTROLLERS) return reject(RejectCode.CanisterError, `at most ${MAX_CONTROLLERS} controllers`)
  let id: CanisterId | undefined
  if (specified !== undefined) {
    const routed = ctx.table.route(specified)
    if (routed === undefined || !principalEquals(routed, ctx.state.subnetId) || ctx.state.canister(specified) !== undefined) {
      return reject(RejectCode.CanisterError, `specified_id ${specified.toText()} is not a free canister id of this subnet`)
    }
    id = specified
  } else {
    id = nextCanisterId(ctx)
    if (id === undefined) return reject(RejectCode.SysTransient, 'this subnet has no canister ids left')
  }
  const result = await ctx.sandbox.install({
    canisterId: id, mode: 'install', module: EMPTY_MODULE, arg: new Uint8Array(0), caller: sender, time: ctx.state.timeNs, instructionLimit: DEFAULT_INSTALL_INSTRUCTIONS
  })
  const c = new CanisterState(id, controllers, new Uint8Array(0))
  c.module = EMPTY_MODULE
  applyInstall(c, result)
  ctx.state.canisters.set(c.idHex, c)
  ctx.state.dirtyCanisters.add(c.idHex)
  log('created canister %s', id.toText())
  return { reply: new Uint8Array(IDL.encode([CanisterIdRecord], [{ canister_id: id }])) }
}

async function installCode (ctx: RoundContext, c: CanisterState, sender: Principal, mode: 'install' | 'reinstall' | 'upgrade', module: Uint8Array, arg: Uint8Array): Promise<Outcome> {
  const hasCode = c.moduleHash.length > 0
  if (mode === 'install' && hasCode) return reject(RejectCode.CanisterError, `Canister ${c.id.toText()} already has a module: use reinstall or upgrade`)
  if (mode === 'upgrade' && !hasCode) return reject(RejectCode.CanisterError, `Canister ${c.id.toText()} has no module to upgrade`)
  let result: ExecutionResult
  try {
    // The sandbox always holds a module (the empty one stands in), so a first install replaces it.
    result = await ctx.sandbox.install({
      canisterId: c.id, mode: mode === 'upgrade' ? 'upgrade' : 'reinstall', module, arg, caller: sender, time: ctx.state.timeNs, instructionLimit: DEFAULT_INSTALL_INSTRUCTIONS
    })
  } catch (err) {
    return reject(RejectCode.CanisterError, `install_code of ${c.id.toText()} failed: ${(err as Error).message.slice(0, 200)}`)
  }
  if (result.trap !== undefined) return reject(RejectCode.CanisterError, `install_code of ${c.id.toText()} trapped: ${result.trap.message.slice(0, 200)}`)
  c.module = module.slice()
  c.moduleHash = sha256(module)
  c.hasHeartbeat = undefined
  applyInstall(c, result)
  ctx.state.dirtyCanisters.add(c.idHex)
  log('%s of canister %s', mode, c.id.toText())
  return empty()
}

/** What a successful install leaves in the canister's record: memories replaced, everything dirty for the next checkpoint. */
function applyInstall (c: CanisterState, result: ExecutionResult): void {
  if (result.certifiedData !== undefined) c.certifiedData = result.certifiedData
  if (result.globalTimer !== undefined) c.globalTimer = result.globalTimer
  c.globals = result.globals
  c.heapWasmPages = result.heap.sizeWasmPages
  c.stableWasmPages = result.stable.sizeWasmPages
  c.heapDirty = 'all'
  c.stableDirty = 'all'
  c.moduleDirty = true
}

function statusReply (c: CanisterState): Uint8Array {
  return new Uint8Array(IDL.encode([StatusResult], [{
    status: { [c.status]: null },
    settings: { controllers: c.controllers, compute_allocation: 0n, memory_allocation: 0n, freezing_threshold: 2_592_000n },
    module_hash: c.moduleHash.length > 0 ? [c.moduleHash] : [],
    memory_size: BigInt(c.heapWasmPages + c.stableWasmPages) * 65536n,
    cycles: 0n,
    idle_cycles_burned_per_day: 0n
  }]))
}

function u8 (b: Uint8Array | number[]): Uint8Array { return b instanceof Uint8Array ? b : Uint8Array.from(b) }

