/**
 * Subnet threshold keys and signatures in the IC's scheme: BLS12-381 with
 * signatures in G1 (48 bytes) and public keys in G2 (96 bytes), messages
 * hashed to G1 with the DST `BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_`.
 * A combined signature is an ordinary BLS signature under the subnet key, so
 * IC agents verify it like one from the IC.
 *
 * Keys are dealt by a trusted dealer: a random polynomial f of degree t-1,
 * subnet secret f(0), share i holds f(i + 1). Any t signature shares combine
 * into the subnet signature by Lagrange interpolation in the exponent.
 */
import { InvalidShareSetError, InvalidSignatureError } from './errors.js'
import {
  MAX_COMMITTEE_SIZE,
  THRESHOLD_PUBLIC_KEY_BYTES,
  THRESHOLD_SIGNATURE_BYTES
} from './constants.js'
import { derivedScalar, evaluatePolynomial, randomScalar, scalarFromBytes, scalarToBytes } from './scalar.js'
import { publicKeyFromDer, publicKeyToDer, THRESHOLD_PUBLIC_KEY_DER_BYTES } from './threshold-der.js'
import { loadedThresholdBackends, loadThresholdBackends, thresholdBackend } from './threshold-select.js'
import type { ThresholdBackend } from './threshold-backend.js'
import { VerifiedSignatureCache, type VerifiedSignatureCacheStats } from './verified-signatures.js'

/** One committee member's share of a subnet threshold key. */
export interface ThresholdKeyShare {
  /**
   * 0-based position of the holder in the subnet's committee (as the IC's node
   * index, and as the signer bitmap of node multi-signatures). The dealer's
   * polynomial is evaluated at `index + 1`, because f(0) is the subnet secret.
   */
  index: number
  /** 32-byte big-endian scalar f(index + 1). Never leaves its node. */
  secretKey: Uint8Array
  /** 96-byte compressed G2 point g2^f(index + 1): verifies this share's signatures. */
  publicKey: Uint8Array
}

export interface DealThresholdKeysOptions {
  /** Committee size: shares 0..n-1. 1 <= n <= MAX_COMMITTEE_SIZE. */
  n: number
  /** Shares needed to sign: 1 <= t <= n (t = 2f+1 of n = 3f+1 on a subnet). */
  t: number
  /**
   * Derive the polynomial from this seed instead of fresh randomness, so that
   * a testnet can deal the same keys everywhere. Anyone with the seed holds the
   * subnet secret: never use a seed for keys that protect anything.
   */
  seed?: Uint8Array
}

export interface ThresholdKeySet {
  /** n and t as dealt. */
  size: number
  threshold: number
  /** The subnet public key: 96-byte compressed G2 point. */
  publicKey: Uint8Array
  /** The subnet public key in the IC's DER form (what subnet ids and root keys are made of). */
  publicKeyDer: Uint8Array
  /** shares[i].index === i. */
  shares: ThresholdKeyShare[]
  /** sharePublicKeys[i] === shares[i].publicKey: the public part a registry records. */
  sharePublicKeys: Uint8Array[]
}

/** A signature share tagged with its share's index. */
export interface SignedShare {
  index: number
  signature: Uint8Array
}

export interface CombineSharesOptions {
  /**
   * The key's threshold t. When given, fewer than t shares throw
   * InvalidShareSetError and only the first t shares are interpolated (any t
   * determine the same signature). When absent, all shares are interpolated;
   * fewer than t then give a signature that does not verify.
   */
  threshold?: number
}

const DEALER_DOMAIN = 'icnet-threshold-dealer-v1'

function isIndex (index: unknown): index is number {
  return Number.isSafeInteger(index) && (index as number) >= 0 && (index as number) < MAX_COMMITTEE_SIZE
}

/** Accepts the 96-byte key or its 133-byte DER form. Undefined if neither decodes. */
function rawPublicKey (publicKey: Uint8Array): Uint8Array | undefined {
  if (!(publicKey instanceof Uint8Array)) return undefined
  if (publicKey.length === THRESHOLD_PUBLIC_KEY_BYTES) return publicKey
  if (publicKey.length === THRESHOLD_PUBLIC_KEY_DER_BYTES) {
    try { return publicKeyFromDer(publicKey) } catch { return undefined }
  }
  return undefined
}

/** The threshold operations on one curve library; the module-level functions use the fastest. */
export class ThresholdScheme {
  readonly backend: ThresholdBackend

  constructor (backend: ThresholdBackend) {
    this.backend = backend
  }

