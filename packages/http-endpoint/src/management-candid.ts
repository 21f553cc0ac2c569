/**
 * Candid types of the management canister (`aaaaa-aa`) methods icnet serves,
 * with typed encode/decode helpers. The HTTP endpoint only routes these
 * calls (effective canister id); whoever implements the management canister
 * (the replica's execution, or `ReferenceSubnet`) decodes the arguments and
 * encodes the replies with these helpers, and clients build calls with them.
 *
 * Argument types are the interface specification's, trimmed to the fields
 * icnet acts on; Candid subtyping lets callers send the full records.
 */
import { IDL } from '@dfinity/candid'
import { badRequest } from './errors.js'
import type { Principal } from '@icnet/types'

const CanisterSettings = IDL.Record({
  controllers: IDL.Opt(IDL.Vec(IDL.Principal)),
  compute_allocation: IDL.Opt(IDL.Nat),
  memory_allocation: IDL.Opt(IDL.Nat),
  freezing_threshold: IDL.Opt(IDL.Nat)
})
const DefiniteCanisterSettings = IDL.Record({
  controllers: IDL.Vec(IDL.Principal),
  compute_allocation: IDL.Nat,
  memory_allocation: IDL.Nat,
  freezing_threshold: IDL.Nat
})
const CanisterIdRecord = IDL.Record({ canister_id: IDL.Principal })
const InstallMode = IDL.Variant({
  install: IDL.Null,
  reinstall: IDL.Null,
  upgrade: IDL.Opt(IDL.Record({ skip_pre_upgrade: IDL.Opt(IDL.Bool) }))
})

/** Argument and result types per method. */
export const managementIdl = {
  provisional_create_canister_with_cycles: {
    arg: IDL.Record({ amount: IDL.Opt(IDL.Nat), settings: IDL.Opt(CanisterSettings), specified_id: IDL.Opt(IDL.Principal), sender_canister_version: IDL.Opt(IDL.Nat64) }),
    ret: [CanisterIdRecord] as IDL.Type[]
  },
  create_canister: {
    arg: IDL.Record({ settings: IDL.Opt(CanisterSettings), sender_canister_version: IDL.Opt(IDL.Nat64) }),
    ret: [CanisterIdRecord] as IDL.Type[]
  },
  install_code: {
    arg: IDL.Record({ mode: InstallMode, canister_id: IDL.Principal, wasm_module: IDL.Vec(IDL.Nat8), arg: IDL.Vec(IDL.Nat8), sender_canister_version: IDL.Opt(IDL.Nat64) }),
    ret: [] as IDL.Type[]
  },
  canister_status: {
    arg: CanisterIdRecord,
    ret: [IDL.Record({
      status: IDL.Variant({ running: IDL.Null, stopping: IDL.Null, stopped: IDL.Null }),
      settings: DefiniteCanisterSettings,
      module_hash: IDL.Opt(IDL.Vec(IDL.Nat8)),
      memory_size: IDL.Nat,
      cycles: IDL.Nat,
      idle_cycles_burned_per_day: IDL.Nat
    })] as IDL.Type[]
  },
  stop_canister: { arg: CanisterIdRecord, ret: [] as IDL.Type[] },
  start_canister: { arg: CanisterIdRecord, ret: [] as IDL.Type[] },
  delete_canister: { arg: CanisterIdRecord, ret: [] }
} 

export type ManagementMethod = keyof typeof managementIdl
export const MANAGEMENT_METHODS = Object.keys(managementIdl) as ManagementMethod[]

export function isManagementMethod (name: string): name is ManagementMethod {
  return Object.hasOwn(managementIdl, name)
}

export interface CanisterSettingsArg {
  controllers?: Principal[]
  computeAllocation?: bigint
  memoryAllocation?: bigint
  freezingThreshold?: bigint
}

export type InstallModeArg = 'install' | 'reinstall' | 'upgrade'

export interface InstallCodeArgs {
  mode: InstallModeArg
  canisterId: Principal
  wasmModule: Uint8Array
  arg: Uint8Array
}

