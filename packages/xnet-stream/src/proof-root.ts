import { domainSeparator } from '@icnet/types'
import { emptyDigest, leafDigestInto, sha256Into } from '@icnet/hashtree'
import { MAX_TREE_DEPTH } from './constants.js'
import { CertificationError, SliceDecodeError, SliceShapeError } from './errors.js'
import { HEADER_LABEL, MESSAGES_LABEL, STREAMS_LABEL, labelIndex } from './slice-tree.js'

/** What a slice's payload puts into its proof: the header and messages `[first, first + messages.length)`. */
export interface ProofPayload {
  subnet: Uint8Array
  headerBytes: Uint8Array
  first: number
  messages: ReadonlyArray<{ readonly bytes: Uint8Array }>
  /**
   * The leaf digest of `messages[k]` (default: hashed from its bytes). Lets a caller
   * reuse digests it computed before from the same bytes.
   */
  leafDigest?: (k: number) => Uint8Array
  /** If given (32 bytes per message), receives each message's leaf digest at `32 k` as the walk hashes it. */
  leafDigestsOut?: Uint8Array
}

// Where the walk is in the tree: the payload's values go in at /streams/<subnet>/{header, messages/<i>} only.
const ROOT = 0
const STREAMS = 1
const STREAM = 2
const MESSAGES = 3
const OTHER = 4

const DIGEST = 32
const FORK_SEP = domainSeparator('ic-hashtree-fork')
const LABELED_SEP = domainSeparator('ic-hashtree-labeled')
const EMPTY = emptyDigest()
const KIND_ARITY = [1, 3, 3, 2, 2]

/** Labels up to this length are hashed in a reused frame (a slice's own path has labels of at most 29 bytes). */
const FRAME_LABEL_BYTES = 64

/**
 * The hash inputs of the walk, reused from call to call: per depth, a fork's
 * `sep ‖ left ‖ right` and a labeled node's `sep ‖ label ‖ child`, into which the
 * children write their digests directly (leaves through `leafDigestInto`). No array
 * is made per node or per digest. The walk is synchronous, and each depth has its
 * own frames: a subtree's walk uses only deeper frames, and writes into its
 * parent's frame only the 32 bytes of its own slot.
 */
const forkFrames: Uint8Array[] = []
const labeledFrames: Uint8Array[] = []
const labeledViews: Array<Array<Uint8Array | undefined>> = []
/** Where the digest of a subtree that the payload replaces goes (it is computed, checked and dropped). */
const discard = new Uint8Array(DIGEST)

function forkFrame (depth: number): Uint8Array {
  let f = forkFrames[depth]
  if (f === undefined) {
    f = new Uint8Array(FORK_SEP.length + 2 * DIGEST)
    f.set(FORK_SEP)
    forkFrames[depth] = f
  }
  return f
}

/** The labeled frame of `depth`, cut to a label of `labelLength` bytes. */
function labeledFrame (depth: number, labelLength: number): Uint8Array {
  let views = labeledViews[depth]
  if (views === undefined) {
    const f = new Uint8Array(LABELED_SEP.length + FRAME_LABEL_BYTES + DIGEST)
    f.set(LABELED_SEP)
    labeledFrames[depth] = f
    views = labeledViews[depth] = []
  }
  let v = views[labelLength]
  if (v === undefined) v = views[labelLength] = labeledFrames[depth]!.subarray(0, LABELED_SEP.length + labelLength + DIGEST)
  return v
}

function copyDigest (from: Uint8Array, at: number, out: Uint8Array, offset: number): void {
  for (let i = 0; i < DIGEST; i++) out[offset + i] = from[at + i]!
}

/**
 * The state root a slice proves, computed straight from the CBOR bytes of its
 * merkle proof in one pass: no tree of objects is built, and each digest is written
 * straight into the input of its parent's hash. The payload's values replace
 * whatever the proof holds at their places (as `sliceRootHash` does), so a payload
 * that differs from what was certified gives another root. The CBOR is checked as
 * strictly as @icnet/hashtree's decoder checks it (definite lengths, shortest forms,
 * node kinds and arities, 32-byte digests, depth), so a proof this accepts also
 * decodes there.
 */