  /** Deals a t-of-n key: the subnet public key and n shares. */
  dealThresholdKeys (options: DealThresholdKeysOptions): ThresholdKeySet {
    const { n, t, seed } = options
    if (!Number.isSafeInteger(n) || n < 1 || n > MAX_COMMITTEE_SIZE) {
      throw new RangeError(`n must be an integer in [1, ${MAX_COMMITTEE_SIZE}], got ${n}`)
    }
    if (!Number.isSafeInteger(t) || t < 1 || t > n) {
      throw new RangeError(`t must be an integer in [1, n=${n}], got ${t}`)
    }
    const coefficients: bigint[] = []
    for (let k = 0; k < t; k++) coefficients.push(seed === undefined ? randomScalar() : derivedScalar(seed, DEALER_DOMAIN, k))
    const publicKey = this.backend.publicKeyFromSecret(coefficients[0]!)
    const shares: ThresholdKeyShare[] = []
    for (let index = 0; index < n; index++) {
      // f(index + 1) can be 0 only with probability ~n/r; a zero share would be useless, so re-deal.
      const secret = evaluatePolynomial(coefficients, BigInt(index + 1))
      if (secret === 0n) return this.dealThresholdKeys(seed === undefined ? options : { n, t, seed: new Uint8Array([...seed, 0]) })
      shares.push({ index, secretKey: scalarToBytes(secret), publicKey: this.backend.publicKeyFromSecret(secret) })
    }
    return {
      size: n,
      threshold: t,
      publicKey,
      publicKeyDer: publicKeyToDer(publicKey),
      shares,
      sharePublicKeys: shares.map(s => s.publicKey)
    }
  }

  /** Signs a message with one share. Throws InvalidKeyError if the share's secret key is malformed. */
  signShare (share: Pick<ThresholdKeyShare, 'secretKey'>, message: Uint8Array): Uint8Array {
    return this.backend.sign(scalarFromBytes(share.secretKey), message)
  }

  /** Verifies a signature share against that share's public key. False for anything malformed. */
  verifyShare (sharePublicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
    return this.verifyThreshold(sharePublicKey, message, signature)
  }

  /**
   * Combines signature shares (each tagged with its share index) into the
   * subnet signature. Any t valid shares give the same 48-byte signature.
   * Throws InvalidShareSetError for an empty set, a duplicate or out-of-range
   * index, or fewer shares than `options.threshold`; InvalidSignatureError for
   * a share that is not a G1 point. It does not verify the shares: verify
   * them (verifyShare) or the result (verifyThreshold).
   */
  combineShares (signedShares: readonly SignedShare[], options: CombineSharesOptions = {}): Uint8Array {
    const used = this.sharesToCombine(signedShares, options)
    return this.backend.interpolateAtZero(used.map(s => BigInt(s.index + 1)), used.map(s => s.signature))
  }

  /**
   * combineShares, then verifyThreshold of the result against the subnet key,
   * in one step (with blst and mcl the combined point is checked without being
   * encoded and decoded again). The subnet signature if it verifies; undefined if it
   * does not, which means a share is bad: verify them one by one to find it.
   * Throws as combineShares does for a malformed share set.
   */
  combineAndVerify (publicKey: Uint8Array, message: Uint8Array, signedShares: readonly SignedShare[], options: CombineSharesOptions = {}): Uint8Array | undefined {
    const used = this.sharesToCombine(signedShares, options)
    const pk = rawPublicKey(publicKey)
    if (pk === undefined || !(message instanceof Uint8Array)) return undefined
    const xs = used.map(s => BigInt(s.index + 1))
    const signatures = used.map(s => s.signature)
    if (this.backend.combineAndVerify !== undefined) return this.backend.combineAndVerify(pk, message, xs, signatures)
    const combined = this.backend.interpolateAtZero(xs, signatures)
    return this.backend.verify(pk, message, combined) ? combined : undefined
  }

  /** The shares combineShares interpolates, after checking the set (see there). */
  private sharesToCombine (signedShares: readonly SignedShare[], options: CombineSharesOptions): readonly SignedShare[] {
    if (!Array.isArray(signedShares) || signedShares.length === 0) throw new InvalidShareSetError('no signature shares to combine')
    if (signedShares.length > MAX_COMMITTEE_SIZE) throw new InvalidShareSetError(`more than ${MAX_COMMITTEE_SIZE} signature shares`)
    const { threshold } = options
    if (threshold !== undefined) {
      if (!Number.isSafeInteger(threshold) || threshold < 1) throw new InvalidShareSetError(`invalid threshold ${threshold}`)
      if (signedShares.length < threshold) {
        throw new InvalidShareSetError(`${signedShares.length} signature shares, threshold is ${threshold}`)
      }
    }
    const seen = new Set<number>()
    for (const { index, signature } of signedShares) {
      if (!isIndex(index)) throw new InvalidShareSetError(`share index ${String(index)} out of range`)
      if (seen.has(index)) throw new InvalidShareSetError(`duplicate share index ${index}`)
      seen.add(index)
      if (!(signature instanceof Uint8Array) || signature.length !== THRESHOLD_SIGNATURE_BYTES) {
        throw new InvalidSignatureError(`signature share ${index} must be ${THRESHOLD_SIGNATURE_BYTES} bytes`)
      }
    }
    return threshold === undefined ? signedShares : signedShares.slice(0, threshold)
  }

