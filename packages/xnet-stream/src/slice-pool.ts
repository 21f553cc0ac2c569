import { MAX_SIGNALS, principalText, type RegistryView, type SubnetId } from '@icnet/types'
import { POOL_BYTE_SIZE_SOFT_CAP, POOL_SLICE_BYTE_SIZE_MAX } from './constants.js'
import { SliceIndicesError, StaleSliceError } from './errors.js'
import { createXNetMetrics, type XNetMetrics } from './metrics.js'
import {
  mergeSuffix,
  sliceByteSize,
  sliceMessagesBegin,
  sliceMessagesEnd,
  takePrefix,
  verifyCertifiedSlice,
  withoutMessages,
  type CertifiedStreamSlice
} from './slice.js'

/** Where the receiver is in a stream from one subnet: the next message and signal index it needs. */
export interface ExpectedIndices {
  /** Next message index of the remote stream not yet inducted (or in a past payload). */
  message: number
  /** The remote stream's `signals_end` we have already seen (signals for our stream). */
  signal: number
}

export interface CertifiedSlicePoolInit {
  ourSubnet: SubnetId
  /** The registry, or a function giving its current version. */
  registry: RegistryView | (() => RegistryView)
  /** Bound on all pooled slices' bytes (default POOL_BYTE_SIZE_SOFT_CAP). */
  maxBytes?: number
  /** Bound on one pooled slice (default POOL_SLICE_BYTE_SIZE_MAX). */
  maxSliceBytes?: number
  metrics?: XNetMetrics
}

interface Entry { subnet: SubnetId, slice: CertifiedStreamSlice, bytes: number }

/**
 * Verified slices waiting to go into a block, one per source subnet. Bounded in
 * bytes; garbage-collected by the receiver's expected indices. Only verified
 * slices enter: `put` checks the certification (of the merged slice when the new
 * one is a suffix of the pooled one) and refuses anything else with a typed error.
 */
export class CertifiedSlicePool {
  private readonly entries = new Map<string, Entry>()
  private _bytes = 0
  private readonly ourSubnet: SubnetId
  private readonly registrySource: RegistryView | (() => RegistryView)
  private get registry (): RegistryView { return typeof this.registrySource === 'function' ? this.registrySource() : this.registrySource }
  readonly maxBytes: number
  readonly maxSliceBytes: number
  private readonly metrics: XNetMetrics

  constructor (init: CertifiedSlicePoolInit) {
    this.ourSubnet = init.ourSubnet
    this.registrySource = init.registry
    this.maxBytes = init.maxBytes ?? POOL_BYTE_SIZE_SOFT_CAP
    this.maxSliceBytes = init.maxSliceBytes ?? POOL_SLICE_BYTE_SIZE_MAX
    this.metrics = init.metrics ?? createXNetMetrics()
  }

  get byteSize (): number { return this._bytes }
  get size (): number { return this.entries.size }

  peek (subnet: SubnetId): CertifiedStreamSlice | undefined { return this.entries.get(principalText(subnet))?.slice }

  /**
   * What to pull next from `subnet`: the suffix after the pooled slice (with its
   * witness from the pooled slice's first message, so the two merge), or a full
   * slice from `expected.message`. `bytesLeft` is the room the pool has for it.
   */
  nextQuery (subnet: SubnetId, expected: ExpectedIndices): { msgBegin: number, witnessBegin: number, bytesLeft: number } {
    const e = this.entries.get(principalText(subnet))
    const room = Math.min(this.maxSliceBytes - (e?.bytes ?? 0), this.maxBytes - this._bytes)
    if (e == null || e.slice.messages.length === 0 || sliceMessagesBegin(e.slice) !== expected.message) {
      return { msgBegin: expected.message, witnessBegin: expected.message, bytesLeft: Math.min(this.maxSliceBytes, this.maxBytes - this._bytes + (e?.bytes ?? 0)) }
    }
    return { msgBegin: sliceMessagesEnd(e.slice), witnessBegin: sliceMessagesBegin(e.slice), bytesLeft: room }
  }

