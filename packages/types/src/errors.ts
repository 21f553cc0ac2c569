/**
 * Every icnet error is a class with a stable `name` (match on it, never on the
 * message) and a `code` that is safe to use as a metric label (bounded set).
 */
export class IcnetError extends Error {
  static readonly code: string = 'ERR_ICNET'
  readonly code: string

  constructor (message: string, code: string = 'ERR_ICNET', options?: { cause?: unknown }) {
    super(message, options)
    this.name = new.target.name
    this.code = code
  }
}

/** Input from the network or disk that does not decode or breaks a size bound. */
export class InvalidEncodingError extends IcnetError {
  constructor (message: string, options?: { cause?: unknown }) { super(message, 'ERR_INVALID_ENCODING', options) }
}

/** A value outside its allowed range (a limit, an index, a size). */
export class LimitExceededError extends IcnetError {
  constructor (message: string, options?: { cause?: unknown }) { super(message, 'ERR_LIMIT_EXCEEDED', options) }
}

/** An identifier (principal, canister id, subnet id) that is malformed. */
export class InvalidIdError extends IcnetError {
  constructor (message: string, options?: { cause?: unknown }) { super(message, 'ERR_INVALID_ID', options) }
}

/** Cryptographic verification failed: a signature, certificate or hash did not check out. */
export class VerificationError extends IcnetError {
  constructor (message: string, options?: { cause?: unknown }) { super(message, 'ERR_VERIFICATION_FAILED', options) }
}

/** A lookup found nothing (a subnet, node, canister or record that is not known). */
export class NotFoundError extends IcnetError {
  constructor (message: string, options?: { cause?: unknown }) { super(message, 'ERR_NOT_FOUND', options) }
}

/** A request or wait ran past its deadline. */
export class TimeoutError extends IcnetError {
  constructor (message: string, options?: { cause?: unknown }) { super(message, 'ERR_TIMEOUT', options) }
}

/** A bounded queue or pool is full; the caller should back off (not a loss: nothing was accepted). */
export class QueueFullError extends IcnetError {
  constructor (message: string, options?: { cause?: unknown }) { super(message, 'ERR_QUEUE_FULL', options) }
}

/** A peer broke the protocol; the caller should score it down. */
export class ProtocolViolationError extends IcnetError {
  constructor (message: string, options?: { cause?: unknown }) { super(message, 'ERR_PROTOCOL_VIOLATION', options) }
}
