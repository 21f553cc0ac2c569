import {
  MAX_STREAM_MESSAGES,
  Principal,
  decodeStreamMessage,
  equalBytes,
  type RegistryView,
  type StreamMessage,
  type SubnetId
} from '@icnet/types'
import { decodeHashTree, encodeHashTree, mergeWitness, reconstruct, type HashTree } from '@icnet/hashtree'
import { verifyThreshold } from '@icnet/crypto'
import { MAX_RESPONSE_BYTES, MAX_TREE_DEPTH } from './constants.js'
import {
  CertificationError,
  LoopbackSliceError,
  SliceDecodeError,
  SliceIndicesError,
  UnknownSubnetError,
  WrongSubnetError
} from './errors.js'
import { decodeStreamHeader } from './header-codec.js'
import { CertifiedStreamSlice as PbSlice } from './pb/xnet.js'
import { payloadLabeledTree, pruneMessagesFrom, stateRootMessage } from './slice-tree.js'
import type { StreamHeader } from './stream.js'

export interface Certification {
  /** Height of the certified state the slice was read from. */
  height: number
  /** The source subnet's threshold signature over `dsep("ic-state-root") ‖ root`. */
  signature: Uint8Array
}

export interface SliceMessage {
  index: number
  /** The canonical CBOR bytes: exactly the certified leaf. */
  bytes: Uint8Array
  message: StreamMessage
}

/**
 * A stream slice with its proof: the header and messages `[msgBegin, msgEnd)` of
 * the stream towards `subnet`, a merkle proof placing them in the source subnet's
 * state tree, and the certification of that state. Once it came out of
 * `decodeCertifiedSlice` it is structurally sound; `verifyCertifiedSlice` then
 * proves it is the source subnet's.
 */
export interface CertifiedStreamSlice {
  /** The destination subnet (the stream's receiver), as principal bytes. */
  readonly subnet: Uint8Array
  readonly header: StreamHeader
  readonly headerBytes: Uint8Array
  /** Consecutive indices, inside `[header.begin, header.end)`; empty for a signals-only slice. */
  readonly messages: readonly SliceMessage[]
  readonly merkleProof: HashTree
  readonly certification: Certification
}

/** First message index carried (`header.end` for a signals-only slice). */
export function sliceMessagesBegin (s: CertifiedStreamSlice): number {
  return s.messages.length > 0 ? s.messages[0]!.index : s.header.end
}

/** One past the last message index carried (`header.end` for a signals-only slice: nothing beyond it is implied). */
export function sliceMessagesEnd (s: CertifiedStreamSlice): number {
  return s.messages.length > 0 ? s.messages[s.messages.length - 1]!.index + 1 : s.header.end
}

const encodedCache = new WeakMap<CertifiedStreamSlice, Uint8Array>()
const proofBytesCache = new WeakMap<HashTree, Uint8Array>()

function proofBytes (proof: HashTree): Uint8Array {
  let b = proofBytesCache.get(proof)
  if (b === undefined) { b = encodeHashTree(proof); proofBytesCache.set(proof, b) }
  return b
}

/** The protobuf `CertifiedStreamSlice` bytes (cached: slices are immutable). */
export function encodeCertifiedSlice (s: CertifiedStreamSlice): Uint8Array {
  let out = encodedCache.get(s)
  if (out !== undefined) return out
  out = PbSlice.encode({
    payload: {
      subnet: s.subnet as Uint8Array<ArrayBuffer>,
      header: s.headerBytes as Uint8Array<ArrayBuffer>,
      messages: s.messages.map(m => ({ index: BigInt(m.index), message: m.bytes as Uint8Array<ArrayBuffer> }))
    },
    merkleProof: proofBytes(s.merkleProof) as Uint8Array<ArrayBuffer>,
    certification: { height: BigInt(s.certification.height), signature: s.certification.signature as Uint8Array<ArrayBuffer> }
  })
  encodedCache.set(s, out)
  return out
}

/**
 * The slice's deterministic byte size: the length of its canonical protobuf
 * encoding. Every node computes the same number for the same slice, so it is
 * what payload byte limits are checked against.
 */
export function sliceByteSize (s: CertifiedStreamSlice): number {
  return encodeCertifiedSlice(s).length
}

export interface DecodeSliceOptions {
  /** Refuse larger input before parsing (default MAX_RESPONSE_BYTES). */
  maxBytes?: number
}

