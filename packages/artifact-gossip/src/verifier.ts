/** One signature check: `signature` over `message` by `publicKey` (encodings are the verifier's). */
export interface SignatureSet {
  publicKey: Uint8Array
  message: Uint8Array
  signature: Uint8Array
}

/**
 * Verifies signatures in batches. `BlsVerifierPool` from @icnet/crypto satisfies this
 * (worker threads, batches of up to ~128 sets, individual re-checks when a batch fails);
 * the gossip layer only depends on this shape so any host can inject its own.
 */
export interface SignatureVerifier {
  /** One result per set, in order. */
  verifyMany(sets: SignatureSet[]): Promise<boolean[]>
  /**
   * False while the verifier is saturated: the gossip layer then leaves work in its
   * bounded queues instead of piling it onto the verifier (Lodestar's backpressure path).
   */
  canAcceptWork?(): boolean
}
