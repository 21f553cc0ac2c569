/**
 * The IC's DER form of a threshold (BLS12-381 G2) public key: a fixed
 * 37-byte prefix followed by the 96-byte compressed key. Subnet ids are the
 * self-authenticating principals of these bytes.
 */
import { fromHex, equalBytes, concatBytes } from '@icnet/types'
import { InvalidKeyError } from './errors.js'
import { THRESHOLD_PUBLIC_KEY_BYTES, THRESHOLD_PUBLIC_KEY_DER_PREFIX_HEX } from './constants.js'
import { thresholdBackend } from './threshold-select.js'

export const THRESHOLD_PUBLIC_KEY_DER_PREFIX: Uint8Array = fromHex(THRESHOLD_PUBLIC_KEY_DER_PREFIX_HEX)
export const THRESHOLD_PUBLIC_KEY_DER_BYTES = THRESHOLD_PUBLIC_KEY_DER_PREFIX.length + THRESHOLD_PUBLIC_KEY_BYTES

function assertValidPublicKey (publicKey: Uint8Array): void {
  if (!(publicKey instanceof Uint8Array) || publicKey.length !== THRESHOLD_PUBLIC_KEY_BYTES) {
    throw new InvalidKeyError(`threshold public key must be ${THRESHOLD_PUBLIC_KEY_BYTES} bytes`)
  }
  if (!thresholdBackend.isValidPublicKey(publicKey)) {
    throw new InvalidKeyError('threshold public key is not a valid G2 point')
  }
}

/** Wraps a 96-byte threshold public key in the IC's DER form. Throws InvalidKeyError for a bad key. */
export function publicKeyToDer (publicKey: Uint8Array): Uint8Array {
  assertValidPublicKey(publicKey)
  return concatBytes(THRESHOLD_PUBLIC_KEY_DER_PREFIX, publicKey)
}

/**
 * Unwraps the IC's DER form to the 96-byte key, checking the length and prefix
 * before anything else and the point itself last. Throws InvalidKeyError.
 */
export function publicKeyFromDer (der: Uint8Array): Uint8Array {
  if (!(der instanceof Uint8Array) || der.length !== THRESHOLD_PUBLIC_KEY_DER_BYTES) {
    throw new InvalidKeyError(`DER threshold public key must be ${THRESHOLD_PUBLIC_KEY_DER_BYTES} bytes`)
  }
  if (!equalBytes(der.subarray(0, THRESHOLD_PUBLIC_KEY_DER_PREFIX.length), THRESHOLD_PUBLIC_KEY_DER_PREFIX)) {
    throw new InvalidKeyError('DER threshold public key has an unknown algorithm prefix')
  }
  const publicKey = der.slice(THRESHOLD_PUBLIC_KEY_DER_PREFIX.length)
  assertValidPublicKey(publicKey)
  return publicKey
}
