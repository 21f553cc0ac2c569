import { combineShares, signShare, type ThresholdKeyShare } from '@icnet/crypto'
import { buildHashTree, type HashTree, type LabeledTree } from '@icnet/hashtree'
import { encodeStreamMessage, type StreamMessage, type SubnetId, type SubnetType } from '@icnet/types'
import { encodeStreamHeader } from './header-codec.js'
import { encodeCertifiedSlice, takePrefix, type CertifiedStreamSlice, type SliceMessage } from './slice.js'
import { DigestCache, HEADER_LABEL, MESSAGES_LABEL, STREAMS_LABEL, indexLabel, sliceWitness, stateRootMessage } from './slice-tree.js'
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
  /** A slice of the stream towards `destination`, encoded as the wire's CertifiedStreamSlice. */
  encodeSlice(destination: SubnetId, query: SliceQuery): EncodeSliceResult | Promise<EncodeSliceResult>
}

export interface InMemoryCertifiedStreamStoreInit {
  subnetId: SubnetId
  /** At least `threshold` shares of the subnet's threshold key; the store signs with the first `threshold`. */
  shares: readonly ThresholdKeyShare[]
  threshold: number
}

interface CertifiedStream {
  header: StreamHeader
  headerBytes: Uint8Array
  messages: SliceMessage[]
}

interface CertifiedState {
  height: number
  signature: Uint8Array
  tree: HashTree
  streams: Map<string, CertifiedStream>
}

const encodedMessages = new WeakMap<StreamMessage, Uint8Array>()

function encodeOnce (m: StreamMessage): Uint8Array {
  let b = encodedMessages.get(m)
  if (b === undefined) { b = encodeStreamMessage(m); encodedMessages.set(m, b) }
  return b
}

/**
 * A subnet's streams held in memory, certified on demand with the subnet's
 * threshold key shares: builds the state tree `/streams/<subnet>/{header,messages}`
 * with @icnet/hashtree and signs its root. For tests, examples and benchmarks,
 * and as a reference for hosts with a real replicated state.
 */
export class InMemoryCertifiedStreamStore implements CertifiedStreamStore {
  readonly subnetId: SubnetId
  private readonly streams = new Map<string, { destination: SubnetId, stream: Stream }>()
  private readonly shares: readonly ThresholdKeyShare[]
  private readonly threshold: number
  private certified: CertifiedState | undefined
  private height = 0
  private readonly digests = new DigestCache()

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

  /** Certifies the current streams at the next height: snapshot, tree, root, threshold signature. */
  certify (): { height: number, root: Uint8Array } {
    const height = ++this.height
    const streams = new Map<string, CertifiedStream>()
    const labeled: Array<[Uint8Array, LabeledTree]> = []
    for (const [key, { destination, stream }] of this.streams) {
      const header = stream.header()
      const headerBytes = encodeStreamHeader(header)
      const messages: SliceMessage[] = []
      for (const [index, message] of stream.messages()) messages.push({ index, bytes: encodeOnce(message), message })
      streams.set(key, { header, headerBytes, messages })
      const sub: Array<[Uint8Array, LabeledTree]> = [[HEADER_LABEL, headerBytes]]
      if (messages.length > 0) sub.push([MESSAGES_LABEL, messages.map(m => [indexLabel(m.index), m.bytes] as [Uint8Array, LabeledTree])])
      labeled.push([destination.toUint8Array(), sub])
    }
    const tree = buildHashTree([
      [STREAMS_LABEL, labeled],
      ['metadata', [['height', indexLabel(height)]]]
    ])
    const root = this.digests.of(tree)
    const message = stateRootMessage(root)
    const signature = combineShares(this.shares.map(s => ({ index: s.index, signature: signShare(s, message) })), { threshold: this.threshold })
    this.certified = { height, signature, tree, streams }
    return { height, root }
  }

  /** The certified header of the stream towards `destination`, if any. */
  certifiedHeader (destination: SubnetId): StreamHeader | undefined {
    return this.certified?.streams.get(destination.toText())?.header
  }

  encodeSlice (destination: SubnetId, query: SliceQuery): EncodeSliceResult {
    const slice = this.slice(destination, query)
    if ('code' in slice) return { ok: false, code: slice.code }
    return { ok: true, bytes: encodeCertifiedSlice(slice), height: slice.certification.height, messages: slice.messages.length }
  }

  /** The slice itself (not encoded), for tests and in-process hosts. */
  slice (destination: SubnetId, query: SliceQuery): CertifiedStreamSlice | { code: 'NO_STREAM' | 'BAD_BEGIN' } {
    const state = this.certified
    const cs = state?.streams.get(destination.toText())
    if (state == null || cs == null) return { code: 'NO_STREAM' }
    const { header } = cs
    const witnessBegin = query.witnessBegin ?? query.msgBegin
    if (!Number.isSafeInteger(query.msgBegin) || query.msgBegin < header.begin || query.msgBegin > header.end ||
      !Number.isSafeInteger(witnessBegin) || witnessBegin < header.begin || witnessBegin > query.msgBegin) {
      return { code: 'BAD_BEGIN' }
    }
    const first = query.msgBegin - header.begin
    let last = cs.messages.length
    if (query.msgLimit !== undefined) last = Math.min(last, first + Math.max(0, query.msgLimit))
    if (query.byteLimit !== undefined) {
      // Cut near the limit before encoding anything; takePrefix then makes it exact.
      let bytes = 0
      for (let i = first; i < last; i++) {
        bytes += cs.messages[i]!.bytes.length
        if (bytes > query.byteLimit && i > first) { last = i + 1; break }
      }
    }
    const to = header.begin + last
    const slice: CertifiedStreamSlice = {
      subnet: destination.toUint8Array(),
      header,
      headerBytes: cs.headerBytes,
      messages: cs.messages.slice(first, last),
      merkleProof: sliceWitness(state.tree, destination.toUint8Array(), witnessBegin, to, this.digests),
      certification: { height: state.height, signature: state.signature }
    }
    if (query.byteLimit === undefined) return slice
    return takePrefix(slice, { byteLimit: query.byteLimit, atLeastOne: true }).prefix ?? slice
  }
}
