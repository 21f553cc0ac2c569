import { certificateMessage, combineShares, signShare, type ThresholdKeyShare } from '@icnet/crypto'
import type { HashTree } from '@icnet/hashtree'
import type { SubnetId, SubnetType } from '@icnet/types'
import { CertifiedStreamTree, type CertifiedStream } from './certified-tree.js'
import { preEncodedSlice, type CertifiedStreamSlice } from './slice.js'
import { assembleSlice, assembledLength } from './slice-codec.js'
import { DigestCache } from './slice-tree.js'
import { SliceWitnessWriter } from './witness-writer.js'
import { Stream, streamLimitsFor, type StreamHeader } from './stream.js'

/** What a client asks a store for. */
export interface SliceQuery {
  /** First message to include. */
  msgBegin: number
  /** Witness from here (`header.begin ≤ witnessBegin ≤ msgBegin`); default `msgBegin`. */
  witnessBegin?: number
  /** Most messages; default no limit. */
  msgLimit?: number
  /** Most encoded bytes; at least one message is always included. Default no limit. */
  byteLimit?: number
}

export type EncodeSliceResult =
  | { ok: true, bytes: Uint8Array, height: number, messages: number }
  | { ok: false, code: 'NO_STREAM' | 'BAD_BEGIN' }

/**
 * What the XNet service needs from its host: certified slices of the host's
 * streams, read from the latest *certified* state (never an uncertified byte).
 */
export interface CertifiedStreamStore {
  /**
   * A slice of the stream towards `destination`, encoded as the wire's CertifiedStreamSlice.
   * The service sends `bytes` as they are, without copying them: they must not change afterwards.
   */
  encodeSlice(destination: SubnetId, query: SliceQuery): EncodeSliceResult | Promise<EncodeSliceResult>
}

export interface InMemoryCertifiedStreamStoreInit {
  subnetId: SubnetId
  /** At least `threshold` shares of the subnet's threshold key; the store signs with the first `threshold`. */
  shares: readonly ThresholdKeyShare[]
  threshold: number
}

/**
 * Upper bound on the proof bytes one covered message adds: its labeled node over a
 * pruned leaf digest (2 + 9 + 36) and its share of the forks above it (2).
 */
const PROOF_BYTES_PER_MESSAGE = 49
/** First guess at the rest of a proof (the path to the stream, pruned siblings); corrected after each cut. */
const PROOF_BORDER_GUESS = 4096

interface CertifiedState {
  height: number
  signature: Uint8Array
  tree: HashTree
  streams: Map<string, CertifiedStream>
}

/**
 * A subnet's streams held in memory, certified on demand with the subnet's
 * threshold key shares: keeps the state tree `/streams/<subnet>/{header,messages}`
 * in @icnet/hashtree's shape from height to height (`CertifiedStreamTree`: only
 * what changed is hashed again) and signs its root. For tests, examples and
 * benchmarks, and as a reference for hosts with a real replicated state.
 */
export class InMemoryCertifiedStreamStore implements CertifiedStreamStore {
  readonly subnetId: SubnetId
  private readonly streams = new Map<string, { destination: SubnetId, stream: Stream }>()
  private readonly shares: readonly ThresholdKeyShare[]
  private readonly threshold: number
  private certified: CertifiedState | undefined
  private height = 0
  private readonly digests = new DigestCache()
  private readonly witnesses = new SliceWitnessWriter(this.digests)
  private readonly tree = new CertifiedStreamTree()

  constructor (init: InMemoryCertifiedStreamStoreInit) {
    if (init.shares.length < init.threshold) throw new RangeError(`need ${init.threshold} shares, got ${init.shares.length}`)
    this.subnetId = init.subnetId
    this.shares = init.shares.slice(0, init.threshold)
    this.threshold = init.threshold
  }

  /** The stream towards `destination`, created on first use with the limits for its subnet type. */
  stream (destination: SubnetId, destinationType: SubnetType = 'application'): Stream {
    const key = destination.toText()
    let e = this.streams.get(key)
    if (e == null) {
      e = { destination, stream: new Stream({ limits: streamLimitsFor(destinationType) }) }
      this.streams.set(key, e)
    }
    return e.stream
  }

  destinations (): SubnetId[] { return [...this.streams.values()].map(e => e.destination) }

  get certifiedHeight (): number { return this.certified?.height ?? 0 }

  /** The latest certification's root hash message, for tests. */
  certifiedTree (): HashTree | undefined { return this.certified?.tree }

  /**
   * Certifies the current streams at the next height: snapshot, tree, root,
   * threshold signature. Incremental: what was certified before and has not
   * changed is not hashed again (a height costs its new messages and the forks
   * of the streams that changed, not the whole state).
   */
  certify (): { height: number, root: Uint8Array } {
    const height = ++this.height
    const streams = new Map<string, { destination: Uint8Array, stream: Stream }>()
    for (const [key, e] of this.streams) streams.set(key, { destination: e.destination.toUint8Array(), stream: e.stream })
    const built = this.tree.build(height, streams)
    const root = this.digests.of(built.tree)
    const message = certificateMessage(root)
    const signature = combineShares(this.shares.map(s => ({ index: s.index, signature: signShare(s, message) })), { threshold: this.threshold })
    this.certified = { height, signature, tree: built.tree, streams: built.streams }
    return { height, root }
  }

