import { IcnetError, ProtocolViolationError, QueueFullError } from '@icnet/types'

/**
 * Why a certified slice (or a payload of slices) was refused. A bounded set: it is
 * the `reason` metric label and the test oracle. Every reason is the sender's fault,
 * so every `InvalidSliceError` is a `ProtocolViolationError` (score the peer down).
 */
export type InvalidSliceReason =
  | 'decode' // bytes do not parse, or break a size bound
  | 'shape' // the tree is not /streams/<subnet>/{header, messages/<i>}
  | 'wrong-subnet' // the slice is of a stream to another subnet
  | 'unknown-subnet' // the source subnet is not in the registry
  | 'loopback' // a slice of our own subnet
  | 'indices' // message indices not consecutive, or outside the header
  | 'signals' // reject signals not increasing, outside the bounds, or too many
  | 'certification' // the witness and payload do not hash to a root the subnet signed
  | 'gap' // the slice starts after the index we expect
  | 'stale' // the slice starts before the index we expect (a replay)
  | 'empty' // no messages and no new signals
  | 'too-large' // over the byte or message limit
  | 'signal-limit' // accepting it would exceed MAX_SIGNALS in the reverse stream

export class InvalidSliceError extends ProtocolViolationError {
  readonly reason: InvalidSliceReason
  constructor (reason: InvalidSliceReason, message: string, options?: { cause?: unknown }) {
    super(`invalid slice (${reason}): ${message}`, options)
    this.name = new.target.name
    this.reason = reason
  }
}

export class SliceDecodeError extends InvalidSliceError {
  constructor (message: string, options?: { cause?: unknown }) { super('decode', message, options) }
}
export class SliceShapeError extends InvalidSliceError {
  constructor (message: string) { super('shape', message) }
}
export class WrongSubnetError extends InvalidSliceError {
  constructor (message: string) { super('wrong-subnet', message) }
}
export class UnknownSubnetError extends InvalidSliceError {
  constructor (message: string) { super('unknown-subnet', message) }
}
export class LoopbackSliceError extends InvalidSliceError {
  constructor (message: string) { super('loopback', message) }
}
export class SliceIndicesError extends InvalidSliceError {
  constructor (message: string) { super('indices', message) }
}
export class InvalidSignalsError extends InvalidSliceError {
  constructor (message: string) { super('signals', message) }
}
export class CertificationError extends InvalidSliceError {
  constructor (message: string, options?: { cause?: unknown }) { super('certification', message, options) }
}
export class SliceGapError extends InvalidSliceError {
  constructor (message: string) { super('gap', message) }
}
/**
 * The slice is older than what we have. `verified`: its certification was checked
 * first, so it is authentic, merely behind (a source node not yet at the newest
 * height, or two pulls racing): the client drops it without scoring the peer down.
 * An unverified stale claim stays what any unverified input is: a protocol violation.
 */
export class StaleSliceError extends InvalidSliceError {
  readonly verified: boolean
  constructor (message: string, options: { verified?: boolean } = {}) {
    super('stale', message)
    this.verified = options.verified ?? false
  }
}
export class EmptySliceError extends InvalidSliceError {
  constructor (message: string) { super('empty', message) }
}
export class SliceTooLargeError extends InvalidSliceError {
  constructor (message: string) { super('too-large', message) }
}
export class SignalLimitError extends InvalidSliceError {
  constructor (message: string) { super('signal-limit', message) }
}

/**
 * A stream refused a message because it is at its message or byte limit. Nothing was
 * taken: the message stays in the caller's output queue until GC makes room.
 */
export class StreamFullError extends QueueFullError {
  readonly limit: 'messages' | 'bytes'
  constructor (limit: 'messages' | 'bytes', message: string) {
    super(message)
    this.name = new.target.name
    this.limit = limit
  }
}

/** Wire error codes a server answers instead of a slice. */
export type XNetErrorCode = 'NO_STREAM' | 'BAD_BEGIN' | 'FORBIDDEN' | 'BUSY' | 'BAD_REQUEST' | 'INTERNAL'

/** The server answered with an error code (not a protocol violation: the peer is honest). */
export class XNetRemoteError extends IcnetError {
  readonly remoteCode: XNetErrorCode
  constructor (remoteCode: XNetErrorCode, message: string) {
    super(message, `ERR_XNET_${remoteCode}`)
    this.remoteCode = remoteCode
  }
}

/** The certified store has no stream towards the requested subnet. */
export class NoStreamError extends XNetRemoteError {
  constructor (message: string) { super('NO_STREAM', message) }
}
/** msg_begin / witness_begin outside the certified stream's `[begin, end]`. */
export class BadBeginError extends XNetRemoteError {
  constructor (message: string) { super('BAD_BEGIN', message) }
}
/** No node of the source subnet could be asked (all backing off, or none known). */
export class NoPeerAvailableError extends IcnetError {
  constructor (message: string) { super(message, 'ERR_XNET_NO_PEER') }
}
