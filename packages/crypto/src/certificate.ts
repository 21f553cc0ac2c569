/**
 * IC certificates: a hash tree and a subnet threshold signature over its root,
 * optionally with a delegation from the root subnet.
 *
 *   certificate = tag(55799) {
 *     "tree":        hash tree (CBOR as in @icnet/hashtree),
 *     "signature":   48-byte BLS12-381 G1 signature over dsep("ic-state-root") ‖ root,
 *     ?"delegation": { "subnet_id": principal bytes, "certificate": bytes of a certificate }
 *   }
 *
 * A delegated certificate is signed by a subnet whose public key and canister
 * ranges are certified by the root subnet, in the delegation certificate's tree
 * at /subnet/<subnet_id>/public_key and /subnet/<subnet_id>/canister_ranges.
 * The format and the checks are the IC interface specification's, so IC agents
 * verify what this module creates (tested with @dfinity/agent's Certificate).
 */
import { encode, Tagged, type Token, Tokenizer, Type } from 'cborg'
import {
  compareBytes, concatBytes, domainSeparator, InvalidEncodingError, type Principal, VerificationError
} from '@icnet/types'
import {
  decodeHashTreeAt, DEFAULT_MAX_TREE_DEPTH, lookupPath, reconstruct, toCborValue, type HashTree, type LookupResult, type Path
} from '@icnet/hashtree'
import { THRESHOLD_SIGNATURE_BYTES } from './constants.js'
import { publicKeyFromDer } from './threshold-der.js'
import { verifyThreshold } from './threshold.js'

const STATE_ROOT_SEPARATOR = domainSeparator('ic-state-root')
const SELF_DESCRIBE_TAG = 55799

/**
 * Largest certificate accepted, delegation included. Certificates of reads and
 * of stream slices are kilobytes to a few megabytes; the bound is checked
 * before any byte is decoded.
 */
export const MAX_CERTIFICATE_BYTES = 8 * 1024 * 1024
/** A principal is at most 29 bytes. */
const MAX_PRINCIPAL_BYTES = 29

/** The bytes a subnet signs to certify a state tree: `dsep("ic-state-root") ‖ root`. */
export function certificateMessage (rootHash: Uint8Array): Uint8Array {
  return concatBytes(STATE_ROOT_SEPARATOR, rootHash)
}

/** A delegation from the root subnet, as carried in a certificate. */
export interface Delegation {
  /** The principal bytes of the subnet that signed the certificate. */
  subnet_id: Uint8Array
  /** A certificate of the root subnet with /subnet/<subnet_id>/{public_key,canister_ranges}. */
  certificate: Uint8Array
}

export interface CertificateParts {
  tree: HashTree
  signature: Uint8Array
  delegation?: Delegation
}

/** Encodes a certificate as the IC does: a CBOR map under the self-describe tag. */
export function createCertificate (parts: CertificateParts): Uint8Array {
  const value: Record<string, unknown> = { tree: toCborValue(parts.tree), signature: parts.signature }
  if (parts.delegation !== undefined) {
    value.delegation = { subnet_id: parts.delegation.subnet_id, certificate: parts.delegation.certificate }
  }
  return plain(encode(new Tagged(SELF_DESCRIBE_TAG, value)))
}

/**
 * cborg returns a Node Buffer under Node. Hand out a plain Uint8Array view:
 * decoders that slice a Buffer get views into it instead of copies, and
 * @dfinity/agent then misreads every looked-up value.
 */