export function proofRootFromBytes (proof: Uint8Array, payload: ProofPayload): Uint8Array {
  let pos = 0
  const count = payload.messages.length
  const placed = new Uint8Array(count)
  let placedMessages = 0
  let placedHeader = false
  const digestsOut = payload.leafDigestsOut
  if (digestsOut !== undefined && digestsOut.length < count * DIGEST) throw new RangeError('leafDigestsOut holds fewer than 32 bytes per message')

  const fail = (what: string): never => { throw new SliceDecodeError(`merkle proof: ${what}`) }
  const byte = (): number => {
    if (pos >= proof.length) fail('truncated')
    return proof[pos++]!
  }
  /** The argument of a CBOR head of `major` type, shortest form enforced. */
  const head = (major: number): number => {
    const b = byte()
    if (b >> 5 !== major) fail(`expected CBOR major type ${major}, got ${b >> 5}`)
    const info = b & 31
    if (info < 24) return info
    if (info === 24) { const v = byte(); if (v < 24) fail('non-canonical length'); return v }
    if (info === 25) { const v = byte() * 256 + byte(); if (v < 256) fail('non-canonical length'); return v }
    if (info === 26) {
      const v = ((byte() * 256 + byte()) * 256 + byte()) * 256 + byte()
      if (v < 65536) fail('non-canonical length')
      return v
    }
    return fail('unsupported CBOR length')
  }
  /** A byte string's head; its bytes are `[pos, pos + length)`, skipped over by the caller. */
  const bytesHead = (): number => {
    const n = head(2)
    if (pos + n > proof.length) fail('truncated byte string')
    return n
  }
  const labelIs = (at: number, length: number, label: Uint8Array): boolean => {
    if (length !== label.length) return false
    for (let i = 0; i < length; i++) if (proof[at + i] !== label[i]) return false
    return true
  }
  const messageLeafInto = (k: number, out: Uint8Array, offset: number): void => {
    if (payload.leafDigest !== undefined) {
      const d = payload.leafDigest(k)
      copyDigest(d, 0, out, offset)
      if (digestsOut !== undefined) copyDigest(d, 0, digestsOut, k * DIGEST)
    } else if (digestsOut !== undefined) {
      leafDigestInto(payload.messages[k]!.bytes, digestsOut, k * DIGEST)
      copyDigest(digestsOut, k * DIGEST, out, offset)
    } else {
      leafDigestInto(payload.messages[k]!.bytes, out, offset)
    }
  }

  /** Parses the node at `pos` and writes its digest into `out[offset, offset + 32)`. */
  const node = (ctx: number, depth: number, out: Uint8Array, offset: number): void => {
    if (depth > MAX_TREE_DEPTH) throw new CertificationError('merkle proof nested too deep')
    const arity = head(4)
    const kind = head(0)
    if (kind > 4 || arity !== KIND_ARITY[kind]) fail(`node kind ${kind} with ${arity} items`)
    switch (kind) {
      case 0:
        copyDigest(EMPTY, 0, out, offset)
        return
      case 1: {
        const frame = forkFrame(depth)
        node(ctx, depth + 1, frame, FORK_SEP.length)
        node(ctx, depth + 1, frame, FORK_SEP.length + DIGEST)
        sha256Into(frame, out, offset)
        return
      }
      case 2: {
        const labelLength = bytesHead()
        const labelAt = pos
        pos += labelLength
        let frame: Uint8Array
        if (labelLength <= FRAME_LABEL_BYTES) {
          frame = labeledFrame(depth, labelLength)
          for (let i = 0; i < labelLength; i++) frame[LABELED_SEP.length + i] = proof[labelAt + i]!
        } else {
          frame = new Uint8Array(LABELED_SEP.length + labelLength + DIGEST)
          frame.set(LABELED_SEP)
          frame.set(proof.subarray(labelAt, labelAt + labelLength), LABELED_SEP.length)
        }
        const slot = LABELED_SEP.length + labelLength
        if (ctx === ROOT && labelIs(labelAt, labelLength, STREAMS_LABEL)) node(STREAMS, depth + 1, frame, slot)
        else if (ctx === STREAMS && labelIs(labelAt, labelLength, payload.subnet)) node(STREAM, depth + 1, frame, slot)
        else if (ctx === STREAM && labelIs(labelAt, labelLength, HEADER_LABEL)) {
          if (placedHeader) throw new SliceShapeError('merkle proof places the header twice')
          placedHeader = true
          node(OTHER, depth + 1, discard, 0) // what the proof holds there is replaced by the payload's header
          leafDigestInto(payload.headerBytes, frame, slot)
        } else if (ctx === STREAM && labelIs(labelAt, labelLength, MESSAGES_LABEL)) node(MESSAGES, depth + 1, frame, slot)
        else if (ctx === MESSAGES) {
          const k = labelIndex(proof, labelAt, labelLength) - payload.first
          if (k >= 0 && k < count) {
            if (placed[k] === 1) throw new SliceShapeError(`merkle proof places message ${k + payload.first} twice`)
            placed[k] = 1
            placedMessages++
            node(OTHER, depth + 1, discard, 0)
            messageLeafInto(k, frame, slot)
          } else {
            node(OTHER, depth + 1, frame, slot)
          }
        } else node(OTHER, depth + 1, frame, slot)
        sha256Into(frame, out, offset)
        return
      }
      case 3: {
        const length = bytesHead()
        const value = proof.subarray(pos, pos + length)
        pos += length
        leafDigestInto(value, out, offset)
        return
      }
      default: {
        const length = bytesHead()
        if (length !== DIGEST) fail('pruned digest must be 32 bytes')
        copyDigest(proof, pos, out, offset)
        pos += DIGEST
      }
    }
  }

  if (proof.length >= 3 && proof[0] === 0xd9 && proof[1] === 0xd9 && proof[2] === 0xf7) pos = 3 // self-describe tag 55799
  const root = new Uint8Array(DIGEST)
  node(ROOT, 0, root, 0)
  if (pos !== proof.length) fail('trailing bytes')
  if (!placedHeader || placedMessages !== count) {
    throw new SliceShapeError(`payload does not fit the merkle proof (${placedMessages} of ${count} messages placed)`)
  }
  return root
}
