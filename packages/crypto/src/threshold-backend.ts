/**
 * The curve operations threshold signatures need, so the same dealer,
 * combiner and tests run on any of the libraries (blst, mcl-wasm, @noble/curves).
 * Points travel as compressed bytes (G1: 48, G2: 96, ZCash/IETF format), the
 * form the IC and its agents use.
 */
export interface ThresholdBackend {
  /** Library name, as it appears in benchmarks. */
  readonly name: 'blst' | 'mcl' | 'noble'
  /** g2^secret, compressed. */
  publicKeyFromSecret(secret: bigint): Uint8Array
  /** H(message)^secret in G1 with the IC's hash-to-curve DST, compressed. */
  sign(secret: bigint, message: Uint8Array): Uint8Array
  /**
   * e(signature, g2) == e(H(message), publicKey). False for a signature that
   * does not decode; the public key must already be known to be valid.
   */
  verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean
  /**
   * Interpolates the G1 points at x = 0 from the distinct non-zero xs.
   * Throws InvalidSignatureError if a point does not decode.
   */
  interpolateAtZero(xs: readonly bigint[], signatures: readonly Uint8Array[]): Uint8Array
  /**
   * interpolateAtZero, then verify of the result, in one step: the combined
   * point is checked as it is, without being encoded and decoded again (the
   * shares passed the subgroup check as they were decoded, so any combination
   * of them is in the subgroup). The compressed signature if it verifies,
   * undefined if not. Throws InvalidSignatureError if a share does not decode.
   * Optional: ThresholdScheme falls back to the two separate operations.
   */
  combineAndVerify?(publicKey: Uint8Array, message: Uint8Array, xs: readonly bigint[], signatures: readonly Uint8Array[]): Uint8Array | undefined
  /** Whether the bytes are a compressed G2 point in the prime-order subgroup, not the identity. */
  isValidPublicKey(publicKey: Uint8Array): boolean
  /** Whether the bytes are a compressed G1 point in the prime-order subgroup. */
  isValidSignature(signature: Uint8Array): boolean
}
