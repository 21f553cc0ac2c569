import { IcnetError } from '@icnet/types'

/** An admin request to the fault routes that does not parse or breaks a bound. */
export class InvalidRequestError extends IcnetError {
  constructor (message: string, options?: { cause?: unknown }) { super(message, 'ERR_FAULTS_BAD_REQUEST', options) }
}
