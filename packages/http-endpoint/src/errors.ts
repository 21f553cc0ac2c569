import { IcnetError } from '@icnet/types'

/**
 * Why a request was refused: a bounded set, used as a metric label and as the
 * stable machine-readable part of a 4xx/5xx answer.
 */
export type RefusalReason =
  | 'not-found'
  | 'method-not-allowed'
  | 'unsupported-media-type'
  | 'body-too-large'
  | 'body-timeout'
  | 'malformed-cbor'
  | 'malformed-request'
  | 'invalid-canister-id'
  | 'canister-not-on-subnet'
  | 'effective-canister-mismatch'
  | 'expired'
  | 'expiry-too-far'
  | 'bad-signature'
  | 'bad-sender'
  | 'unsupported-key'
  | 'bad-delegation'
  | 'forbidden-path'
  | 'overloaded'
  | 'handler-timeout'
  | 'unavailable'
  | 'internal'

/**
 * A request the endpoint refuses, with the HTTP status to answer and a
 * human-readable reason (sent as the text body).
 */
export class HttpRequestError extends IcnetError {
  readonly status: number
  readonly reason: RefusalReason

  constructor (status: number, reason: RefusalReason, message: string, options?: { cause?: unknown }) {
    super(message, 'ERR_HTTP_REQUEST', options)
    this.status = status
    this.reason = reason
  }
}

export const badRequest = (reason: RefusalReason, message: string, cause?: unknown): HttpRequestError =>
  new HttpRequestError(400, reason, message, cause === undefined ? undefined : { cause })
