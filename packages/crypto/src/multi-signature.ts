/**
 * Multi-signatures of a committee: the node signatures of several members
 * over one message, aggregated into one 96-byte signature plus a bitmap of
 * who signed. Bit i (byte i >> 3, bit i & 7, least significant first) is the
 * committee member at position i; the bitmap has exactly ceil(n / 8) bytes
 * and no bit set at or beyond n, so each signer set has one encoding.
 */
import bls from '@chainsafe/bls'
import { InvalidShareSetError, InvalidSignatureError } from './errors.js'
import { MAX_COMMITTEE_SIZE, NODE_SIGNATURE_BYTES } from './constants.js'
import { nodeVerify, type NodePublicKey } from './node-keys.js'

export interface MultiSignature {
  /** Aggregate of the signers' signatures, 96 bytes. */
  signature: Uint8Array
  /** Signer bitmap over the committee, ceil(n / 8) bytes. */
  signers: Uint8Array
}

export interface SignerSignature {
  /** Position of the signer in the committee, 0-based. */
  signerIndex: number
  signature: Uint8Array
}

export interface VerifyMultiSignatureOptions {
  /** Minimum number of signers (for example 2f+1 for a notarization). Default 1. */
  threshold?: number
}

function assertCommitteeSize (committeeSize: number): void {
  if (!Number.isSafeInteger(committeeSize) || committeeSize < 1 || committeeSize > MAX_COMMITTEE_SIZE) {
    throw new RangeError(`committee size must be an integer in [1, ${MAX_COMMITTEE_SIZE}], got ${committeeSize}`)
  }
}

/** Bytes of a signer bitmap for a committee of n. */
export function signerBitmapLength (committeeSize: number): number {
  return Math.ceil(committeeSize / 8)
}

/** Builds a bitmap from signer positions (0-based, < committeeSize). */
export function encodeSignerBitmap (signerIndices: Iterable<number>, committeeSize: number): Uint8Array {
  assertCommitteeSize(committeeSize)
  const bitmap = new Uint8Array(signerBitmapLength(committeeSize))
  for (const i of signerIndices) {
    if (!Number.isSafeInteger(i) || i < 0 || i >= committeeSize) throw new InvalidShareSetError(`signer index ${i} out of range`)
    bitmap[i >> 3]! |= 1 << (i & 7)
  }
  return bitmap
}

/**
 * The signer positions in a bitmap, ascending. Throws InvalidShareSetError if
 * the bitmap has the wrong length for the committee or a bit set beyond it.
 */
export function decodeSignerBitmap (bitmap: Uint8Array, committeeSize: number): number[] {
  assertCommitteeSize(committeeSize)
  if (!(bitmap instanceof Uint8Array) || bitmap.length !== signerBitmapLength(committeeSize)) {
    throw new InvalidShareSetError(`signer bitmap must be ${signerBitmapLength(committeeSize)} bytes for ${committeeSize} members`)
  }
  const signers: number[] = []
  for (let byte = 0; byte < bitmap.length; byte++) {
    const b = bitmap[byte]!
    if (b === 0) continue
    for (let bit = 0; bit < 8; bit++) {
      if ((b & (1 << bit)) === 0) continue
      const i = byte * 8 + bit
      if (i >= committeeSize) throw new InvalidShareSetError(`signer bit ${i} beyond committee of ${committeeSize}`)
      signers.push(i)
    }
  }
  return signers
}

/**
 * Aggregates the members' signatures (over the same message) into one
 * multi-signature. Throws InvalidShareSetError for no signatures, a duplicate
 * or out-of-range signer, and InvalidSignatureError for bytes that are not a
 * signature. It does not verify the parts: verify them before aggregating if
 * they came from the network, or verify the result.
 */
export function aggregateMultiSignature (signatures: readonly SignerSignature[], committeeSize: number): MultiSignature {
  assertCommitteeSize(committeeSize)
  if (signatures.length === 0) throw new InvalidShareSetError('no signatures to aggregate')
  const seen = new Set<number>()
  for (const { signerIndex, signature } of signatures) {
    if (!Number.isSafeInteger(signerIndex) || signerIndex < 0 || signerIndex >= committeeSize) {
      throw new InvalidShareSetError(`signer index ${signerIndex} out of range for committee of ${committeeSize}`)
    }
    if (seen.has(signerIndex)) throw new InvalidShareSetError(`duplicate signer ${signerIndex}`)
    seen.add(signerIndex)
    if (!(signature instanceof Uint8Array) || signature.length !== NODE_SIGNATURE_BYTES) {
      throw new InvalidSignatureError(`signature of signer ${signerIndex} must be ${NODE_SIGNATURE_BYTES} bytes`)
    }
  }
  let aggregate: Uint8Array
  try {
    aggregate = bls.aggregateSignatures(signatures.map(s => s.signature))
  } catch (err) {
    throw new InvalidSignatureError('a signature is not a valid G2 point', { cause: err })
  }
  return { signature: aggregate, signers: encodeSignerBitmap(seen, committeeSize) }
}

/**
 * Verifies a multi-signature against the committee's public keys (in
 * committee order): the bitmap must fit the committee, name at least
 * `threshold` signers (default 1), and the aggregate must verify under their
 * aggregated keys. False, never a throw, for anything malformed.
 */
export function verifyMultiSignature (
  committeePublicKeys: readonly NodePublicKey[],
  message: Uint8Array,
  multiSignature: MultiSignature,
  options: VerifyMultiSignatureOptions = {}
): boolean {
  const n = committeePublicKeys.length
  if (n < 1 || n > MAX_COMMITTEE_SIZE) return false
  const { signature, signers } = multiSignature ?? {}
  if (!(signature instanceof Uint8Array) || signature.length !== NODE_SIGNATURE_BYTES) return false
  let indices: number[]
  try {
    indices = decodeSignerBitmap(signers, n)
  } catch {
    return false
  }
  const threshold = options.threshold ?? 1
  if (indices.length === 0 || indices.length < threshold) return false
  const keys = indices.map(i => committeePublicKeys[i]!)
  if (keys.length === 1) return nodeVerify(keys[0]!, message, signature)
  return bls.verifyAggregate(keys, message, signature)
}