  /**
   * Adds a slice pulled from `subnet` (decoded, not yet verified). A suffix of the
   * pooled slice is merged and the merge verified; anything else is verified on its
   * own and replaces the pooled slice if it is newer and reaches further. Throws an
   * `InvalidSliceError` (pool unchanged) if verification fails, or a `StaleSliceError`
   * with `verified: true` if the slice is authentic but older than what is pooled or
   * expected (verification always comes first). Trims to the pool's byte bounds. Returns messages added.
   */
  put (subnet: SubnetId, slice: CertifiedStreamSlice, expected?: ExpectedIndices): number {
    const key = principalText(subnet)
    const cur = this.entries.get(key)
    const ctx = { ourSubnet: this.ourSubnet, sourceSubnet: subnet, registry: this.registry }
    const isSuffix = cur != null && cur.slice.messages.length > 0 && slice.messages.length > 0 &&
      slice.messages[0]!.index === sliceMessagesEnd(cur.slice)
    // Verify before anything else: only an authentic slice may be called merely stale
    // (the caller then drops it without blaming its sender).
    let next = isSuffix ? mergeSuffix(cur.slice, slice) : slice
    verifyCertifiedSlice(next, ctx)
    if (cur != null && cur.slice.certification.height > slice.certification.height) {
      throw new StaleSliceError(`slice at height ${slice.certification.height} is older than the pooled one at ${cur.slice.certification.height}`, { verified: true })
    }
    if (expected !== undefined && slice.messages.length > 0 && sliceMessagesEnd(slice) <= expected.message) {
      throw new StaleSliceError(`slice ends at ${sliceMessagesEnd(slice)}, we expect ${expected.message} already`, { verified: true })
    }
    if (!isSuffix) {
      if (cur != null && cur.slice.messages.length > 0 && slice.messages.length > 0 && slice.messages[0]!.index > sliceMessagesEnd(cur.slice)) {
        throw new SliceIndicesError(`slice starts at ${slice.messages[0]!.index}, after a gap from the pooled ${sliceMessagesEnd(cur.slice)}`)
      }
      if (cur != null && sliceMessagesEnd(slice) < sliceMessagesEnd(cur.slice)) next = cur.slice // pooled reaches further: keep it
      // A signals-only slice never displaces pooled messages: the next pull starts after
      // them, so they would never be pulled again. Its signals come with a later pull.
      if (cur != null && cur.slice.messages.length > 0 && slice.messages.length === 0) next = cur.slice
    }
    const before = cur?.slice.messages.length ?? 0
    if (cur != null) this._bytes -= cur.bytes
    const room = Math.min(this.maxSliceBytes, this.maxBytes - this._bytes)
    let bytes = sliceByteSize(next)
    if (bytes > room) {
      const { prefix } = takePrefix(next, { byteLimit: room })
      if (prefix === undefined) {
        if (cur != null) this._bytes += cur.bytes
        return 0
      }
      next = prefix
      bytes = sliceByteSize(next)
    }
    this.entries.set(key, { subnet, slice: next, bytes })
    this._bytes += bytes
    this.updateGauges()
    return next.messages.length - before
  }

  /** Drops what the receiver no longer needs: messages below `expected.message`, and slices with nothing new. */
  garbageCollect (subnet: SubnetId, expected: ExpectedIndices): void {
    const key = principalText(subnet)
    const e = this.entries.get(key)
    if (e == null) return
    let s = e.slice
    if (s.messages.length > 0 && sliceMessagesBegin(s) < expected.message) {
      const drop = expected.message - sliceMessagesBegin(s)
      s = drop >= s.messages.length ? withoutMessages(s) : (takePrefix(s, { msgLimit: drop }).rest ?? withoutMessages(s))
    }
    const useless = (s.messages.length === 0 && s.header.signalsEnd <= expected.signal) ||
      (s.messages.length > 0 && sliceMessagesBegin(s) > expected.message)
    this._bytes -= e.bytes
    if (useless) {
      this.entries.delete(key)
    } else {
      const bytes = s === e.slice ? e.bytes : sliceByteSize(s)
      this.entries.set(key, { subnet, slice: s, bytes })
      this._bytes += bytes
    }
    this.updateGauges()
  }

  /**
   * GCs, then takes a prefix of the pooled slice from `subnet` that starts at
   * `expected.message` and fits the limits (and the signal limit). The prefix leaves
   * the pool; the rest stays. Undefined if nothing useful fits.
   */
  takeSlice (subnet: SubnetId, expected: ExpectedIndices, limits: { msgLimit?: number, byteLimit: number }): { slice: CertifiedStreamSlice, byteSize: number } | undefined {
    this.garbageCollect(subnet, expected)
    const e = this.entries.get(principalText(subnet))
    if (e == null) return undefined
    const { prefix, rest } = takePrefix(e.slice, {
      msgLimit: limits.msgLimit,
      byteLimit: limits.byteLimit,
      maxEnd: e.slice.header.begin + MAX_SIGNALS
    })
    if (prefix === undefined) return undefined
    if (prefix.messages.length === 0 && prefix.header.signalsEnd <= expected.signal) return undefined
    this._bytes -= e.bytes
    if (rest === undefined || rest.messages.length === 0) {
      this.entries.delete(principalText(subnet))
    } else {
      const bytes = sliceByteSize(rest)
      this.entries.set(principalText(subnet), { subnet, slice: rest, bytes })
      this._bytes += bytes
    }
    this.updateGauges()
    return { slice: prefix, byteSize: sliceByteSize(prefix) }
  }

  private updateGauges (): void {
    this.metrics.poolBytes.set(this._bytes)
    this.metrics.poolSlices.set(this.entries.size)
  }
}
