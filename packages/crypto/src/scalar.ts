/**
 * Arithmetic modulo the BLS12-381 group order r: what a trusted dealer and
 * Lagrange interpolation need. Plain bigints, independent of the curve library.
 */
import { createHash, randomBytes } from 'node:crypto'
import { bls12_381_Fr } from '@noble/curves/bls12-381.js'
import { InvalidKeyError } from './errors.js'
import { THRESHOLD_SECRET_KEY_BYTES } from './constants.js'

const Fr = bls12_381_Fr
export const GROUP_ORDER: bigint = Fr.ORDER

function bytesToBigint (bytes: Uint8Array): bigint {
  let x = 0n
  for (const b of bytes) x = (x << 8n) | BigInt(b)
  return x
}

/** A uniformly random non-zero scalar (48 random bytes reduced mod r: bias below 2^-128). */
export function randomScalar (): bigint {
  for (;;) {
    const x = bytesToBigint(randomBytes(48)) % GROUP_ORDER
    if (x !== 0n) return x
  }
}

/**
 * A non-zero scalar derived from a seed and a counter (SHA-512, reduced mod r).
 * Lets a testnet deal the same keys on every machine from one seed.
 */
export function derivedScalar (seed: Uint8Array, domain: string, counter: number): bigint {
  for (let attempt = 0; ; attempt++) {
    const h = createHash('sha512')
    h.update(domain)
    h.update(seed)
    h.update(Buffer.from([counter >>> 24, counter >>> 16, counter >>> 8, counter, attempt & 0xff]))
    const x = bytesToBigint(h.digest()) % GROUP_ORDER
    if (x !== 0n) return x
  }
}

/** 32-byte big-endian encoding. */
export function scalarToBytes (x: bigint): Uint8Array {
  const out = new Uint8Array(THRESHOLD_SECRET_KEY_BYTES)
  let v = x
  for (let i = out.length - 1; i >= 0; i--) { out[i] = Number(v & 0xffn); v >>= 8n }
  return out
}

/** Decodes a 32-byte big-endian scalar; it must be in [1, r). */
export function scalarFromBytes (bytes: Uint8Array): bigint {
  if (bytes.length !== THRESHOLD_SECRET_KEY_BYTES) {
    throw new InvalidKeyError(`secret key must be ${THRESHOLD_SECRET_KEY_BYTES} bytes, got ${bytes.length}`)
  }
  const x = bytesToBigint(bytes)
  if (x === 0n || x >= GROUP_ORDER) throw new InvalidKeyError('secret key out of range')
  return x
}

/** Horner evaluation of sum(coefficients[k] * x^k) mod r. */
export function evaluatePolynomial (coefficients: readonly bigint[], x: bigint): bigint {
  let acc = 0n
  for (let k = coefficients.length - 1; k >= 0; k--) acc = Fr.add(Fr.mul(acc, x), coefficients[k]!)
  return acc
}

/**
 * Lagrange coefficients for interpolating at 0 from the distinct non-zero
 * points xs: lambda_i = prod_{j != i} x_j / (x_j - x_i). One batched inversion.
 */
export function lagrangeCoefficientsAtZero (xs: readonly bigint[]): bigint[] {
  const numerators: bigint[] = []
  const denominators: bigint[] = []
  for (let i = 0; i < xs.length; i++) {
    let num = 1n
    let den = 1n
    for (let j = 0; j < xs.length; j++) {
      if (i === j) continue
      num = Fr.mul(num, xs[j]!)
      den = Fr.mul(den, Fr.sub(xs[j]!, xs[i]!))
    }
    numerators.push(num)
    denominators.push(den)
  }
  const inverses = Fr.invertBatch(denominators)
  return numerators.map((n, i) => Fr.mul(n, inverses[i]!))
}
