import { IcnetError } from '@icnet/types'

/** A replica config file that is missing, malformed or inconsistent with the registry. */
export class ConfigError extends IcnetError {
  constructor (message: string, options?: { cause?: unknown }) { super(message, 'ERR_CONFIG', options) }
}

/** A command line that does not parse: unknown command, missing or bad flag. */
export class UsageError extends IcnetError {
  constructor (message: string) { super(message, 'ERR_USAGE') }
}

/** A testnet directory without the files `icnet testnet init` writes. */
export class TestnetLayoutError extends IcnetError {
  constructor (message: string, options?: { cause?: unknown }) { super(message, 'ERR_TESTNET_LAYOUT', options) }
}

/** Consensus delivers a batch the state cannot follow and no catch-up package explains the gap. */
export class StateGapError extends IcnetError {
  constructor (message: string) { super(message, 'ERR_STATE_GAP') }
}
