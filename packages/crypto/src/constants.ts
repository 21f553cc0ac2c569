/**
 * Limits and fixed strings of @icnet/crypto. Each limit says why it is what it is.
 */

/**
 * Hash-to-curve domain separation tag of the IC's threshold signatures
 * (BLS12-381, signatures in G1): what IC agents use when they verify a certificate.
 */
export const THRESHOLD_SIGNATURE_DST = 'BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_'

/** Compressed G1 point: a threshold signature or signature share. */
export const THRESHOLD_SIGNATURE_BYTES = 48
/** Compressed G2 point: a subnet threshold public key or a share's public key. */
export const THRESHOLD_PUBLIC_KEY_BYTES = 96
/** Big-endian scalar modulo the BLS12-381 group order. */
export const THRESHOLD_SECRET_KEY_BYTES = 32

/**
 * Upper bound on n for dealing and on share indices. IC subnets have at most a
 * few dozen nodes; 1024 leaves room for large testnets while keeping Lagrange
 * interpolation (O(t^2) field operations) and per-call allocations bounded.
 */
export const MAX_COMMITTEE_SIZE = 1024

/** Node-key (consensus) BLS sizes with @chainsafe/bls: public keys in G1, signatures in G2. */
export const NODE_PUBLIC_KEY_BYTES = 48
export const NODE_SIGNATURE_BYTES = 96
export const NODE_SECRET_KEY_BYTES = 32

/**
 * DER prefix of an IC threshold public key: SEQUENCE { SEQUENCE { OID
 * 1.3.6.1.4.1.44668.5.3.1.2.1 (BLS12-381 G2 key), OID 1.3.6.1.4.1.44668.5.3.2.1
 * (curve) }, BIT STRING (0 unused bits, 96 bytes) }. Followed by the 96-byte key.
 */
export const THRESHOLD_PUBLIC_KEY_DER_PREFIX_HEX =
  '308182301d060d2b0601040182dc7c0503010201060c2b0601040182dc7c05030201036100'
