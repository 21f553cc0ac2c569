import {
  MAX_STREAM_MESSAGES,
  Principal,
  decodeStreamMessage,
  equalBytes,
  type RegistryView,
  type StreamMessage,
  type SubnetId
} from '@icnet/types'
import { decodeHashTree, emptyDigest, encodeHashTree, forkDigest, labeledDigest, leafDigest, type HashTree } from '@icnet/hashtree'
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
import { HEADER_LABEL, MESSAGES_LABEL, STREAMS_LABEL, labelIndex, pruneMessagesFrom, stateRootMessage } from './slice-tree.js'
import type { StreamHeader } from './stream.js'

export interface Certification {
  /** Height of the certified state the slice was read from. */
  height: number
  /** The source subnet's threshold signature over `dsep("ic-state-root") ‖ root`. */
  signature: Uint8Array
}

export interface SliceMessage {
  readonly index: number
  /** The canonical CBOR bytes: exactly the certified leaf. */
  readonly bytes: Uint8Array
  /**
   * The decoded message. Decoded on first access and cached, so that pulling and
   * verifying a slice costs no CBOR decoding. The bytes are certified by the source
   * subnet; a decode failure here (`InvalidEncodingError`) is that subnet's bug.
   */
  readonly message: StreamMessage
}

/** A slice message whose `message` is decoded lazily from `bytes`. */
export function sliceMessage (index: number, bytes: Uint8Array, message?: StreamMessage): SliceMessage {
  let decoded = message
  return {
    index,
    bytes,
    get message (): StreamMessage {
      if (decoded === undefined) decoded = decodeStreamMessage(bytes)
      return decoded
    }
  }
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
  const cached = encodedCache.get(s)
  if (cached !== undefined) return cached.length
  let messages = 0
  for (const m of s.messages) messages += messageFieldLength(m)
  return encodedLength(s, proofBytes(s.merkleProof).length, messages)
}

/** Bytes of a length-delimited protobuf field (tag, length varint, body); proto3 omits empty ones. */
function delimited (bodyLength: number, omitEmpty = true): number {
  return bodyLength === 0 && omitEmpty ? 0 : 1 + varintLength(bodyLength) + bodyLength
}

function varintLength (n: number): number {
  let len = 1
  while (n >= 0x80) { n = Math.floor(n / 0x80); len++ }
  return len
}

/** Bytes one message adds to the encoded slice: its `SliceMessage` field inside `SlicePayload`. */
function messageFieldLength (m: SliceMessage): number {
  const body = (m.index === 0 ? 0 : 1 + varintLength(m.index)) + delimited(m.bytes.length)
  return delimited(body, false)
}

/** The exact protobuf length of a slice given its proof's CBOR length and the sum of its message fields. */
function encodedLength (s: CertifiedStreamSlice, proofLength: number, messageFields: number): number {
  const payload = delimited(s.subnet.length) + delimited(s.headerBytes.length) + messageFields
  const h = s.certification.height
  const cert = (h === 0 ? 0 : 1 + varintLength(h)) + delimited(s.certification.signature.length)
  return delimited(payload, false) + delimited(proofLength) + delimited(cert, false)
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
    if (m.message.length === 0) throw new SliceDecodeError(`message ${index} is empty`)
    messages[k] = sliceMessage(index, m.message)
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

/**
 * The state root a slice proves: the proof's tree with the payload's values at
 * their places (the IC's `recompute_digest`). The header and every message of the
 * payload must have a labeled place in the proof, each used once; the digests the
 * proof holds there are ignored, the payload's own bytes are hashed instead, so a
 * payload that differs from what was certified yields a different root and the
 * signature check fails. Agrees with `reconstruct(mergeWitness(proof, payload))`.
 */
export function sliceRootHash (s: CertifiedStreamSlice): Uint8Array {
  const first = s.messages.length > 0 ? s.messages[0]!.index : 0
  let placedMessages = 0
  let placedHeader = false
  type Ctx = 'root' | 'streams' | 'stream' | 'messages' | 'other'
  const digest = (n: HashTree, ctx: Ctx, depth: number): Uint8Array => {
    if (depth > MAX_TREE_DEPTH) throw new CertificationError('merkle proof nested too deep')
    switch (n.kind) {
      case 'empty': return emptyDigest()
      case 'pruned': return n.digest
      case 'leaf': return leafDigest(n.value)
      case 'fork': return forkDigest(digest(n.left, ctx, depth + 1), digest(n.right, ctx, depth + 1))
      case 'labeled': {
        let sub: Uint8Array
        if (ctx === 'root' && equalBytes(n.label, STREAMS_LABEL)) sub = digest(n.subtree, 'streams', depth + 1)
        else if (ctx === 'streams' && equalBytes(n.label, s.subnet)) sub = digest(n.subtree, 'stream', depth + 1)
        else if (ctx === 'stream' && equalBytes(n.label, HEADER_LABEL)) {
          if (placedHeader) throw new CertificationError('merkle proof places the header twice')
          placedHeader = true
          sub = leafDigest(s.headerBytes)
        } else if (ctx === 'stream' && equalBytes(n.label, MESSAGES_LABEL)) sub = digest(n.subtree, 'messages', depth + 1)
        else if (ctx === 'messages') {
          const k = labelIndex(n.label) - first
          if (k >= 0 && k < s.messages.length) {
            placedMessages++
            sub = leafDigest(s.messages[k]!.bytes)
          } else {
            sub = digest(n.subtree, 'other', depth + 1)
          }
        } else sub = digest(n.subtree, 'other', depth + 1)
        return labeledDigest(n.label, sub)
      }
    }
  }
  const root = digest(s.merkleProof, 'root', 0)
  // Labels in a level are distinct in a tree that verifies, but count anyway: every
  // payload message must have been hashed into the root exactly once.
  if (!placedHeader || placedMessages !== s.messages.length) {
    throw new CertificationError(`payload does not fit the merkle proof (${placedMessages} of ${s.messages.length} messages placed)`)
  }
  return root
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
  if (byteLimit !== Number.POSITIVE_INFINITY) {
    // Pruning only shrinks a proof, so the full proof's length bounds every prefix's:
    // the largest k that fits with it is found in one pass, without encoding anything.
    const proofLength = proofBytes(s.merkleProof).length
    let fields = 0
    let k = 0
    while (k < n) {
      const f = messageFieldLength(s.messages[k]!)
      if (encodedLength(s, proofLength, fields + f) > byteLimit) break
      fields += f
      k++
    }
    if (k === 0 && n > 0 && limits.atLeastOne === true) k = 1
    n = k
  }
  const prefix = make(n)
  if (sliceByteSize(prefix) > byteLimit && !(n === 1 && limits.atLeastOne === true)) {
    return { prefix: undefined, rest: s }
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

