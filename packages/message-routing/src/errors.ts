import { IcnetError } from '@icnet/types'

/** Why `validateIngress` refused a message: a bounded set, safe as a metric label. */
export type IngressRejectCode =
  | 'CANISTER_NOT_FOUND' // not hosted on this subnet, or not installed
  | 'EXPIRED' // expiry before the current batch time
  | 'EXPIRY_TOO_FAR' // expiry more than MAX_INGRESS_TTL_MS ahead
  | 'DUPLICATE' // a message with this request id is already in the ingress history
  | 'TOO_LARGE' // argument or method name past its limit
  | 'HISTORY_FULL' // the ingress history is at its bound
  | 'QUEUE_FULL' // the canister's input queue is full
  | 'MALFORMED' // a field of the wrong type or size

/** An ingress message this subnet will not accept; `code` says why. */
export class IngressValidationError extends IcnetError {
  readonly reason: IngressRejectCode
  constructor (reason: IngressRejectCode, message: string) {
    super(message, `ERR_INGRESS_${reason}`)
    this.reason = reason
  }
}

/** A batch that does not follow the last executed height, or is otherwise not executable. */
export class BatchOrderError extends IcnetError {
  constructor (message: string) { super(message, 'ERR_BATCH_ORDER') }
}

/** A certification whose signature does not verify, or for a height we do not hold. */
export class CertificationMismatchError extends IcnetError {
  constructor (message: string) { super(message, 'ERR_CERTIFICATION_MISMATCH') }
}

/** A checkpoint on disk that does not load: bad layout, bad encoding, or a root that does not match. */
export class CheckpointLoadError extends IcnetError {
  constructor (message: string, options?: { cause?: unknown }) { super(message, 'ERR_CHECKPOINT_LOAD', options) }
}

/** A canister install that cannot happen (outside our ranges, already installed, module refused). */
export class InstallError extends IcnetError {
  constructor (message: string, options?: { cause?: unknown }) { super(message, 'ERR_INSTALL', options) }
}