export type CanisterRunStatus = 'running' | 'stopping' | 'stopped'

export interface CanisterStatusResult {
  status: CanisterRunStatus
  controllers: Principal[]
  moduleHash?: Uint8Array
  memorySize: bigint
  cycles: bigint
}

const opt = <T>(v: T | undefined): [] | [T] => v === undefined ? [] : [v]
const fromOpt = <T>(v: [] | [T]): T | undefined => v.length === 0 ? undefined : v[0]

function encodeSettings (s: CanisterSettingsArg | undefined): unknown[] {
  if (s === undefined) return []
  return [{ controllers: opt(s.controllers), compute_allocation: opt(s.computeAllocation), memory_allocation: opt(s.memoryAllocation), freezing_threshold: opt(s.freezingThreshold) }]
}

function decodeSettings (v: [] | [Record<string, [] | [unknown]>]): CanisterSettingsArg | undefined {
  const s = fromOpt(v)
  if (s === undefined) return undefined
  const out: CanisterSettingsArg = {}
  const controllers = fromOpt(s.controllers as [] | [Principal[]])
  if (controllers !== undefined) out.controllers = controllers
  const compute = fromOpt(s.compute_allocation as [] | [bigint])
  if (compute !== undefined) out.computeAllocation = compute
  const memory = fromOpt(s.memory_allocation as [] | [bigint])
  if (memory !== undefined) out.memoryAllocation = memory
  const freezing = fromOpt(s.freezing_threshold as [] | [bigint])
  if (freezing !== undefined) out.freezingThreshold = freezing
  return out
}

const u8 = (b: Uint8Array | number[]): Uint8Array => b instanceof Uint8Array ? new Uint8Array(b) : Uint8Array.from(b)

// ---- arguments -------------------------------------------------------------

export function encodeProvisionalCreateCanisterArgs (args: { amount?: bigint, settings?: CanisterSettingsArg, specifiedId?: Principal } = {}): Uint8Array {
  return new Uint8Array(IDL.encode([managementIdl.provisional_create_canister_with_cycles.arg], [{
    amount: opt(args.amount), settings: encodeSettings(args.settings), specified_id: opt(args.specifiedId), sender_canister_version: []
  }]))
}

export function encodeCreateCanisterArgs (args: { settings?: CanisterSettingsArg } = {}): Uint8Array {
  return new Uint8Array(IDL.encode([managementIdl.create_canister.arg], [{ settings: encodeSettings(args.settings), sender_canister_version: [] }]))
}

export function encodeInstallCodeArgs (args: InstallCodeArgs): Uint8Array {
  const mode = args.mode === 'upgrade' ? { upgrade: [] } : { [args.mode]: null }
  return new Uint8Array(IDL.encode([managementIdl.install_code.arg], [{
    mode, canister_id: args.canisterId, wasm_module: args.wasmModule, arg: args.arg, sender_canister_version: []
  }]))
}

export function encodeCanisterIdArgs (canisterId: Principal): Uint8Array {
  return new Uint8Array(IDL.encode([managementIdl.canister_status.arg], [{ canister_id: canisterId }]))
}

/** The decoded argument of a management method, per method. */
export type ManagementArgs =
  | { method: 'provisional_create_canister_with_cycles', amount?: bigint, settings?: CanisterSettingsArg, specifiedId?: Principal }
  | { method: 'create_canister', settings?: CanisterSettingsArg }
  | ({ method: 'install_code' } & InstallCodeArgs)
  | { method: 'canister_status' | 'stop_canister' | 'start_canister' | 'delete_canister', canisterId: Principal }