/**
 * Parses a slice and checks its structure (IC: decode, checks 1 and 2 without the
 * subnet): sizes bounded before allocation, header well formed, message indices
 * consecutive and inside `[header.begin, header.end)`, messages decodable. It does
 * not check the certification: see `verifyCertifiedSlice`.
 */
export function decodeCertifiedSlice (bytes: Uint8Array, opts: DecodeSliceOptions = {}): CertifiedStreamSlice {
  const maxBytes = opts.maxBytes ?? MAX_RESPONSE_BYTES
  if (bytes.length > maxBytes) throw new SliceDecodeError(`slice of ${bytes.length} bytes exceeds ${maxBytes}`)
  let pb: PbSlice
  try {
    pb = PbSlice.decode(bytes, { limits: { payload: { messages: MAX_STREAM_MESSAGES } } } as never)
  } catch (err) {
    throw new SliceDecodeError('slice is not a valid CertifiedStreamSlice protobuf', { cause: err })
  }
  if (pb.payload == null || pb.certification == null) throw new SliceDecodeError('slice lacks payload or certification')
  const header = decodeStreamHeader(pb.payload.header)
  let merkleProof: HashTree
  try {
    merkleProof = decodeHashTree(pb.merkleProof, { maxBytes, maxDepth: MAX_TREE_DEPTH })
  } catch (err) {
    throw new SliceDecodeError('merkle proof is not a valid hash tree', { cause: err })
  }
  const height = safeNumber(pb.certification.height, 'height')
  const messages: SliceMessage[] = new Array(pb.payload.messages.length)
  let expected = -1
  for (let k = 0; k < pb.payload.messages.length; k++) {
    const m = pb.payload.messages[k]!
    const index = safeNumber(m.index, 'message index')
    if (expected >= 0 && index !== expected) throw new SliceIndicesError(`message index ${index} where ${expected} was expected`)
    if (index < header.begin || index >= header.end) throw new SliceIndicesError(`message index ${index} outside the header's [${header.begin}, ${header.end})`)
    expected = index + 1
    let message: StreamMessage
    try {
      message = decodeStreamMessage(m.message)
    } catch (err) {
      throw new SliceDecodeError(`message ${index} does not decode`, { cause: err })
    }
    messages[k] = { index, bytes: m.message, message }
  }
  const slice: CertifiedStreamSlice = {
    subnet: pb.payload.subnet,
    header,
    headerBytes: pb.payload.header,
    messages,
    merkleProof,
    certification: { height, signature: pb.certification.signature }
  }
  encodedCache.set(slice, bytes)
  proofBytesCache.set(merkleProof, pb.merkleProof)
  return slice
}

/** The state root a slice proves: its proof merged with its payload. */
export function sliceRootHash (s: CertifiedStreamSlice): Uint8Array {
  let merged: HashTree
  try {
    merged = mergeWitness(s.merkleProof, payloadLabeledTree(s.subnet, s.headerBytes, s.messages))
  } catch (err) {
    throw new CertificationError('payload does not fit the merkle proof', { cause: err })
  }
  return reconstruct(merged)
}

export interface VerifySliceContext {
  /** This subnet: the slice must be of the stream towards it. */
  ourSubnet: SubnetId
  /** The subnet the slice claims to come from (whose key must have signed it). */
  sourceSubnet: SubnetId
  registry: RegistryView
}

/**
 * The IC's slice checks: the slice is of the stream to us (1), from another subnet,
 * and its proof and payload hash to a root the source subnet's threshold key signed
 * (3, 4). Structure (2) was checked by `decodeCertifiedSlice`.
 */
export function verifyCertifiedSlice (s: CertifiedStreamSlice, ctx: VerifySliceContext): void {
  const ours = ctx.ourSubnet.toUint8Array()
  if (!equalBytes(s.subnet, ours)) {
    throw new WrongSubnetError(`slice is of the stream to ${safeText(s.subnet)}, we are ${ctx.ourSubnet.toText()}`)
  }
  if (equalBytes(ctx.sourceSubnet.toUint8Array(), ours)) throw new LoopbackSliceError('a slice from our own subnet')
  const record = ctx.registry.getSubnet(ctx.sourceSubnet)
  if (record == null) throw new UnknownSubnetError(`source subnet ${ctx.sourceSubnet.toText()} is not in the registry`)
  const root = sliceRootHash(s)
  if (!verifyThreshold(record.publicKey, stateRootMessage(root), s.certification.signature)) {
    throw new CertificationError(`threshold signature of ${ctx.sourceSubnet.toText()} at height ${s.certification.height} does not verify`)
  }
}

