import { IcnetError } from '@icnet/types'

/**
 * Why a module was refused at install. A bounded set, safe as a metric label.
 */
export type InvalidModuleReason =
  | 'too-large'
  | 'malformed'
  | 'unsupported-feature'
  | 'bad-import'
  | 'bad-export'
  | 'memory-limit'

/** A canister module that fails validation or uses what this sandbox does not support. */
export class InvalidModuleError extends IcnetError {
  readonly reason: InvalidModuleReason
  constructor (reason: InvalidModuleReason, message: string, options?: { cause?: unknown }) {
    super(message, 'ERR_INVALID_MODULE', options)
    this.reason = reason
  }
}

/** The canister is not installed in this sandbox (or install was asked for an existing one). */
export class CanisterStateError extends IcnetError {
  constructor (message: string, options?: { cause?: unknown }) { super(message, 'ERR_CANISTER_STATE', options) }
}

/**
 * A worker ran past the wall-clock watchdog and was terminated. This is a local
 * fault of this node, not a deterministic outcome: the caller must not turn it
 * into a reply (metering should make it impossible; the watchdog is a last resort).
 */
export class WatchdogTimeoutError extends IcnetError {
  constructor (message: string, options?: { cause?: unknown }) { super(message, 'ERR_WATCHDOG_TIMEOUT', options) }
}

/** The sandbox was closed, or its worker died, before the call completed. */
export class SandboxClosedError extends IcnetError {
  constructor (message: string, options?: { cause?: unknown }) { super(message, 'ERR_SANDBOX_CLOSED', options) }
}
