import { equalBytes } from '@icnet/types'
import { MAX_TREE_DEPTH } from './constants.js'
import { emptyDigest, forkDigest, labeledDigest, leafDigest } from '@icnet/hashtree'
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
   * reuse digests it computed before from the same bytes, or collect them.
   */
  leafDigest?: (k: number) => Uint8Array
}

// Where the walk is in the tree: the payload's values go in at /streams/<subnet>/{header, messages/<i>} only.
const ROOT = 0
const STREAMS = 1
const STREAM = 2
const MESSAGES = 3
const OTHER = 4

/**
 * The state root a slice proves, computed straight from the CBOR bytes of its
 * merkle proof in one pass: no tree of objects is built. The payload's values
 * replace whatever the proof holds at their places (as `sliceRootHash` does), so
 * a payload that differs from what was certified gives another root. The CBOR is
 * checked as strictly as @icnet/hashtree's decoder checks it (definite lengths,
 * shortest forms, node kinds and arities, 32-byte digests, depth), so a proof
 * this accepts also decodes there.
 */
export function proofRootFromBytes (proof: Uint8Array, payload: ProofPayload): Uint8Array {
  let pos = 0
  const placed = new Uint8Array(payload.messages.length)
  let placedMessages = 0
  let placedHeader = false
  const messageLeafDigest = payload.leafDigest ?? ((k: number) => leafDigest(payload.messages[k]!.bytes))

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
  const bytes = (): Uint8Array => {
    const n = head(2)
    if (pos + n > proof.length) fail('truncated byte string')
    const v = proof.subarray(pos, pos + n)
    pos += n
    return v
  }

  const node = (ctx: number, depth: number): Uint8Array => {
    if (depth > MAX_TREE_DEPTH) throw new CertificationError('merkle proof nested too deep')
    const arity = head(4)
    const kind = head(0)
    if (kind > 4 || arity !== KIND_ARITY[kind]) fail(`node kind ${kind} with ${arity} items`)
    switch (kind) {
      case 0: return emptyDigest()
      case 1: {
        const left = node(ctx, depth + 1)
        return forkDigest(left, node(ctx, depth + 1))
      }
      case 2: {
        const label = bytes()
        let sub: Uint8Array
        if (ctx === ROOT && equalBytes(label, STREAMS_LABEL)) sub = node(STREAMS, depth + 1)
        else if (ctx === STREAMS && equalBytes(label, payload.subnet)) sub = node(STREAM, depth + 1)
        else if (ctx === STREAM && equalBytes(label, HEADER_LABEL)) {
          if (placedHeader) throw new SliceShapeError('merkle proof places the header twice')
          placedHeader = true
          node(OTHER, depth + 1) // what the proof holds there is replaced by the payload's header
          sub = leafDigest(payload.headerBytes)
        } else if (ctx === STREAM && equalBytes(label, MESSAGES_LABEL)) sub = node(MESSAGES, depth + 1)
        else if (ctx === MESSAGES) {
          const k = labelIndex(label) - payload.first
          if (k >= 0 && k < placed.length) {
            if (placed[k] === 1) throw new SliceShapeError(`merkle proof places message ${k + payload.first} twice`)
            placed[k] = 1
            placedMessages++
            node(OTHER, depth + 1)
            sub = messageLeafDigest(k)
          } else {
            sub = node(OTHER, depth + 1)
          }
        } else sub = node(OTHER, depth + 1)
        return labeledDigest(label, sub)
      }
      case 3: return leafDigest(bytes())
      default: {
        const digest = bytes()
        if (digest.length !== 32) fail('pruned digest must be 32 bytes')
        return digest
      }
    }
  }

  if (proof.length >= 3 && proof[0] === 0xd9 && proof[1] === 0xd9 && proof[2] === 0xf7) pos = 3 // self-describe tag 55799
  const root = node(ROOT, 0)
  if (pos !== proof.length) fail('trailing bytes')
  if (!placedHeader || placedMessages !== payload.messages.length) {
    throw new SliceShapeError(`payload does not fit the merkle proof (${placedMessages} of ${payload.messages.length} messages placed)`)
  }
  return root
}

const KIND_ARITY = [1, 3, 3, 2, 2]
