/**
 * Threshold-signature curve operations on mcl-wasm (herumi's mcl compiled to
 * WebAssembly): about 5-8x faster than @noble/curves here, and bit-for-bit
 * compatible with the IC (same compressed point format, same hash-to-curve).
 *
 * mcl keeps its settings in process-global state (serialization format,
 * hash-to-curve mode and DST). Other code in the same process may use mcl
 * with other settings, so every operation re-applies ours first; that costs a
 * few WebAssembly calls against a multi-exponentiation or a pairing.
 */
import mcl from 'mcl-wasm'
import { InvalidSignatureError } from './errors.js'
import { scalarToBytes } from './scalar.js'
import { THRESHOLD_PUBLIC_KEY_BYTES, THRESHOLD_SIGNATURE_BYTES, THRESHOLD_SIGNATURE_DST } from './constants.js'
import type { ThresholdBackend } from './threshold-backend.js'

/** The parts of mcl's Emscripten module we call that its typings do not declare. */
interface McLWasmModule {
  _malloc(size: number): number
  HEAP8: Int8Array
  _mclBnG1_setDst(ptr: number, len: number): number
}

/** BLS12-381 G2 generator, compressed (IETF / ZCash encoding). */
const G2_GENERATOR_HEX =
  '93e02b6052719f607dacd3a088274f65596bd0d09920b61ab5da61bbdc7f5049334cf11213945d57e5ac7d055d042b7e' +
  '024aa2b2f08f0a91260805272dc51051c6e47ad4fa403b02b4510b647ae3d1770bac0326a805bbefd48056c8c121bdb8'

if (mcl.curveType !== mcl.BLS12_381) await mcl.init(mcl.BLS12_381)
const wasm = (mcl as unknown as { mod: McLWasmModule }).mod
if (typeof wasm?._mclBnG1_setDst !== 'function') throw new Error('mcl-wasm does not expose mclBnG1_setDst')

// The DST lives in WebAssembly memory for the life of the process.
const dstBytes = new TextEncoder().encode(THRESHOLD_SIGNATURE_DST)
const dstPtr = wasm._malloc(dstBytes.length)
wasm.HEAP8.set(dstBytes, dstPtr)

function configure (): void {
  mcl.setETHserialization(true) // compressed points in the IETF/ZCash format, as the IC
  mcl.setMapToMode(mcl.IRTF) // RFC 9380 hash-to-curve (SSWU)
  wasm._mclBnG1_setDst(dstPtr, dstBytes.length)
  mcl.verifyOrderG1(true) // subgroup checks when decoding untrusted points
  mcl.verifyOrderG2(true)
}

configure()
const g2Generator = new mcl.G2()
g2Generator.deserialize(Buffer.from(G2_GENERATOR_HEX, 'hex'))
const g2GeneratorPrecomputed = new mcl.PrecomputedG2(g2Generator)

/**
 * Public keys recently verified against, decoded and with their Miller-loop
 * lines precomputed: a node checks the same subnet and share keys over and
 * over, and this saves about a fifth of a verification. Bounded; evicted
 * entries free their WebAssembly memory.
 */
const PREPARED_KEY_CACHE_SIZE = 128
const preparedKeys = new Map<string, mcl.PrecomputedG2>()

function preparedPublicKey (bytes: Uint8Array): mcl.PrecomputedG2 | undefined {
  const key = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex')
  const hit = preparedKeys.get(key)
  if (hit !== undefined) {
    preparedKeys.delete(key)
    preparedKeys.set(key, hit)
    return hit
  }
  const point = decodeG2(bytes)
  if (point === undefined) return undefined
  const prepared = new mcl.PrecomputedG2(point)
  preparedKeys.set(key, prepared)
  if (preparedKeys.size > PREPARED_KEY_CACHE_SIZE) {
    const [oldestKey, oldest] = preparedKeys.entries().next().value!
    preparedKeys.delete(oldestKey)
    oldest.destroy()
  }
  return prepared
}

