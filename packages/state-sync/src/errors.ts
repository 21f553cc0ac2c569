import { IcnetError } from '@icnet/types'

/** A manifest that is malformed or does not hash to what it claims (from disk or a peer). */
export class InvalidManifestError extends IcnetError {
  constructor (message: string, options?: { cause?: unknown }) { super(message, 'ERR_INVALID_MANIFEST', options) }
}

/** A catch-up package whose signature or content does not verify: nothing is synced or installed. */
export class InvalidCatchUpPackageError extends IcnetError {
  constructor (message: string, options?: { cause?: unknown }) { super(message, 'ERR_INVALID_CUP', options) }
}

/** No reachable peer can serve (the rest of) the requested checkpoint. */
export class NoPeersError extends IcnetError {
  constructor (message: string, options?: { cause?: unknown }) { super(message, 'ERR_NO_PEERS', options) }
}

/** The sync was aborted by its caller; progress is kept for a later resume. */
export class SyncAbortedError extends IcnetError {
  constructor (message = 'state sync aborted', options?: { cause?: unknown }) { super(message, 'ERR_ABORTED', options) }
}

/** The downloaded checkpoint does not hash to its manifest: it is not installed. */
export class InstallVerificationError extends IcnetError {
  constructor (message: string, options?: { cause?: unknown }) { super(message, 'ERR_INSTALL_VERIFICATION', options) }
}

/** A peer the host does not allow to fetch state from this node (e.g. not a node of its subnet). */
export class PeerNotAllowedError extends IcnetError {
  constructor (message: string, options?: { cause?: unknown }) { super(message, 'ERR_PEER_NOT_ALLOWED', options) }
}
