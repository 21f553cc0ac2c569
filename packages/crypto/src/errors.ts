import { IcnetError, InvalidEncodingError } from '@icnet/types'

/**
 * A public key that does not decode: wrong length, wrong DER prefix, not a
 * point on the curve, not in the prime-order subgroup, or the identity.
 * It is an InvalidEncodingError, so callers that catch bad input in general
 * also catch this one.
 */
export class InvalidKeyError extends InvalidEncodingError {}

/** Signature bytes that do not decode to a point of the right group. */
export class InvalidSignatureError extends InvalidEncodingError {}

/**
 * A set of signature shares or multi-signature parts that cannot be combined:
 * duplicate indices, an index out of range, or fewer parts than the threshold
 * the caller asked for.
 */
export class InvalidShareSetError extends IcnetError {
  constructor (message: string, options?: { cause?: unknown }) { super(message, 'ERR_INVALID_SHARE_SET', options) }
}

/** The verifier pool was used after close(). */
export class PoolClosedError extends IcnetError {
  constructor (message: string, options?: { cause?: unknown }) { super(message, 'ERR_POOL_CLOSED', options) }
}
