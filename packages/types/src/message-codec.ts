import { decode, encode } from 'cborg'
import { Principal } from '@dfinity/principal'
import {
  MAX_INTER_CANISTER_PAYLOAD_BYTES,
  MAX_METHOD_NAME_BYTES,
  MAX_REJECT_MESSAGE_BYTES
} from './constants.js'
import { InvalidEncodingError } from './errors.js'
import { isRejectCode, type Request, type Response, type StreamMessage } from './messages.js'

/**
 * The canonical CBOR form of a stream message, as stored under
 * `/streams/<subnet>/messages/<index>` in the certified state tree:
 *
 *   {"request": {"receiver": bstr, "sender": bstr, "method_name": tstr,
 *                "method_payload": bstr, "sender_reply_callback": uint, ?"deadline": uint}}
 *   {"response": {"originator": bstr, "respondent": bstr, "originator_reply_callback": uint,
 *                 "response_payload": {"data": bstr} / {"reject": {"code": uint, "message": tstr}},
 *                 ?"deadline": uint}}
 *
 * Map keys are sorted canonically (cborg's default), so every node produces the
 * same bytes for the same message.
 */

/** Largest encoded message accepted by `decodeStreamMessage`. */
export const MAX_ENCODED_MESSAGE_BYTES = MAX_INTER_CANISTER_PAYLOAD_BYTES + MAX_METHOD_NAME_BYTES + 1024

export function encodeStreamMessage (m: StreamMessage): Uint8Array {
  if (m.kind === 'request') {
    const r: Record<string, unknown> = {
      receiver: m.receiver.toUint8Array(),
      sender: m.sender.toUint8Array(),
      method_name: m.methodName,
      method_payload: m.methodPayload,
      sender_reply_callback: m.senderReplyCallback
    }
    if (m.deadline !== undefined) r.deadline = m.deadline
    return encode({ request: r })
  }
  const r: Record<string, unknown> = {
    originator: m.originator.toUint8Array(),
    respondent: m.respondent.toUint8Array(),
    originator_reply_callback: m.originatorReplyCallback,
    response_payload: 'data' in m.payload
      ? { data: m.payload.data }
      : { reject: { code: m.payload.reject.code, message: m.payload.reject.message } }
  }
  if (m.deadline !== undefined) r.deadline = m.deadline
  return encode({ response: r })
}

export function decodeStreamMessage (bytes: Uint8Array): StreamMessage {
  if (bytes.length > MAX_ENCODED_MESSAGE_BYTES) {
    throw new InvalidEncodingError(`stream message of ${bytes.length} bytes exceeds ${MAX_ENCODED_MESSAGE_BYTES}`)
  }
  let value: unknown
  try {
    value = decode(bytes)
  } catch (err) {
    throw new InvalidEncodingError('stream message is not valid CBOR', { cause: err })
  }
  const top = asMap(value, 'message')
  if (top.request !== undefined) return decodeRequest(asMap(top.request, 'request'))
  if (top.response !== undefined) return decodeResponse(asMap(top.response, 'response'))
  throw new InvalidEncodingError('stream message is neither a request nor a response')
}

function decodeRequest (r: Record<string, unknown>): Request {
  const methodName = asText(r.method_name, 'method_name', MAX_METHOD_NAME_BYTES)
  const out: Request = {
    kind: 'request',
    receiver: asPrincipal(r.receiver, 'receiver'),
    sender: asPrincipal(r.sender, 'sender'),
    methodName,
    methodPayload: asBytes(r.method_payload, 'method_payload', MAX_INTER_CANISTER_PAYLOAD_BYTES),
    senderReplyCallback: asUint(r.sender_reply_callback, 'sender_reply_callback')
  }
  if (r.deadline !== undefined) out.deadline = asUint(r.deadline, 'deadline')
  return out
}

function decodeResponse (r: Record<string, unknown>): Response {
  const p = asMap(r.response_payload, 'response_payload')
  let payload: Response['payload']
  if (p.data !== undefined) {
    payload = { data: asBytes(p.data, 'data', MAX_INTER_CANISTER_PAYLOAD_BYTES) }
  } else if (p.reject !== undefined) {
    const rej = asMap(p.reject, 'reject')
    const code = asUint(rej.code, 'reject.code')
    if (!isRejectCode(code)) throw new InvalidEncodingError(`unknown reject code ${code}`)
    payload = { reject: { code, message: asText(rej.message, 'reject.message', MAX_REJECT_MESSAGE_BYTES) } }
  } else {
    throw new InvalidEncodingError('response_payload is neither data nor reject')
  }
  const out: Response = {
    kind: 'response',
    originator: asPrincipal(r.originator, 'originator'),
    respondent: asPrincipal(r.respondent, 'respondent'),
    originatorReplyCallback: asUint(r.originator_reply_callback, 'originator_reply_callback'),
    payload
  }
  if (r.deadline !== undefined) out.deadline = asUint(r.deadline, 'deadline')
  return out
}

function asMap (v: unknown, what: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array) {
    throw new InvalidEncodingError(`${what} must be a CBOR map`)
  }
  return v as Record<string, unknown>
}

function asBytes (v: unknown, what: string, max: number): Uint8Array {
  if (!(v instanceof Uint8Array)) throw new InvalidEncodingError(`${what} must be a byte string`)
  if (v.length > max) throw new InvalidEncodingError(`${what} of ${v.length} bytes exceeds ${max}`)
  return v
}

const utf8 = new TextEncoder()

function asText (v: unknown, what: string, maxBytes: number): string {
  if (typeof v !== 'string') throw new InvalidEncodingError(`${what} must be a text string`)
  // A UTF-16 length above maxBytes is always too long; otherwise count the UTF-8 bytes,
  // since one character may take up to 3 bytes.
  if (v.length > maxBytes || utf8.encode(v).length > maxBytes) {
    throw new InvalidEncodingError(`${what} exceeds ${maxBytes} bytes`)
  }
  return v
}

function asUint (v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new InvalidEncodingError(`${what} must be an unsigned integer below 2^53`)
  }
  return v
}

function asPrincipal (v: unknown, what: string): Principal {
  const b = asBytes(v, what, 29)
  return Principal.fromUint8Array(b)
}