/** Decodes a management call's argument; throws a 400 HttpRequestError when it does not decode. */
export function decodeManagementArgs (method: ManagementMethod, arg: Uint8Array): ManagementArgs {
  let values: unknown[]
  try {
    values = IDL.decode([managementIdl[method].arg], arg)
  } catch (err) {
    throw badRequest('malformed-request', `the argument of ${method} is not the expected Candid record`, err)
  }
  // biome-ignore lint/suspicious/noExplicitAny: Candid decodes to untyped records; the switch below gives them types
  const v = values[0] as Record<string, any>
  switch (method) {
    case 'provisional_create_canister_with_cycles': {
      const out: ManagementArgs = { method }
      const amount = fromOpt(v.amount as [] | [bigint])
      if (amount !== undefined) out.amount = amount
      const settings = decodeSettings(v.settings)
      if (settings !== undefined) out.settings = settings
      const specified = fromOpt(v.specified_id as [] | [Principal])
      if (specified !== undefined) out.specifiedId = specified
      return out
    }
    case 'create_canister': {
      const settings = decodeSettings(v.settings)
      return settings === undefined ? { method } : { method, settings }
    }
    case 'install_code':
      return { method, mode: Object.keys(v.mode)[0] as InstallModeArg, canisterId: v.canister_id, wasmModule: u8(v.wasm_module), arg: u8(v.arg) }
    default:
      return { method, canisterId: v.canister_id }
  }
}

// ---- results ---------------------------------------------------------------

export function encodeCanisterIdResult (canisterId: Principal): Uint8Array {
  return new Uint8Array(IDL.encode(managementIdl.create_canister.ret, [{ canister_id: canisterId }]))
}

export function decodeCanisterIdResult (reply: Uint8Array): Principal {
  const [v] = IDL.decode(managementIdl.create_canister.ret, reply) as unknown as [{ canister_id: Principal }]
  return v.canister_id
}

/** The empty reply of install_code, stop, start and delete. */
export function encodeEmptyResult (): Uint8Array {
  return new Uint8Array(IDL.encode([], []))
}

export function encodeCanisterStatusResult (r: CanisterStatusResult): Uint8Array {
  return new Uint8Array(IDL.encode(managementIdl.canister_status.ret, [{
    status: { [r.status]: null },
    settings: { controllers: r.controllers, compute_allocation: 0n, memory_allocation: 0n, freezing_threshold: 2_592_000n },
    module_hash: opt(r.moduleHash),
    memory_size: r.memorySize,
    cycles: r.cycles,
    idle_cycles_burned_per_day: 0n
  }]))
}

export function decodeCanisterStatusResult (reply: Uint8Array): CanisterStatusResult {
  // biome-ignore lint/suspicious/noExplicitAny: Candid decodes to untyped records
  const [v] = IDL.decode(managementIdl.canister_status.ret, reply) as unknown as [Record<string, any>]
  const moduleHash = fromOpt(v.module_hash as [] | [Uint8Array | number[]])
  return {
    status: Object.keys(v.status)[0] as CanisterRunStatus,
    controllers: v.settings.controllers,
    ...(moduleHash === undefined ? {} : { moduleHash: u8(moduleHash) }),
    memorySize: v.memory_size,
    cycles: v.cycles
  }
}

// ---- effective canister id ---------------------------------------------------

const CanisterIdOnly = IDL.Record({ canister_id: IDL.Principal })
const TargetCanisterOnly = IDL.Record({ target_canister: IDL.Principal })

/**
 * The effective canister id a management call must be sent to, by the
 * specification's rules: undefined for create_canister and
 * provisional_create_canister_with_cycles (any is fine); target_canister for
 * install_chunked_code; otherwise the canister_id field of the argument.
 * Throws a 400 HttpRequestError when the argument names no canister.
 */
export function managementEffectiveCanisterId (method: string, arg: Uint8Array): Principal | undefined {
  if (method === 'create_canister' || method === 'provisional_create_canister_with_cycles') return undefined
  const type = method === 'install_chunked_code' ? TargetCanisterOnly : CanisterIdOnly
  const field = method === 'install_chunked_code' ? 'target_canister' : 'canister_id'
  try {
    const [v] = IDL.decode([type], arg) as unknown as [Record<string, Principal>]
    return v[field]!
  } catch (err) {
    throw badRequest('effective-canister-mismatch', `the management canister's ${method.slice(0, 60)} needs a Candid record with a ${field} field`, err)
  }
}
