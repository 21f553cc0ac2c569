import {
  Principal,
  decodeStreamMessage,
  equalBytes,
  type RegistryView,
  type StreamMessage,
  type SubnetId
} from '@icnet/types'
import { decodeHashTree, emptyDigest, encodeHashTree, forkDigest, labeledDigest, leafDigest, type HashTree } from '@icnet/hashtree'
import { certificateMessage, verifyThreshold } from '@icnet/crypto'
import { MAX_RESPONSE_BYTES, MAX_TREE_DEPTH } from './constants.js'
import {
  CertificationError,
  LoopbackSliceError,
  SliceDecodeError,
  SliceIndicesError,
  SliceShapeError,
  UnknownSubnetError,
  WrongSubnetError
} from './errors.js'
import { decodeStreamHeader } from './header-codec.js'
import { proofRootFromBytes } from './proof-root.js'
import { assembleSlice, readSliceWire, varintLength } from './slice-codec.js'
import { HEADER_LABEL, MESSAGES_LABEL, STREAMS_LABEL, labelIndex, pruneMessagesFrom } from './slice-tree.js'
import type { StreamHeader } from './stream.js'
import { certificationKey, messageLeafDigest, precomputedRoots, sliceWireBytes as encodedCache, verifiedCertifications } from './slice-memo.js'

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

class LazySliceMessage implements SliceMessage {
  readonly index: number
  readonly bytes: Uint8Array
  private decoded: StreamMessage | undefined
  constructor (index: number, bytes: Uint8Array, message: StreamMessage | undefined) {
    this.index = index
    this.bytes = bytes
    this.decoded = message
  }

  get message (): StreamMessage {
    if (this.decoded === undefined) this.decoded = decodeStreamMessage(this.bytes)
    return this.decoded
  }
}

