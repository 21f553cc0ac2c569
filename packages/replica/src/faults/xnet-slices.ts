import { certificateMessage, dealThresholdKeys, signShare } from '@icnet/crypto'
import { decodeStreamMessage, encodeStreamMessage, equalBytes, type StreamMessage, type SubnetId } from '@icnet/types'
import {
  STREAMS_LABEL, decodeCertifiedSlice, encodeCertifiedSlice, encodeStreamHeader, sliceMessage, sliceRootHash,
  type CertifiedStreamSlice, type CertifiedStreamStore, type EncodeSliceResult, type SliceQuery
} from '@icnet/xnet-stream'
import type { HashTree } from '@icnet/hashtree'
import type { SliceFault } from './options.js'

/** One way of corrupting a certified slice. */
export type SliceCorruption = Exclude<SliceFault, 'rotate'>
const ROTATION: readonly SliceCorruption[] = ['alter-hash', 'alter-payload', 'bad-signature']

/**
 * A key that is not the subnet's: a byzantine node signing a slice's true root
 * on its own. The signature is a well-formed BLS signature over the right
 * message, so only the check against the subnet's key catches it. Dealt once.
 */
let impostorKey: Uint8Array | undefined
function impostorSecret (): Uint8Array {
  impostorKey ??= dealThresholdKeys({ n: 1, t: 1 }).shares[0]!.secretKey
  return impostorKey
}

function flipFirstByte (b: Uint8Array): Uint8Array {
  if (b.length === 0) return Uint8Array.of(1)
  const out = b.slice()
  out[0] = out[0]! ^ 0x01
  return out
}

/** The same message with its payload changed, still well-formed (so only the certification check can catch it). */
function alterMessage (m: StreamMessage): StreamMessage {
  if (m.kind === 'request') return { ...m, methodPayload: flipFirstByte(m.methodPayload) }
  if ('data' in m.payload) return { ...m, payload: { data: flipFirstByte(m.payload.data) } }
  return { ...m, payload: { reject: { ...m.payload.reject, message: `${m.payload.reject.message}!` } } }
}

/**
 * The proof with one pruned digest changed, outside the stream's own subtree
 * (there the receiver hashes the payload itself and ignores the proof's digests),
 * so the root it reconstructs is not the one the subnet signed. Undefined if
 * the proof has no such digest.
 */
function alterPrunedDigest (tree: HashTree): HashTree | undefined {
  let done = false
  const walk = (n: HashTree, underStreams: boolean): HashTree => {
    if (done) return n
    switch (n.kind) {
      case 'pruned': {
        done = true
        return { kind: 'pruned', digest: flipFirstByte(n.digest) }
      }
      case 'fork': {
        const left = walk(n.left, underStreams)
        const right = walk(n.right, underStreams)
        return left === n.left && right === n.right ? n : { kind: 'fork', left, right }
      }
      case 'labeled': {
        // Skip the streams subtree entirely: its labeled stream node holds the payload's places.
        if (!underStreams && equalBytes(n.label, STREAMS_LABEL)) return n
        const subtree = walk(n.subtree, underStreams)
        return subtree === n.subtree ? n : { kind: 'labeled', label: n.label, subtree }
      }
      default: return n
    }
  }
  const out = walk(tree, false)
  return done ? out : undefined
}

function withParts (s: CertifiedStreamSlice, parts: Partial<Pick<CertifiedStreamSlice, 'header' | 'headerBytes' | 'messages' | 'merkleProof' | 'certification'>>): CertifiedStreamSlice {
  return {
    subnet: s.subnet,
    header: parts.header ?? s.header,
    headerBytes: parts.headerBytes ?? s.headerBytes,
    messages: parts.messages ?? s.messages,
    merkleProof: parts.merkleProof ?? s.merkleProof,
    certification: parts.certification ?? s.certification
  }
}

/**
 * Corrupts the wire bytes of a certified slice, keeping them well-formed:
 * - `alter-payload`: the last message's payload (or, for a signals-only slice, the header's flags) changed;
 * - `alter-hash`: a pruned digest of the witness changed, so the proof reconstructs another root;
 * - `bad-signature`: the true root signed by a key that is not the subnet's.
 * Returns the corruption actually applied (`alter-hash` falls back to
 * `alter-payload` for a proof without a digest to alter).
 */
export function corruptSlice (bytes: Uint8Array, how: SliceCorruption): { bytes: Uint8Array, applied: SliceCorruption } {
  const s = decodeCertifiedSlice(bytes)
  if (how === 'alter-hash') {
    const proof = alterPrunedDigest(s.merkleProof)
    if (proof !== undefined) return { bytes: encodeCertifiedSlice(withParts(s, { merkleProof: proof })), applied: how }
    how = 'alter-payload'
  }
  if (how === 'bad-signature') {
    const signature = signShare({ secretKey: impostorSecret() }, certificateMessage(sliceRootHash(s)))
    return { bytes: encodeCertifiedSlice(withParts(s, { certification: { ...s.certification, signature } })), applied: how }
  }
  if (s.messages.length > 0) {
    const last = s.messages[s.messages.length - 1]!
    const altered = sliceMessage(last.index, encodeStreamMessage(alterMessage(decodeStreamMessage(last.bytes))))
    return { bytes: encodeCertifiedSlice(withParts(s, { messages: [...s.messages.slice(0, -1), altered] })), applied: 'alter-payload' }
  }
  const header = { ...s.header, flags: { ...s.header.flags, responsesOnly: !s.header.flags.responsesOnly } }
  return { bytes: encodeCertifiedSlice(withParts(s, { header, headerBytes: encodeStreamHeader(header) })), applied: 'alter-payload' }
}

/**
 * A `CertifiedStreamStore` that serves every slice of `inner` corrupted:
 * one fixed way, or `rotate` through all three, one per slice served. Errors
 * (no stream, bad begin) pass through unchanged.
 */
export class MaliciousSliceStore implements CertifiedStreamStore {
  private readonly inner: CertifiedStreamStore
  private readonly mode: SliceFault
  private readonly onCorrupt: (applied: SliceCorruption) => void
  private served = 0

  constructor (inner: CertifiedStreamStore, mode: SliceFault, onCorrupt: (applied: SliceCorruption) => void = () => {}) {
    this.inner = inner
    this.mode = mode
    this.onCorrupt = onCorrupt
  }

  async encodeSlice (destination: SubnetId, query: SliceQuery): Promise<EncodeSliceResult> {
    const r = await this.inner.encodeSlice(destination, query)
    if (!r.ok) return r
    const how = this.mode === 'rotate' ? ROTATION[this.served++ % ROTATION.length]! : this.mode
    const { bytes, applied } = corruptSlice(r.bytes, how)
    this.onCorrupt(applied)
    return { ...r, bytes }
  }
}
