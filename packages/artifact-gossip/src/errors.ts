import { IcnetError } from '@icnet/types'

/** A topic, fetch request or call names an artifact kind that is not registered. */
export class UnknownKindError extends IcnetError {
  constructor (message: string, options?: { cause?: unknown }) { super(message, 'ERR_UNKNOWN_KIND', options) }
}

/** No candidate peer delivered an artifact whose bytes hash to the advertised id. */
export class FetchFailedError extends IcnetError {
  constructor (message: string, options?: { cause?: unknown }) { super(message, 'ERR_FETCH_FAILED', options) }
}

/** The service is not started (or already stopped). */
export class NotStartedError extends IcnetError {
  constructor (message: string, options?: { cause?: unknown }) { super(message, 'ERR_NOT_STARTED', options) }
}
