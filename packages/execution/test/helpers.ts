import { canisterIdFromU64, Principal } from '@icnet/types'
import type { CanisterId } from '@icnet/types'
import type { ExecutionRequest, ExecutionResult, Sandbox } from '../src/index.js'

export const CONTROLLER = Principal.fromText('2vxsx-fae')
export const A = canisterIdFromU64(1)
export const B = canisterIdFromU64(2)
export const LIMIT = 10_000_000n
export const EMPTY = new Uint8Array(0)

export function u32 (n: number): Uint8Array {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setUint32(0, n, true)
  return b
}

export function u64 (n: bigint): Uint8Array {
  const b = new Uint8Array(8)
  new DataView(b.buffer).setBigUint64(0, n, true)
  return b
}

export function readU64 (b: Uint8Array, offset = 0): bigint {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(offset, true)
}

export function concat (...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let off = 0
  for (const p of parts) { out.set(p, off); off += p.length }
  return out
}

export function text (s: string): Uint8Array { return new TextEncoder().encode(s) }

/** The argument of the test canister's `forward` method. */
export function forwardArg (mode: number, callee: CanisterId, method: string, payload: Uint8Array): Uint8Array {
  const c = callee.toUint8Array()
  const m = text(method)
  return concat(Uint8Array.of(mode, c.length), c, Uint8Array.of(m.length), m, payload)
}

export async function install (sb: Sandbox, id: CanisterId, module: Uint8Array, arg: Uint8Array = EMPTY): Promise<ExecutionResult> {
  return sb.install({ canisterId: id, mode: 'install', module, arg, caller: CONTROLLER, time: 1n, instructionLimit: LIMIT })
}

export async function update (sb: Sandbox, id: CanisterId, method: string, arg: Uint8Array = EMPTY, opts: { time?: bigint, limit?: bigint, caller?: Principal } = {}): Promise<ExecutionResult> {
  return sb.execute({ kind: 'update', canisterId: id, method, arg, caller: opts.caller ?? CONTROLLER, time: opts.time ?? 2n, instructionLimit: opts.limit ?? LIMIT })
}

export async function query (sb: Sandbox, id: CanisterId, method: string, arg: Uint8Array = EMPTY): Promise<ExecutionResult> {
  return sb.execute({ kind: 'query', canisterId: id, method, arg, caller: CONTROLLER, time: 2n, instructionLimit: LIMIT })
}

export function replyData (r: ExecutionResult): Uint8Array {
  if (r.outcome.kind !== 'reply') throw new Error(`expected a reply, got ${JSON.stringify(r.outcome, (_k, v) => typeof v === 'bigint' ? v.toString() : v)} trap=${r.trap?.message}`)
  return r.outcome.data
}

/** The test canister's six counters. */
export async function stats (sb: Sandbox, id: CanisterId): Promise<{ calls: bigint, replies: bigint, rejects: bigint, cleanups: bigint, heartbeats: bigint, timers: bigint }> {
  const d = replyData(await query(sb, id, 'stats'))
  return { calls: readU64(d, 0), replies: readU64(d, 8), rejects: readU64(d, 16), cleanups: readU64(d, 24), heartbeats: readU64(d, 32), timers: readU64(d, 40) }
}

/** Delivers one outgoing call to its callee in the same sandbox and feeds the answer back: a one-hop router. */
export async function deliver (sb: Sandbox, from: CanisterId, result: ExecutionResult, opts: { callContextReplied?: boolean, override?: ExecutionResult['outcome'] } = {}): Promise<{ callee: ExecutionResult, callback: ExecutionResult }> {
  const call = result.calls[0]
  if (call === undefined) throw new Error('no outgoing call')
  const callee = await sb.execute({ kind: 'update', canisterId: call.callee, method: call.method, arg: call.payload, caller: from, time: 3n, instructionLimit: LIMIT })
  const outcome = opts.override ?? callee.outcome
  if (outcome.kind === 'none') throw new Error('callee did not answer')
  const req: ExecutionRequest = {
    kind: 'response', canisterId: from, callback: call.callback,
    response: outcome.kind === 'reply' ? { kind: 'reply', data: outcome.data } : { kind: 'reject', code: outcome.code, message: outcome.message },
    caller: CONTROLLER, callContextReplied: opts.callContextReplied ?? false, time: 4n, instructionLimit: LIMIT
  }
  return { callee, callback: await sb.execute(req) }
}
