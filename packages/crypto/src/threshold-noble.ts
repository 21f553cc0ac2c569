/**
 * Threshold-signature curve operations on @noble/curves (pure JavaScript).
 * The IC's agents verify with this library, so it doubles as the reference
 * in tests; mcl-wasm is faster (see docs/benchmarks/crypto.md).
 */
import { bls12_381 } from '@noble/curves/bls12-381.js'
import { InvalidSignatureError } from './errors.js'
import { lagrangeCoefficientsAtZero } from './scalar.js'
import { THRESHOLD_PUBLIC_KEY_BYTES, THRESHOLD_SIGNATURE_BYTES, THRESHOLD_SIGNATURE_DST } from './constants.js'
import type { ThresholdBackend } from './threshold-backend.js'

const short = bls12_381.shortSignatures
const G1 = bls12_381.G1.Point
const G2 = bls12_381.G2.Point

function hashToG1 (message: Uint8Array) {
  return short.hash(message, THRESHOLD_SIGNATURE_DST)
}

function decodeG1 (bytes: Uint8Array) {
  if (bytes.length !== THRESHOLD_SIGNATURE_BYTES) return undefined
  try {
    const p = G1.fromBytes(bytes)
    p.assertValidity()
    return p
  } catch {
    return undefined
  }
}

function decodeG2 (bytes: Uint8Array) {
  if (bytes.length !== THRESHOLD_PUBLIC_KEY_BYTES) return undefined
  try {
    const p = G2.fromBytes(bytes)
    p.assertValidity()
    return p
  } catch {
    return undefined
  }
}

export const nobleBackend: ThresholdBackend = {
  name: 'noble',

  publicKeyFromSecret (secret) {
    return G2.BASE.multiply(secret).toBytes()
  },

  sign (secret, message) {
    return hashToG1(message).multiply(secret).toBytes()
  },

  verify (publicKey, message, signature) {
    const sig = decodeG1(signature)
    const pk = decodeG2(publicKey)
    if (sig === undefined || pk === undefined) return false
    return short.verify(sig, hashToG1(message), pk)
  },

  interpolateAtZero (xs, signatures) {
    const lambdas = lagrangeCoefficientsAtZero(xs)
    let acc = G1.ZERO
    signatures.forEach((bytes, i) => {
      const p = decodeG1(bytes)
      if (p === undefined) throw new InvalidSignatureError(`signature share ${i} is not a G1 point`)
      acc = acc.add(p.multiply(lambdas[i]!))
    })
    return acc.toBytes()
  },

  isValidPublicKey (publicKey) {
    const p = decodeG2(publicKey)
    return p !== undefined && !p.equals(G2.ZERO)
  },

  isValidSignature (signature) {
    return decodeG1(signature) !== undefined
  }
}
