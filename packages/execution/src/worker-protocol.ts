/**
 * Messages between the worker sandbox and its workers. Principals are classes
 * and do not survive structured cloning, so they cross as tagged bytes; page
 * buffers are transferred, not copied.
 */
import { IcnetError, Principal } from '@icnet/types'
import { CanisterStateError, InvalidModuleError, SandboxClosedError, WatchdogTimeoutError } from './errors.js'
import type { InvalidModuleReason } from './errors.js'
import type { SandboxLimits } from './constants.js'

export type WorkerOp = 'install' | 'execute' | 'uninstall' | 'snapshot' | 'restore'

export interface WorkerRequest { id: number, op: WorkerOp, payload: unknown }

export interface WireError { name: string, message: string, code: string, reason?: string }

export type WorkerResponse =
  | { id: number, ok: true, value: unknown }
  | { id: number, ok: false, error: WireError }

export interface WorkerInit { limits: SandboxLimits, unmetered: boolean }

const TAG = '$principal'

/** Replaces every Principal with `{ $principal: bytes }`, recursively. */
export function encodeWire (value: unknown): unknown {
  if (value instanceof Principal) return { [TAG]: value.toUint8Array() }
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) return value
  if (Array.isArray(value)) return value.map(encodeWire)
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(value)) out[k] = encodeWire(v)
  return out
}

export function decodeWire (value: unknown): unknown {
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value)) return value
  if (Array.isArray(value)) return value.map(decodeWire)
  const rec = value as Record<string, unknown>
  const tagged = rec[TAG]
  if (tagged instanceof Uint8Array) return Principal.fromUint8Array(tagged)
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(rec)) out[k] = decodeWire(v)
  return out
}

/** The buffers of every page in a result, to transfer instead of copy. */
export function pageBuffers (value: unknown): ArrayBuffer[] {
  const out: ArrayBuffer[] = []
  const v = value as { heap?: { pages?: Array<{ bytes: Uint8Array }> }, stable?: { pages?: Array<{ bytes: Uint8Array }> } } | undefined
  for (const d of [v?.heap, v?.stable]) {
    for (const p of d?.pages ?? []) {
      const b = p.bytes.buffer
      // Only whole, unshared buffers can be transferred.
      if (b instanceof ArrayBuffer && p.bytes.byteOffset === 0 && p.bytes.byteLength === b.byteLength && !out.includes(b)) out.push(b)
    }
  }
  return out
}

export function encodeError (err: unknown): WireError {
  if (err instanceof IcnetError) {
    return { name: err.name, message: err.message, code: err.code, ...(err instanceof InvalidModuleError ? { reason: err.reason } : {}) }
  }
  return { name: 'Error', message: String((err as Error)?.message ?? err), code: 'ERR_ICNET' }
}

export function decodeError (e: WireError): Error {
  switch (e.name) {
    case 'InvalidModuleError': return new InvalidModuleError((e.reason ?? 'malformed') as InvalidModuleReason, e.message)
    case 'CanisterStateError': return new CanisterStateError(e.message)
    case 'WatchdogTimeoutError': return new WatchdogTimeoutError(e.message)
    case 'SandboxClosedError': return new SandboxClosedError(e.message)
    default: return new IcnetError(e.message, e.code)
  }
}