/** Decode, then verify: nothing that fails any check leaves this function. */
export function decodeAndVerifySlice (bytes: Uint8Array, ctx: VerifySliceContext & DecodeSliceOptions): CertifiedStreamSlice {
  const s = decodeCertifiedSlice(bytes, ctx)
  verifyCertifiedSlice(s, ctx)
  return s
}

export interface PrefixLimits {
  /** Most messages in the prefix. */
  msgLimit?: number
  /** Most encoded bytes (`sliceByteSize`) of the prefix. */
  byteLimit?: number
  /** Never take a message at or beyond this index (the signal limit: header.begin + MAX_SIGNALS). */
  maxEnd?: number
  /** Keep at least one message even over `byteLimit` (what a server does; a payload builder does not). */
  atLeastOne?: boolean
}

/**
 * Splits a slice after at most `msgLimit` messages / `byteLimit` bytes. The prefix
 * keeps the header and certification and gets a proof pruned of the rest (it still
 * verifies); the rest keeps the original proof (it verifies too, because the proof
 * holds the prefix's leaves as digests). Returns `undefined` for the prefix when not
 * even the header-only slice fits `byteLimit`.
 */
export function takePrefix (s: CertifiedStreamSlice, limits: PrefixLimits = {}): { prefix: CertifiedStreamSlice | undefined, rest: CertifiedStreamSlice | undefined } {
  const begin = sliceMessagesBegin(s)
  let n = s.messages.length
  if (limits.msgLimit !== undefined) n = Math.min(n, Math.max(0, limits.msgLimit))
  if (limits.maxEnd !== undefined) n = Math.min(n, Math.max(0, limits.maxEnd - begin))
  const make = (k: number): CertifiedStreamSlice => k === s.messages.length
    ? s
    : { ...s, messages: s.messages.slice(0, k), merkleProof: pruneMessagesFrom(s.merkleProof, s.subnet, begin + k) }
  const byteLimit = limits.byteLimit ?? Number.POSITIVE_INFINITY
  let prefix = make(n)
  if (sliceByteSize(prefix) > byteLimit) {
    // Largest k whose encoding fits: estimate from the per-message cost, then step down.
    const floor = limits.atLeastOne === true && n > 0 ? 1 : 0
    let lo = floor
    let hi = n
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2)
      if (sliceByteSize(make(mid)) <= byteLimit) lo = mid
      else hi = mid - 1
    }
    n = lo
    prefix = make(n)
    if (n === 0 && sliceByteSize(prefix) > byteLimit) return { prefix: undefined, rest: s }
  }
  const rest = n === s.messages.length ? undefined : { ...s, messages: s.messages.slice(n) }
  return { prefix, rest }
}

/**
 * Appends a suffix pulled later (`suffix.messages` starting where `pooled`'s end)
 * to a pooled slice. The result takes the suffix's header, proof and certification:
 * the suffix was requested with `witness_begin` = the pooled slice's first index,
 * so its proof covers the pooled messages too. The merged slice must be verified
 * (`verifyCertifiedSlice`) before use; it is not verified here.
 */
export function mergeSuffix (pooled: CertifiedStreamSlice, suffix: CertifiedStreamSlice): CertifiedStreamSlice {
  if (!equalBytes(pooled.subnet, suffix.subnet)) throw new WrongSubnetError('suffix is of a different stream')
  if (suffix.messages.length > 0 && pooled.messages.length > 0 && suffix.messages[0]!.index !== sliceMessagesEnd(pooled)) {
    throw new SliceIndicesError(`suffix starts at ${suffix.messages[0]!.index}, pooled slice ends at ${sliceMessagesEnd(pooled)}`)
  }
  const first = pooled.messages.length > 0 ? pooled.messages[0]!.index : sliceMessagesBegin(suffix)
  if (first < suffix.header.begin) throw new SliceIndicesError(`pooled message ${first} is below the suffix header's begin ${suffix.header.begin}`)
  return { ...suffix, messages: [...pooled.messages, ...suffix.messages] }
}

function safeNumber (v: bigint, what: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new SliceDecodeError(`${what} ${v} is beyond 2^53`)
  return Number(v)
}

function safeText (bytes: Uint8Array): string {
  try { return bytes.length <= 29 ? Principal.fromUint8Array(bytes).toText() : '<not a principal>' } catch { return '<not a principal>' }
}

