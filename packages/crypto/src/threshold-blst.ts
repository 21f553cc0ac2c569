/**
 * Threshold-signature curve operations on blst (supranational's BLS12-381
 * library, native code). @chainsafe/bls only wraps blst's "minimal public
 * key" variant (keys in G1, signatures in G2), the one node signatures use;
 * the IC's threshold scheme is the other variant (signatures in G1, keys in
 * G2). @chainsafe/blst 0.2.11 (installed as `blst-bindings`) exposes blst's
 * whole point and pairing API, both variants, and ships its Node.js binaries
 * inside the registry package. About 3x faster than mcl-wasm for a
 * verification (docs/benchmarks/crypto.md) and bit-for-bit the same output.
 *
 * The binary exists per Node.js ABI; where none is shipped for the running
 * Node.js, `blstBackend` is undefined and the scheme runs on mcl-wasm.
 */
import { createRequire } from 'node:module'
import { InvalidSignatureError } from './errors.js'
import { lagrangeCoefficientsAtZero, scalarToBytes } from './scalar.js'
import { THRESHOLD_PUBLIC_KEY_BYTES, THRESHOLD_SIGNATURE_BYTES, THRESHOLD_SIGNATURE_DST } from './constants.js'
import type { ThresholdBackend } from './threshold-backend.js'

/** The slice of blst's SWIG binding used here (its own typings are not shipped in dist). */
interface P1Affine {
  to_jacobian(): P1
  in_group(): boolean
  core_verify(pk: P2Affine, hashOrEncode: boolean, message: Uint8Array, dst: string): number
}
interface P1 {
  to_affine(): P1Affine
  compress(): Uint8Array
  hash_to(message: Uint8Array, dst: string): P1
  /** Multiplies in place by a little-endian scalar. */
  mult(scalar: Uint8Array): P1
  add(p: P1): P1
}
interface P2Affine {
  in_group(): boolean
  is_inf(): boolean
}
interface P2 {
  compress(): Uint8Array
  mult(scalar: Uint8Array): P2
}
interface BlstBinding {
  P1_Affine: new (bytes: Uint8Array) => P1Affine
  P2_Affine: new (bytes: Uint8Array) => P2Affine
  P1: new () => P1
  G2(): P2
}

/** blst's BLST_SUCCESS. */
const BLST_SUCCESS = 0

function loadBinding (): BlstBinding | undefined {
  try {
    const require = createRequire(import.meta.url)
    return (require('blst-bindings/dist/bindings.js') as { blst: BlstBinding }).blst
  } catch {
    return undefined
  }
}

/** blst takes scalars as little-endian bytes. */
function littleEndian (scalar: bigint): Uint8Array {
  return scalarToBytes(scalar).reverse()
}

/** Decodes a compressed point of `length` bytes and checks it is in the prime-order subgroup. */
function decodeInGroup<P extends { in_group(): boolean }> (Point: new (bytes: Uint8Array) => P, length: number, bytes: Uint8Array): P | undefined {
  if (bytes.length !== length) return undefined
  try {
    const p = new Point(bytes)
    return p.in_group() ? p : undefined
  } catch {
    return undefined
  }
}

function decodeG1 (blst: BlstBinding, bytes: Uint8Array): P1Affine | undefined {
  return decodeInGroup(blst.P1_Affine, THRESHOLD_SIGNATURE_BYTES, bytes)
}

function decodeG2 (blst: BlstBinding, bytes: Uint8Array): P2Affine | undefined {
  return decodeInGroup(blst.P2_Affine, THRESHOLD_PUBLIC_KEY_BYTES, bytes)
}

function interpolate (blst: BlstBinding, xs: readonly bigint[], signatures: readonly Uint8Array[]): P1 {
  const lambdas = lagrangeCoefficientsAtZero(xs)
  const acc = new blst.P1()
  signatures.forEach((bytes, i) => {
    const p = decodeG1(blst, bytes)
    if (p === undefined) throw new InvalidSignatureError(`signature share ${i} is not a G1 point`)
    acc.add(p.to_jacobian().mult(littleEndian(lambdas[i]!)))
  })
  return acc
}

function verifyPoint (blst: BlstBinding, publicKey: Uint8Array, message: Uint8Array, signature: P1Affine): boolean {
  // The key is known to be valid (the interface says so): decoding without the subgroup check.
  let pk: P2Affine
  try {
    pk = new blst.P2_Affine(publicKey)
  } catch {
    return false
  }
  return signature.core_verify(pk, true, message, THRESHOLD_SIGNATURE_DST) === BLST_SUCCESS
}

function backendOn (blst: BlstBinding): ThresholdBackend {
  return {
    name: 'blst',

    publicKeyFromSecret (secret) {
      return blst.G2().mult(littleEndian(secret)).compress()
    },

    sign (secret, message) {
      return new blst.P1().hash_to(message, THRESHOLD_SIGNATURE_DST).mult(littleEndian(secret)).compress()
    },

    verify (publicKey, message, signature) {
      const sig = decodeG1(blst, signature)
      return sig !== undefined && verifyPoint(blst, publicKey, message, sig)
    },

    interpolateAtZero (xs, signatures) {
      return interpolate(blst, xs, signatures).compress()
    },

    combineAndVerify (publicKey, message, xs, signatures) {
      const combined = interpolate(blst, xs, signatures)
      return verifyPoint(blst, publicKey, message, combined.to_affine()) ? combined.compress() : undefined
    },

    isValidPublicKey (publicKey) {
      const p = decodeG2(blst, publicKey)
      return p !== undefined && !p.is_inf()
    },

    isValidSignature (signature) {
      return decodeG1(blst, signature) !== undefined
    }
  }
}

const binding = loadBinding()

/** The blst backend, or undefined where no blst binary exists for this Node.js. */
export const blstBackend: ThresholdBackend | undefined = binding === undefined ? undefined : backendOn(binding)