  /** The certified header of the stream towards `destination`, if any. */
  certifiedHeader (destination: SubnetId): StreamHeader | undefined {
    return this.certified?.streams.get(destination.toText())?.header
  }

  encodeSlice (destination: SubnetId, query: SliceQuery): EncodeSliceResult {
    const cut = this.cut(destination, query)
    if ('code' in cut) return { ok: false, code: cut.code }
    return { ok: true, bytes: cut.bytes, height: cut.state.height, messages: cut.last - cut.first }
  }

  /** The slice itself (not encoded), for tests and in-process hosts. */
  slice (destination: SubnetId, query: SliceQuery): CertifiedStreamSlice | { code: 'NO_STREAM' | 'BAD_BEGIN' } {
    const cut = this.cut(destination, query)
    if ('code' in cut) return cut
    return preEncodedSlice({
      subnet: destination.toUint8Array(),
      header: cut.stream.header,
      headerBytes: cut.stream.headerBytes,
      messages: cut.stream.messages.slice(cut.first, cut.last),
      certification: { height: cut.state.height, signature: cut.state.signature },
      proofBytes: cut.proof,
      bytes: cut.bytes
    })
  }

  /**
   * Cuts messages `[first, last)` (positions in the certified stream) with a
   * witness from `witnessBegin`, and assembles the wire bytes from the stream's
   * pre-encoded message fields: the cost is copying the range and writing its
   * proof. Under a byte limit the cut is the longest prefix that fits (at least
   * one message), found from an estimate of the proof and checked exactly.
   */
  private cut (destination: SubnetId, query: SliceQuery): { state: CertifiedState, stream: CertifiedStream, first: number, last: number, proof: Uint8Array, bytes: Uint8Array } | { code: 'NO_STREAM' | 'BAD_BEGIN' } {
    const state = this.certified
    const cs = state?.streams.get(destination.toText())
    if (state == null || cs == null) return { code: 'NO_STREAM' }
    const { header } = cs
    const witnessBegin = query.witnessBegin ?? query.msgBegin
    if (!Number.isSafeInteger(query.msgBegin) || query.msgBegin < header.begin || query.msgBegin > header.end ||
      !Number.isSafeInteger(witnessBegin) || witnessBegin < header.begin || witnessBegin > query.msgBegin) {
      return { code: 'BAD_BEGIN' }
    }
    const { offsets } = cs
    const subnet = destination.toUint8Array()
    const first = query.msgBegin - header.begin
    let last = cs.messages.length
    if (query.msgLimit !== undefined) last = Math.min(last, first + Math.max(0, query.msgLimit))
    const proofFor = (to: number): Uint8Array => this.witnesses.write(state.tree, subnet, witnessBegin, header.begin + to)
    const sizeWith = (to: number, proofLength: number): number => assembledLength({
      subnet, headerBytes: cs.headerBytes, height: state.height, signature: state.signature,
      messageFieldsLength: offsets[to]! - offsets[first]!, proofLength
    })
    const wb = witnessBegin - header.begin
    let proof: Uint8Array | undefined
    if (query.byteLimit !== undefined && last > first) {
      const limit = query.byteLimit
      const max = last
      let border = PROOF_BORDER_GUESS
      /** The largest end whose estimated size fits (sizes grow with the end): binary search. */
      const largestFitting = (): number => {
        let lo = first + 1
        let hi = max
        while (lo < hi) {
          const mid = Math.ceil((lo + hi) / 2)
          if (sizeWith(mid, PROOF_BYTES_PER_MESSAGE * (mid - wb) + border) <= limit) lo = mid
          else hi = mid - 1
        }
        return lo
      }
      let best: { to: number, proof: Uint8Array } | undefined
      for (let attempt = 0; attempt < 6; attempt++) {
        const to = largestFitting()
        if (best !== undefined && to <= best.to) break
        const p = proofFor(to)
        const size = sizeWith(to, p.length)
        if (size <= limit || to === first + 1) {
          // Fits (or is the one message that always goes out): try further with the border measured here.
          best = { to, proof: p }
          border = Math.max(0, p.length - PROOF_BYTES_PER_MESSAGE * (to - wb))
        } else {
          border += size - limit + 2 * PROOF_BYTES_PER_MESSAGE
        }
      }
      best ??= { to: first + 1, proof: proofFor(first + 1) }
      last = best.to
      proof = best.proof
    }
    proof ??= proofFor(last)
    const bytes = assembleSlice({
      subnet,
      headerBytes: cs.headerBytes,
      messages: cs.messages.slice(first, last),
      proof,
      height: state.height,
      signature: state.signature
    })
    return { state, stream: cs, first, last, proof, bytes }
  }
}
