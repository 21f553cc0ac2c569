/**
 * Signed query answers (the specification's "Request: Query call"). A node
 * signs, with Ed25519, `"\x0Bic-response" ‖ hash_of_map(response fields,
 * timestamp, request_id)`; agents check the signature against the node keys
 * certified at /subnet/<subnet>/node/<node>/public_key.
 *
 * Everything after the backend's reply is here, as pure functions: the
 * request id (from the envelope's bytes when the event loop did not need it),
 * the representation-independent hash of the response, the signature and the
 * answer's CBOR. That is most of a query's cost besides HTTP itself, and a
 * signing thread runs it (signing-thread.ts), leaving the event loop with
 * parsing, checks and the write. The same functions run on the event loop
 * when no thread is used, so both paths give the same bytes.
 */
import { concatBytes } from '@icnet/types'
import type { QueryOutcome } from './backend.js'
import { encodeAnswer, type AnswerValue } from './cbor-encode.js'
import { hashOfMap, requestIdOfEnvelope } from './request-id.js'

export const RESPONSE_DOMAIN_SEPARATOR = new TextEncoder().encode('\x0Bic-response')

/** A query answer to sign and encode. */
export interface QueryAnswerJob {
  /**
   * The request id when the event loop already has it (a signed sender was
   * checked against it); otherwise `envelope`, the request body, from which
   * it is computed.
   */
  requestId?: Uint8Array
  envelope?: Uint8Array
  outcome: QueryOutcome
  /** The signature's timestamp, nanoseconds since the epoch. */
  timestampNs: bigint
}

/** The bytes a node signs for a query response. */
export function queryResponseMessage (outcome: QueryOutcome, timestampNs: bigint, requestId: Uint8Array): Uint8Array {
  const hash = outcome.status === 'replied'
    ? hashOfMap({ status: 'replied', reply: { arg: outcome.reply }, timestamp: timestampNs, request_id: requestId })
    : hashOfMap({
      status: 'rejected',
      reject_code: BigInt(outcome.rejectCode),
      reject_message: outcome.rejectMessage,
      error_code: outcome.errorCode,
      timestamp: timestampNs,
      request_id: requestId
    })
  return concatBytes(RESPONSE_DOMAIN_SEPARATOR, hash)
}

/** The CBOR body of a signed query answer (what `/api/v2/canister/<id>/query` returns). */
export function queryAnswer (job: QueryAnswerJob, sign: (message: Uint8Array) => Uint8Array, nodeId: Uint8Array): Uint8Array {
  const requestId = job.requestId ?? requestIdOfEnvelope(job.envelope!)
  const signature = sign(queryResponseMessage(job.outcome, job.timestampNs, requestId))
  return encodeQueryAnswer(job.outcome, { timestamp: job.timestampNs, signature, identity: nodeId })
}

/** The answer's CBOR, signed by one node or (without a signer) unsigned. */
export function encodeQueryAnswer (outcome: QueryOutcome, signature?: { timestamp: bigint, signature: Uint8Array, identity: Uint8Array }): Buffer {
  const body: Record<string, AnswerValue> = outcome.status === 'replied'
    ? { status: 'replied', reply: { arg: outcome.reply } }
    : {
        status: 'rejected',
        reject_code: outcome.rejectCode,
        reject_message: outcome.rejectMessage,
        ...(outcome.errorCode === undefined ? {} : { error_code: outcome.errorCode })
      }
  if (signature !== undefined) body.signatures = [signature]
  return encodeAnswer(body)
}