function plain (bytes: Uint8Array): Uint8Array {
  return Object.getPrototypeOf(bytes) === Uint8Array.prototype ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

export interface DecodeCertificateOptions {
  /** Refuse certificates longer than this (default MAX_CERTIFICATE_BYTES), before decoding. */
  maxBytes?: number
  /** Deepest tree accepted (default the hash tree default, 128). */
  maxDepth?: number
}

/**
 * Decodes a certificate without verifying it. Bounded and strict: definite
 * lengths, known keys only, each once, a 48-byte signature. Throws
 * InvalidEncodingError.
 */
export function decodeCertificate (bytes: Uint8Array, options: DecodeCertificateOptions = {}): CertificateParts {
  const maxBytes = options.maxBytes ?? MAX_CERTIFICATE_BYTES
  if (bytes.length > maxBytes) throw new InvalidEncodingError(`certificate of ${bytes.length} bytes exceeds ${maxBytes}`)
  const cursor = new Cursor(bytes)
  let head = cursor.next()
  if (head.type === Type.tag) {
    if (head.value !== SELF_DESCRIBE_TAG) throw new InvalidEncodingError(`unexpected CBOR tag ${String(head.value)} on a certificate`)
    head = cursor.next()
  }
  const entries = expectMap(head, 3, 'certificate')
  let tree: HashTree | undefined
  let signature: Uint8Array | undefined
  let delegation: Delegation | undefined
  for (let i = 0; i < entries; i++) {
    const key = expectText(cursor.next(), 'certificate key')
    if (key === 'tree' && tree === undefined) {
      const decoded = decodeHashTreeAt(bytes, cursor.position(), { maxDepth: options.maxDepth ?? DEFAULT_MAX_TREE_DEPTH })
      tree = decoded.tree
      cursor.seek(decoded.end)
    } else if (key === 'signature' && signature === undefined) {
      signature = expectBytes(cursor.next(), 'signature', THRESHOLD_SIGNATURE_BYTES)
      if (signature.length !== THRESHOLD_SIGNATURE_BYTES) throw new InvalidEncodingError(`signature must be ${THRESHOLD_SIGNATURE_BYTES} bytes`)
    } else if (key === 'delegation' && delegation === undefined) {
      delegation = decodeDelegation(cursor, maxBytes)
    } else {
      throw new InvalidEncodingError(`unexpected or repeated certificate key "${key.slice(0, 32)}"`)
    }
  }
  if (!cursor.done()) throw new InvalidEncodingError('trailing bytes after the certificate')
  if (tree === undefined || signature === undefined) throw new InvalidEncodingError('certificate needs a tree and a signature')
  return delegation === undefined ? { tree, signature } : { tree, signature, delegation }
}

function decodeDelegation (cursor: Cursor, maxBytes: number): Delegation {
  const entries = expectMap(cursor.next(), 2, 'delegation')
  let subnetId: Uint8Array | undefined
  let certificate: Uint8Array | undefined
  for (let i = 0; i < entries; i++) {
    const key = expectText(cursor.next(), 'delegation key')
    if (key === 'subnet_id' && subnetId === undefined) subnetId = expectBytes(cursor.next(), 'subnet_id', MAX_PRINCIPAL_BYTES)
    else if (key === 'certificate' && certificate === undefined) certificate = expectBytes(cursor.next(), 'delegation certificate', maxBytes)
    else throw new InvalidEncodingError(`unexpected or repeated delegation key "${key.slice(0, 32)}"`)
  }
  if (subnetId === undefined || certificate === undefined) throw new InvalidEncodingError('delegation needs subnet_id and certificate')
  return { subnet_id: subnetId, certificate }
}

/** Reads CBOR tokens from a position that can jump past an embedded hash tree. */
class Cursor {
  readonly #bytes: Uint8Array
  #offset = 0
  #tokens: Tokenizer

  constructor (bytes: Uint8Array) {
    this.#bytes = plain(bytes)
    this.#tokens = this.#tokenizer()
  }

  #tokenizer (): Tokenizer {
    return new Tokenizer(this.#bytes.subarray(this.#offset), { allowIndefinite: false, allowUndefined: false, allowBigInt: false, strict: true })
  }

  next (): Token {
    if (this.#tokens.done()) throw new InvalidEncodingError('certificate is truncated')
    try {
      return this.#tokens.next()
    } catch (err) {
      throw new InvalidEncodingError('certificate is not valid CBOR', { cause: err })
    }
  }

  position (): number { return this.#offset + this.#tokens.pos() }
  done (): boolean { return this.position() >= this.#bytes.length }

  seek (position: number): void {
    this.#offset = position
    this.#tokens = this.#tokenizer()
  }
}

function expectMap (t: Token, maxEntries: number, what: string): number {
  if (t.type !== Type.map || typeof t.value !== 'number' || t.value > maxEntries) throw new InvalidEncodingError(`${what} must be a CBOR map of at most ${maxEntries} entries`)
  return t.value
}

function expectText (t: Token, what: string): string {
  if (t.type !== Type.string) throw new InvalidEncodingError(`${what} must be a text string`)
  return t.value as string
}

function expectBytes (t: Token, what: string, max: number): Uint8Array {
  if (t.type !== Type.bytes) throw new InvalidEncodingError(`${what} must be a byte string`)
  const v = t.value as Uint8Array
  if (v.length > max) throw new InvalidEncodingError(`${what} of ${v.length} bytes exceeds ${max}`)
  return v
}

/** Why a certificate was refused: a bounded set, safe as a metric label. */
export type CertificateRejection =
  | 'malformed'
  | 'invalid-root-key'
  | 'invalid-signature'
  | 'nested-delegation'
  | 'invalid-delegation'
  | 'missing-subnet-key'
  | 'missing-canister-ranges'
  | 'canister-not-in-range'
  | 'missing-time'
  | 'stale'

/** A certificate that does not verify; `reason` says which check failed. */
export class CertificateVerificationError extends VerificationError {
  readonly reason: CertificateRejection

  constructor (reason: CertificateRejection, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.reason = reason
  }
}

export interface VerifyCertificateOptions {
  /**
   * The canister the certificate speaks for (the effective canister of a
   * request, or the canister of a certified variable). With a delegation it
   * must lie in the delegated subnet's canister ranges. Without it, the ranges
   * are returned unchecked in `delegation.canisterRanges`.
   */
  canisterId?: Principal | Uint8Array
  /** Refuse a certificate whose /time is older than this many milliseconds (no freshness check by default). */
  maxAgeMs?: number
  /** Clock for `maxAgeMs`, in milliseconds since the epoch (default Date.now). */
  now?: () => number
  /** Size and depth bounds of the encoding. */
  maxBytes?: number
  maxDepth?: number
}

export interface VerifiedCertificate {
  tree: HashTree
  /** The root the signature covers. */
  rootHash: Uint8Array
  signature: Uint8Array
  /** The key that signed it, in DER form: the root key, or the delegated subnet's key. */
  signingKeyDer: Uint8Array
  /** /time in nanoseconds since the epoch, if the tree reveals it. */
  timeNs?: bigint
  delegation?: {
    subnetId: Uint8Array
    /** Inclusive [start, end] canister id ranges of the subnet, as certified by the root subnet. */
    canisterRanges: Array<[Uint8Array, Uint8Array]>
    /** The root subnet's certificate of the delegation, verified. */
    certificate: Omit<VerifiedCertificate, 'delegation' | 'lookup'>
  }
  /** `lookupPath` on the certified tree. */
  lookup: (path: Path) => LookupResult
}

/**
 * Verifies a certificate against the root key (IC DER form), as the interface
 * specification's `verify_cert`: the signature over the reconstructed root
 * under the root key, or, with a delegation, the delegation certificate under
 * the root key (itself without a delegation), the subnet key taken from it, the
 * canister inside the subnet's ranges, and the signature under that key.
 * Throws CertificateVerificationError (a VerificationError).
 */
export async function verifyCertificate (bytes: Uint8Array, rootKeyDer: Uint8Array, options: VerifyCertificateOptions = {}): Promise<VerifiedCertificate> {
  const parts = decodeOrReject(bytes, options)
  let signingKeyDer = rootKeyDer
  let delegation: VerifiedCertificate['delegation']
  if (parts.delegation !== undefined) {
    const inner = decodeOrReject(parts.delegation.certificate, options)
    if (inner.delegation !== undefined) throw new CertificateVerificationError('nested-delegation', 'a delegation certificate must not itself be delegated')
    let verifiedInner: Omit<VerifiedCertificate, 'delegation' | 'lookup'>
    try {
      verifiedInner = checkSignature(inner, rootKeyDer)
    } catch (err) {
      if (err instanceof CertificateVerificationError && err.reason === 'invalid-signature') {
        throw new CertificateVerificationError('invalid-delegation', 'the delegation certificate is not signed by the root key', { cause: err })
      }
      throw err
    }
    const subnetId = parts.delegation.subnet_id
    const key = lookupPath(inner.tree, ['subnet', subnetId, 'public_key'])
    if (key.status !== 'found') throw new CertificateVerificationError('missing-subnet-key', `the delegation does not certify the subnet's public key (${key.status})`)
    const ranges = lookupPath(inner.tree, ['subnet', subnetId, 'canister_ranges'])
    if (ranges.status !== 'found') throw new CertificateVerificationError('missing-canister-ranges', `the delegation does not certify the subnet's canister ranges (${ranges.status})`)
    let canisterRanges: Array<[Uint8Array, Uint8Array]>
    try {
      canisterRanges = decodeCanisterRanges(ranges.value)
    } catch (err) {
      throw new CertificateVerificationError('malformed', 'canister ranges do not decode', { cause: err })
    }
    if (options.canisterId !== undefined) {
      const id = options.canisterId instanceof Uint8Array ? options.canisterId : options.canisterId.toUint8Array()
      if (!canisterRanges.some(([start, end]) => compareBytes(start, id) <= 0 && compareBytes(id, end) <= 0)) {
        throw new CertificateVerificationError('canister-not-in-range', 'the canister is not in the delegated subnet\'s ranges')
      }
    }
    signingKeyDer = key.value
    delegation = { subnetId, canisterRanges, certificate: verifiedInner }
  }
  const verified = checkSignature(parts, signingKeyDer)
  if (options.maxAgeMs !== undefined) {
    if (verified.timeNs === undefined) throw new CertificateVerificationError('missing-time', 'the certificate reveals no /time')
    const now = BigInt(Math.floor((options.now ?? Date.now)()))
    if (verified.timeNs / 1_000_000n < now - BigInt(options.maxAgeMs)) throw new CertificateVerificationError('stale', 'the certificate is older than allowed')
  }
  const tree = parts.tree
  return { ...verified, ...(delegation === undefined ? {} : { delegation }), lookup: (path: Path) => lookupPath(tree, path) }
}

function decodeOrReject (bytes: Uint8Array, options: VerifyCertificateOptions): CertificateParts {
  try {
    return decodeCertificate(bytes, options)
  } catch (err) {
    throw new CertificateVerificationError('malformed', 'certificate does not decode', { cause: err })
  }
}

function checkSignature (parts: CertificateParts, keyDer: Uint8Array): Omit<VerifiedCertificate, 'delegation' | 'lookup'> {
  let key: Uint8Array
  try {
    key = publicKeyFromDer(keyDer)
  } catch (err) {
    throw new CertificateVerificationError('invalid-root-key', 'signing key is not an IC threshold public key in DER form', { cause: err })
  }
  const rootHash = reconstruct(parts.tree)
  let ok = false
  try {
    ok = verifyThreshold(key, certificateMessage(rootHash), parts.signature)
  } catch {
    ok = false
  }
  if (!ok) throw new CertificateVerificationError('invalid-signature', 'certificate signature does not verify')
  const time = lookupPath(parts.tree, ['time'])
  let timeNs: bigint | undefined
  if (time.status === 'found') {
    try {
      timeNs = decodeLeb128(time.value)
    } catch (err) {
      throw new CertificateVerificationError('malformed', '/time is not a LEB128 number', { cause: err })
    }
  }
  return { tree: parts.tree, rootHash, signature: parts.signature, signingKeyDer: keyDer, ...(timeNs === undefined ? {} : { timeNs }) }
}

/** Unsigned LEB128, as the IC encodes /time (nanoseconds). */
export function encodeLeb128 (value: bigint | number): Uint8Array {
  let v = BigInt(value)
  if (v < 0n) throw new RangeError('LEB128 of a negative number')
  const out: number[] = []
  do {
    let byte = Number(v & 0x7fn)
    v >>= 7n
    if (v !== 0n) byte |= 0x80
    out.push(byte)
  } while (v !== 0n)
  return Uint8Array.from(out)
}

/** Decodes unsigned LEB128 of at most 10 bytes (a u64). Throws InvalidEncodingError. */
export function decodeLeb128 (bytes: Uint8Array): bigint {
  if (bytes.length === 0 || bytes.length > 10) throw new InvalidEncodingError('LEB128 u64 must be 1 to 10 bytes')
  let v = 0n
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!
    v |= BigInt(b & 0x7f) << BigInt(7 * i)
    if ((b & 0x80) === 0) {
      if (i !== bytes.length - 1) throw new InvalidEncodingError('trailing bytes after LEB128')
      return v
    }
  }
  throw new InvalidEncodingError('LEB128 is truncated')
}

/** Most ranges a subnet's canister_ranges leaf may list (the IC's routing tables have a few per subnet). */
export const MAX_CANISTER_RANGES = 1024

/** CBOR of inclusive canister id ranges, as the IC's /subnet/<id>/canister_ranges: `[[start, end], …]`. */
export function encodeCanisterRanges (ranges: ReadonlyArray<readonly [Principal | Uint8Array, Principal | Uint8Array]>): Uint8Array {
  const bytesOf = (p: Principal | Uint8Array): Uint8Array => p instanceof Uint8Array ? p : p.toUint8Array()
  return plain(encode(ranges.map(([start, end]) => [bytesOf(start), bytesOf(end)])))
}

export function decodeCanisterRanges (bytes: Uint8Array): Array<[Uint8Array, Uint8Array]> {
  const cursor = new Cursor(bytes)
  const head = cursor.next()
  if (head.type !== Type.array || typeof head.value !== 'number' || head.value > MAX_CANISTER_RANGES) {
    throw new InvalidEncodingError(`canister ranges must be an array of at most ${MAX_CANISTER_RANGES} pairs`)
  }
  const out: Array<[Uint8Array, Uint8Array]> = []
  for (let i = 0; i < head.value; i++) {
    const pair = cursor.next()
    if (pair.type !== Type.array || pair.value !== 2) throw new InvalidEncodingError('a canister range must be a pair')
    out.push([expectBytes(cursor.next(), 'range start', MAX_PRINCIPAL_BYTES), expectBytes(cursor.next(), 'range end', MAX_PRINCIPAL_BYTES)])
  }
  if (!cursor.done()) throw new InvalidEncodingError('trailing bytes after canister ranges')
  return out
}