  /**
   * Verifies a subnet signature. The key may be the 96-byte point or its DER
   * form. Returns false, never throws, for a malformed key or signature.
   */
  verifyThreshold (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
    const pk = rawPublicKey(publicKey)
    if (pk === undefined || !(signature instanceof Uint8Array) || !(message instanceof Uint8Array)) return false
    return this.backend.verify(pk, message, signature)
  }
}

const schemes = new Map<ThresholdBackend['name'], ThresholdScheme>()

function schemeOf (backend: ThresholdBackend): ThresholdScheme {
  let scheme = schemes.get(backend.name)
  if (scheme === undefined) {
    scheme = new ThresholdScheme(backend)
    schemes.set(backend.name, scheme)
  }
  return scheme
}

/**
 * Loads every threshold library available on this platform (blst where its
 * binary exists, mcl-wasm, noble) and returns their names, for cross-checks
 * and benchmarks. A process that only signs and verifies never needs it: the
 * module functions use THRESHOLD_LIBRARY, loaded at import.
 */
export async function loadThresholdLibraries (): Promise<ReadonlyArray<ThresholdBackend['name']>> {
  return [...(await loadThresholdBackends()).keys()]
}

/** The threshold libraries loaded in this process so far (mcl-wasm only once needed). */
export function loadedThresholdLibraries (): ReadonlyArray<ThresholdBackend['name']> {
  return [...loadedThresholdBackends().keys()]
}

/**
 * The threshold scheme on a named library (for cross-checks and benchmarks).
 * Throws if that library is not loaded: blst and noble are whenever they are
 * available, mcl-wasm once it is THRESHOLD_LIBRARY or after
 * `await loadThresholdLibraries()`.
 */
export function thresholdScheme (library: ThresholdBackend['name']): ThresholdScheme {
  const backend = loadedThresholdBackends().get(library)
  if (backend === undefined) throw new Error(`threshold library ${library} is not loaded in this process (see loadThresholdLibraries)`)
  return schemeOf(backend)
}

const chosen = schemeOf(thresholdBackend)

/** Name of the library behind the module-level threshold functions. */
export const THRESHOLD_LIBRARY: ThresholdBackend['name'] = thresholdBackend.name

/** Deals a t-of-n subnet key with a trusted dealer. See ThresholdScheme.dealThresholdKeys. */
export function dealThresholdKeys (options: DealThresholdKeysOptions): ThresholdKeySet {
  return chosen.dealThresholdKeys(options)
}

/** Signs a message with a key share: a 48-byte signature share. */
export function signShare (share: Pick<ThresholdKeyShare, 'secretKey'>, message: Uint8Array): Uint8Array {
  return chosen.signShare(share, message)
}

/** Verifies a signature share against its share public key. */
export function verifyShare (sharePublicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  return chosen.verifyShare(sharePublicKey, message, signature)
}

/** Combines any t signature shares into the subnet signature. See ThresholdScheme.combineShares. */
export function combineShares (signedShares: readonly SignedShare[], options?: CombineSharesOptions): Uint8Array {
  return chosen.combineShares(signedShares, options)
}

const verified = new VerifiedSignatureCache()

/**
 * Verifies a subnet (combined) signature against the subnet public key (raw or
 * DER). A verification that succeeded before in this process is answered from
 * a bounded cache of exact inputs (see verified-signatures.ts); failures are
 * always recomputed. `ThresholdScheme.verifyThreshold` never caches.
 */
export function verifyThreshold (publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  const pk = rawPublicKey(publicKey)
  if (pk === undefined || !(signature instanceof Uint8Array) || !(message instanceof Uint8Array)) return false
  const key = VerifiedSignatureCache.key(pk, message, signature)
  if (key !== undefined && verified.has(key)) return true
  const ok = chosen.verifyThreshold(pk, message, signature)
  if (ok && key !== undefined) verified.add(key)
  return ok
}

/**
 * Combines signature shares and verifies the result against the subnet key in
 * one step (see ThresholdScheme.combineAndVerify): the subnet signature, or
 * undefined if it does not verify (a share is bad). A signature that verifies
 * goes into the same cache as `verifyThreshold`'s successes, so the identical
 * signature arriving from a peer, or checked again by message routing, costs
 * a lookup.
 */
export function combineAndVerifyThreshold (publicKey: Uint8Array, message: Uint8Array, signedShares: readonly SignedShare[], options?: CombineSharesOptions): Uint8Array | undefined {
  const signature = chosen.combineAndVerify(publicKey, message, signedShares, options)
  if (signature === undefined) return undefined
  const pk = rawPublicKey(publicKey)
  const key = pk === undefined ? undefined : VerifiedSignatureCache.key(pk, message, signature)
  if (key !== undefined) verified.add(key)
  return signature
}

/** How often `verifyThreshold` was answered from its cache of verified signatures. */
export function verifiedSignatureCacheStats (): VerifiedSignatureCacheStats {
  return verified.stats()
}