/** A slice message whose `message` is decoded lazily from `bytes`. */
export function sliceMessage (index: number, bytes: Uint8Array, message?: StreamMessage): SliceMessage {
  return new LazySliceMessage(index, bytes, message)
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

const proofBytesCache = new WeakMap<HashTree, Uint8Array>()
/**
 * The CBOR proof of slices that came off the wire (or were derived from one
 * without changing the proof). Their `merkleProof` tree is decoded only when
 * something asks for it; verification works on these bytes.
 */
const wireProofs = new WeakMap<CertifiedStreamSlice, WireProof>()

/** A proof's CBOR bytes and, once someone needed it, its decoded tree. */
interface WireProof { bytes: Uint8Array, tree?: HashTree }

function wireProofTree (p: WireProof): HashTree {
  if (p.tree === undefined) {
    // proofRootFromBytes checks the same grammar, so a verified slice's proof always decodes.
    p.tree = decodeHashTree(p.bytes, { maxBytes: MAX_RESPONSE_BYTES, maxDepth: MAX_TREE_DEPTH })
    proofBytesCache.set(p.tree, p.bytes)
  }
  return p.tree
}

/**
 * A slice that keeps `from`'s proof (as bytes, if `from` has them) with other
 * messages. Slices are plain objects; the proof of a wire slice is a lazy,
 * enumerable getter, so spreading one elsewhere still works (it decodes the tree).
 */
function withMessages (from: CertifiedStreamSlice, messages: readonly SliceMessage[]): CertifiedStreamSlice {
  const wire = wireProofs.get(from)
  if (wire === undefined) return { ...from, messages }
  return wireSlice(from.subnet, from.header, from.headerBytes, messages, wire, from.certification)
}

function wireSlice (subnet: Uint8Array, header: StreamHeader, headerBytes: Uint8Array, messages: readonly SliceMessage[], wire: WireProof, certification: Certification): CertifiedStreamSlice {
  const slice: CertifiedStreamSlice = {
    subnet,
    header,
    headerBytes,
    messages,
    get merkleProof (): HashTree { return wireProofTree(wire) },
    certification
  }
  wireProofs.set(slice, wire)
  return slice
}

function proofBytesOf (s: CertifiedStreamSlice): Uint8Array {
  const wire = wireProofs.get(s)
  if (wire !== undefined) return wire.bytes
  let b = proofBytesCache.get(s.merkleProof)
  if (b === undefined) { b = encodeHashTree(s.merkleProof); proofBytesCache.set(s.merkleProof, b) }
  return b
}

/** The protobuf `CertifiedStreamSlice` bytes (cached: slices are immutable). */
export function encodeCertifiedSlice (s: CertifiedStreamSlice): Uint8Array {
  let out = encodedCache.get(s)
  if (out !== undefined) return out
  out = assembleSlice({
    subnet: s.subnet,
    headerBytes: s.headerBytes,
    messages: s.messages,
    proof: proofBytesOf(s),
    height: s.certification.height,
    signature: s.certification.signature
  })
  encodedCache.set(s, out)
  return out
}

/**
 * A slice whose wire bytes and proof bytes are already known (a server assembled
 * them): encoding it and measuring it cost nothing, and its proof tree is decoded
 * only if something asks for it.
 */
export function preEncodedSlice (parts: Omit<CertifiedStreamSlice, 'merkleProof'> & { proofBytes: Uint8Array, bytes: Uint8Array }): CertifiedStreamSlice {
  const slice = wireSlice(parts.subnet, parts.header, parts.headerBytes, parts.messages, { bytes: parts.proofBytes }, parts.certification)
  encodedCache.set(slice, parts.bytes)
  return slice
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
  return encodedLength(s, proofBytesOf(s).length, messages)
}

/** Bytes of a length-delimited protobuf field (tag, length varint, body); proto3 omits empty ones. */
function delimited (bodyLength: number, omitEmpty = true): number {
  return bodyLength === 0 && omitEmpty ? 0 : 1 + varintLength(bodyLength) + bodyLength
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
  const wire = readSliceWire(bytes, (index, body) => new LazySliceMessage(index, body, undefined))
  const header = decodeStreamHeader(wire.headerBytes)
  if (wire.proof.length === 0) throw new SliceShapeError('slice has no merkle proof')
  const messages = wire.messages
  let expected = -1
  for (let k = 0; k < messages.length; k++) {
    const m = messages[k]!
    const index = m.index
    if (expected >= 0 && index !== expected) throw new SliceIndicesError(`message index ${index} where ${expected} was expected`)
    if (index < header.begin || index >= header.end) throw new SliceIndicesError(`message index ${index} outside the header's [${header.begin}, ${header.end})`)
    expected = index + 1
    if (m.bytes.length === 0) throw new SliceDecodeError(`message ${index} is empty`)
  }
  const slice = wireSlice(wire.subnet, header, wire.headerBytes, messages, { bytes: wire.proof }, { height: wire.height, signature: wire.signature })
  encodedCache.set(slice, bytes)
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
  const known = precomputedRoots.get(s)
  if (known !== undefined) return known
  const first = s.messages.length > 0 ? s.messages[0]!.index : 0
  const wire = wireProofs.get(s)
  if (wire !== undefined) {
    const messages = s.messages
    return proofRootFromBytes(wire.bytes, { subnet: s.subnet, headerBytes: s.headerBytes, first, messages, leafDigest: k => messageLeafDigest(messages[k]!) })
  }
  let placedMessages = 0
  const placed = new Uint8Array(s.messages.length)
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
          if (placedHeader) throw new SliceShapeError('merkle proof places the header twice')
          placedHeader = true
          sub = leafDigest(s.headerBytes)
        } else if (ctx === 'stream' && equalBytes(n.label, MESSAGES_LABEL)) sub = digest(n.subtree, 'messages', depth + 1)
        else if (ctx === 'messages') {
          const k = labelIndex(n.label) - first
          if (k >= 0 && k < s.messages.length) {
            if (placed[k] === 1) throw new SliceShapeError(`merkle proof places message ${k + first} twice`)
            placed[k] = 1
            placedMessages++
            sub = messageLeafDigest(s.messages[k]!)
          } else {
            sub = digest(n.subtree, 'other', depth + 1)
          }
        } else sub = digest(n.subtree, 'other', depth + 1)
        return labeledDigest(n.label, sub)
      }
    }
  }
  const root = digest(s.merkleProof, 'root', 0)
  // Every payload message must have been hashed into the root exactly once.
  if (!placedHeader || placedMessages !== s.messages.length) {
    throw new SliceShapeError(`payload does not fit the merkle proof (${placedMessages} of ${s.messages.length} messages placed)`)
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
  // Verifying is a function of (key, root, signature): a pair check passed once need not
  // run again, e.g. for the next slice of the same stream cut from the same certified state.
  const key = certificationKey(record.publicKey, root, s.certification.signature)
  if (verifiedCertifications.get(key) === true) return
  if (!verifyThreshold(record.publicKey, certificateMessage(root), s.certification.signature)) {
    throw new CertificationError(`threshold signature of ${ctx.sourceSubnet.toText()} at height ${s.certification.height} does not verify`)
  }
  verifiedCertifications.set(key, true)
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
    : { subnet: s.subnet, header: s.header, headerBytes: s.headerBytes, messages: s.messages.slice(0, k), merkleProof: pruneMessagesFrom(s.merkleProof, s.subnet, begin + k), certification: s.certification }
  const byteLimit = limits.byteLimit ?? Number.POSITIVE_INFINITY
  if (byteLimit !== Number.POSITIVE_INFINITY) {
    // Pruning only shrinks a proof, so the full proof's length bounds every prefix's:
    // the largest k that fits with it is found in one pass, without encoding anything.
    const proofLength = proofBytesOf(s).length
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
  const rest = n === s.messages.length ? undefined : withMessages(s, s.messages.slice(n))
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
  return withMessages(suffix, [...pooled.messages, ...suffix.messages])
}

/** The slice without its messages (signals only), keeping its proof: what GC leaves of a consumed slice. */
export function withoutMessages (s: CertifiedStreamSlice): CertifiedStreamSlice {
  return withMessages(s, [])
}

function safeText (bytes: Uint8Array): string {
  try { return bytes.length <= 29 ? Principal.fromUint8Array(bytes).toText() : '<not a principal>' } catch { return '<not a principal>' }
}