/**
 * Messages recently hashed to G1, with their points. A node hashes the same
 * message twice for each beacon and certification: once to sign its share,
 * once to verify the signature it combined from everyone's shares (a quarter
 * of a millisecond each time in WebAssembly). Keyed by the exact message
 * bytes; the points are never mutated (mcl's operations return new points).
 */
const HASHED_MESSAGE_CACHE_SIZE = 32
const hashedMessages = new Map<string, mcl.G1>()

function hashToG1 (message: Uint8Array): mcl.G1 {
  const key = Buffer.from(message.buffer, message.byteOffset, message.byteLength).toString('latin1')
  let point = hashedMessages.get(key)
  if (point === undefined) {
    point = mcl.hashAndMapToG1(message)
    hashedMessages.set(key, point)
    if (hashedMessages.size > HASHED_MESSAGE_CACHE_SIZE) hashedMessages.delete(hashedMessages.keys().next().value!)
  }
  return point
}

/** e(-H(m), pk) * e(sig, g2) == 1, one shared final exponentiation. */
function pairingCheck (pk: mcl.PrecomputedG2, message: Uint8Array, sig: mcl.G1): boolean {
  const h = mcl.neg(hashToG1(message))
  return mcl.finalExp(mcl.precomputedMillerLoop2(h, pk, sig, g2GeneratorPrecomputed)).isOne()
}

function decodeShares (signatures: readonly Uint8Array[]): mcl.G1[] {
  return signatures.map((bytes, i) => {
    const p = decodeG1(bytes)
    if (p === undefined) throw new InvalidSignatureError(`signature share ${i} is not a G1 point`)
    return p
  })
}

function frFromBigint (x: bigint): mcl.Fr {
  const fr = new mcl.Fr()
  fr.setBigEndianMod(scalarToBytes(x))
  return fr
}

function decodeG1 (bytes: Uint8Array): mcl.G1 | undefined {
  if (bytes.length !== THRESHOLD_SIGNATURE_BYTES) return undefined
  try {
    const p = new mcl.G1()
    p.deserialize(bytes)
    return p
  } catch {
    return undefined
  }
}

function decodeG2 (bytes: Uint8Array): mcl.G2 | undefined {
  if (bytes.length !== THRESHOLD_PUBLIC_KEY_BYTES) return undefined
  try {
    const p = new mcl.G2()
    p.deserialize(bytes)
    return p
  } catch {
    return undefined
  }
}

export const mclBackend: ThresholdBackend = {
  name: 'mcl',

  publicKeyFromSecret (secret) {
    configure()
    return mcl.mul(g2Generator, frFromBigint(secret)).serialize()
  },

  sign (secret, message) {
    configure()
    return mcl.mul(hashToG1(message), frFromBigint(secret)).serialize()
  },

  verify (publicKey, message, signature) {
    configure()
    const sig = decodeG1(signature)
    if (sig === undefined) return false
    const pk = preparedPublicKey(publicKey)
    if (pk === undefined) return false
    return pairingCheck(pk, message, sig)
  },

  interpolateAtZero (xs, signatures) {
    configure()
    return mcl.recoverG1(xs.map(frFromBigint), decodeShares(signatures)).serialize()
  },

  combineAndVerify (publicKey, message, xs, signatures) {
    configure()
    const sig = mcl.recoverG1(xs.map(frFromBigint), decodeShares(signatures))
    const pk = preparedPublicKey(publicKey)
    if (pk === undefined || !pairingCheck(pk, message, sig)) return undefined
    return sig.serialize()
  },

  isValidPublicKey (publicKey) {
    configure()
    const p = decodeG2(publicKey)
    return p !== undefined && !p.isZero()
  },

  isValidSignature (signature) {
    configure()
    return decodeG1(signature) !== undefined
  }
}
