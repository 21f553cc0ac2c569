import type { CanisterId } from './ids.js'
import { utf8ByteLength } from './bytes.js'

/** Reject codes as on the IC (interface spec, "Reject codes"). */
export enum RejectCode {
  SysFatal = 1,
  SysTransient = 2,
  DestinationInvalid = 3,
  CanisterReject = 4,
  CanisterError = 5
}

export function isRejectCode (n: number): n is RejectCode {
  return Number.isInteger(n) && n >= 1 && n <= 5
}

/** Why a receiving subnet rejected a stream message (carried as a reject signal). */
export enum RejectReason {
  CanisterMigrating = 1,
  CanisterNotFound = 2,
  CanisterStopped = 3,
  CanisterStopping = 4,
  QueueFull = 5,
  OutOfMemory = 6,
  Unknown = 7
}

export function isRejectReason (n: number): n is RejectReason {
  return Number.isInteger(n) && n >= 1 && n <= 7
}

/** The reject code a request's reject response gets for each reject signal reason (IC). */
export function rejectCodeForReason (reason: RejectReason): RejectCode {
  switch (reason) {
    case RejectReason.CanisterMigrating: return RejectCode.SysTransient
    case RejectReason.CanisterNotFound: return RejectCode.DestinationInvalid
    case RejectReason.CanisterStopped: return RejectCode.CanisterError
    case RejectReason.CanisterStopping: return RejectCode.CanisterError
    case RejectReason.QueueFull: return RejectCode.SysTransient
    case RejectReason.OutOfMemory: return RejectCode.CanisterError
    case RejectReason.Unknown: return RejectCode.SysFatal
  }
}

/** A canister-to-canister call. */
export interface Request {
  kind: 'request'
  receiver: CanisterId
  sender: CanisterId
  methodName: string
  methodPayload: Uint8Array
  /** Opaque id of the sender's reply callback; echoed in the response. */
  senderReplyCallback: number
  /** Best-effort deadline in seconds since the epoch; absent for guaranteed-response calls. */
  deadline?: number
}

export type ResponsePayload =
  | { data: Uint8Array }
  | { reject: { code: RejectCode, message: string } }

/** The reply (or reject) to a request, travelling back to the originator. */
export interface Response {
  kind: 'response'
  originator: CanisterId
  respondent: CanisterId
  originatorReplyCallback: number
  payload: ResponsePayload
  deadline?: number
}

export type StreamMessage = Request | Response

/** Fixed per-message overhead charged by `messageByteSize` (ids, callback, framing). */
export const MESSAGE_BASE_BYTES = 64

/**
 * The deterministic size of a message, used for stream and queue limits.
 * The same on every node, independent of encoding details.
 */
export function messageByteSize (m: StreamMessage): number {
  if (m.kind === 'request') {
    return MESSAGE_BASE_BYTES + m.methodPayload.length + utf8ByteLength(m.methodName)
  }
  if ('data' in m.payload) return MESSAGE_BASE_BYTES + m.payload.data.length
  return MESSAGE_BASE_BYTES + utf8ByteLength(m.payload.reject.message)
}
