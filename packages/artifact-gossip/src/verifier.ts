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
 *
 * Latency: gossipsub forwards a message only once its verdict is reported, so any time a
 * set spends waiting in the verifier is added to every hop. The gossip layer already
 * batches (one `verifyMany` per batch of artifacts, at once when idle), so a verifier
 * that also holds partial batches for companions (BlsVerifierPool's `maxWaitMs`, 20 ms by
 * default) should be given a small wait for gossip, e.g. `maxWaitMs: 0`.
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
