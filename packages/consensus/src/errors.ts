import { IcnetError } from '@icnet/types'

/** An artifact that is well formed but breaks a consensus rule (wrong rank, bad parent, bad signature...). */
export class InvalidArtifactError extends IcnetError {
  constructor (message: string, options?: { cause?: unknown }) { super(message, 'ERR_INVALID_ARTIFACT', options) }
}

/** The consensus node was used after it stopped. */
export class ConsensusStoppedError extends IcnetError {
  constructor (message = 'consensus is stopped') { super(message, 'ERR_CONSENSUS_STOPPED') }
}

/** The host submitted a state root or checkpoint for a height consensus cannot sign (not finalized, wrong interval, conflicting value). */
export class InvalidSubmissionError extends IcnetError {
  constructor (message: string) { super(message, 'ERR_INVALID_SUBMISSION') }
}
