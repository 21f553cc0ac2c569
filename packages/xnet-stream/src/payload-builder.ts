import {
  MAX_SIGNALS,
  SYSTEM_SUBNET_STREAM_MSG_LIMIT,
  principalEquals,
  type RegistryView,
  type SubnetId
} from '@icnet/types'
import { SLICE_BYTE_SIZE_MIN } from './constants.js'
import {
  EmptySliceError,
  InvalidSignalsError,
  InvalidSliceError,
  LoopbackSliceError,
  SignalLimitError,
  SliceGapError,
  SliceIndicesError,
  SliceTooLargeError,
  StaleSliceError
} from './errors.js'
import { createXNetMetrics, type XNetMetrics } from './metrics.js'
import type { CertifiedSlicePool, ExpectedIndices } from './slice-pool.js'
import { sliceByteSize, sliceMessagesBegin, sliceMessagesEnd, verifyCertifiedSlice, type CertifiedStreamSlice } from './slice.js'

/** The slices a block carries: at most one per source subnet. */
export interface XNetPayload {
  slices: Array<{ subnet: SubnetId, slice: CertifiedStreamSlice }>
}

/** Our own stream towards a remote subnet, as of the state the block builds on. */
export interface OwnStreamPosition {
  /** Our stream's first message not yet garbage-collected. */
  begin: number
  /** One past our stream's last message. */
  end: number
  /** Our stream's `signals_end`: the next message index of the remote's stream we will induct. */
  signalsEnd: number
  /** Messages in the remote's reverse stream towards us, for the system-subnet message limit. */
  reverseLength?: number
}

export interface PayloadContext {
  /** Our stream towards `remote` in the state the block builds on (undefined: no stream yet). */
  ownStream: (remote: SubnetId) => OwnStreamPosition | undefined
  /** Payloads of the blocks between that state and this block (not yet executed), oldest first. */
  pastPayloads: readonly XNetPayload[]
  byteLimit: number
}

/**
 * The indices a new slice from `remote` must start at (IC): the message index is
 * where the newest past payload's slice from `remote` ended, else our stream's
 * `signals_end`; the signal index is that slice's `signals_end`, else our stream's `begin`.
 */
export function expectedIndices (remote: SubnetId, ctx: Pick<PayloadContext, 'ownStream' | 'pastPayloads'>): ExpectedIndices {
  const own = ctx.ownStream(remote)
  const expected: ExpectedIndices = { message: own?.signalsEnd ?? 0, signal: own?.begin ?? 0 }
  for (const p of ctx.pastPayloads) {
    for (const { subnet, slice } of p.slices) {
      if (!principalEquals(subnet, remote)) continue
      if (slice.messages.length > 0) expected.message = sliceMessagesEnd(slice)
      expected.signal = slice.header.signalsEnd
    }
  }
  return expected
}

export interface XNetPayloadBuilderInit {
  ourSubnet: SubnetId
  /** The registry, or a function giving its current version. */
  registry: RegistryView | (() => RegistryView)
  pool: CertifiedSlicePool
  metrics?: XNetMetrics
  /** For the random rotation of source subnets (tests pass a seeded one). */
  random?: () => number
}

/**
 * Builds and validates the XNet part of block payloads with the IC's rules:
 * slices start at the expected indices, fit the byte limit, respect the signal
 * limit, carry no gaps and no duplicates with past payloads, are never empty, and
 * their certification verifies. Signals-only slices go in first (they free the
 * sender's stream and cost little).
 */
export class XNetPayloadBuilder {
  private readonly ourSubnet: SubnetId
  private readonly registrySource: RegistryView | (() => RegistryView)
  private get registry (): RegistryView { return typeof this.registrySource === 'function' ? this.registrySource() : this.registrySource }
  private readonly pool: CertifiedSlicePool
  private readonly metrics: XNetMetrics
  private readonly random: () => number

  constructor (init: XNetPayloadBuilderInit) {
    this.ourSubnet = init.ourSubnet
    this.registrySource = init.registry
    this.pool = init.pool
    this.metrics = init.metrics ?? createXNetMetrics()
    this.random = init.random ?? Math.random
  }

  private remotes (): SubnetId[] {
    const ids = this.registry.subnetIds().filter(s => !principalEquals(s, this.ourSubnet))
    if (ids.length === 0) return ids
    const r = Math.floor(this.random() * ids.length)
    return [...ids.slice(r), ...ids.slice(0, r)]
  }

  private msgLimit (own: OwnStreamPosition | undefined): number | undefined {
    // Only a receiving system subnet caps what a slice brings, by the room left in its reverse
    // stream (where the responses go); a slice from a system subnet to an application subnet is not capped.
    if (this.registry.getSubnet(this.ourSubnet)?.type !== 'system') return undefined
    return Math.max(0, SYSTEM_SUBNET_STREAM_MSG_LIMIT - (own?.reverseLength ?? 0))
  }

  /** Takes slices from the pool into a payload of at most `ctx.byteLimit` bytes. */
  buildPayload (ctx: PayloadContext): { payload: XNetPayload, byteSize: number } {
    const done = this.metrics.buildPayloadDuration.startTimer()
    const slices: XNetPayload['slices'] = []
    let bytes = 0
    const remotes = this.remotes()
    // Signals-only slices first: cheap, and they let the remote garbage-collect.
    const signalsFirst = remotes.filter(r => {
      const s = this.pool.peek(r)
      return s !== undefined && s.messages.length === 0
    })
    const ordered = [...signalsFirst, ...remotes.filter(r => !signalsFirst.includes(r))]
    for (const remote of ordered) {
      const left = ctx.byteLimit - bytes
      if (left < SLICE_BYTE_SIZE_MIN) break
      const own = ctx.ownStream(remote)
      const expected = expectedIndices(remote, ctx)
      const taken = this.pool.takeSlice(remote, expected, { byteLimit: left, msgLimit: this.msgLimit(own) })
      if (taken === undefined) continue
      try {
        this.validateSlice(remote, taken.slice, expected, own)
      } catch (err) {
        if (err instanceof InvalidSliceError) { this.metrics.invalidSlices.inc(1, { reason: err.reason }); continue }
        throw err
      }
      slices.push({ subnet: remote, slice: taken.slice })
      bytes += taken.byteSize
      this.metrics.sliceMessages.observe(taken.slice.messages.length)
    }
    done()
    return { payload: { slices }, byteSize: bytes }
  }

  /** Checks a proposed payload; returns its byte size or throws the first `InvalidSliceError`. */
  validatePayload (payload: XNetPayload, ctx: PayloadContext): number {
    const done = this.metrics.validatePayloadDuration.startTimer()
    let bytes = 0
    const seen = new Set<string>()
    try {
      for (const { subnet, slice } of payload.slices) {
        const key = subnet.toText()
        if (seen.has(key)) throw new SliceIndicesError(`two slices from ${key} in one payload`)
        seen.add(key)
        const own = ctx.ownStream(subnet)
        this.validateSlice(subnet, slice, expectedIndices(subnet, ctx), own, this.msgLimit(own))
        bytes += sliceByteSize(slice)
        if (bytes > ctx.byteLimit) throw new SliceTooLargeError(`payload of ${bytes} bytes exceeds ${ctx.byteLimit}`)
      }
    } finally {
      done()
    }
    return bytes
  }

  /** The IC's `validate_slice`. */
  validateSlice (remote: SubnetId, s: CertifiedStreamSlice, expected: ExpectedIndices, own: OwnStreamPosition | undefined, msgLimit?: number): void {
    if (principalEquals(remote, this.ourSubnet)) throw new LoopbackSliceError('slice from our own subnet')
    verifyCertifiedSlice(s, { ourSubnet: this.ourSubnet, sourceSubnet: remote, registry: this.registry })
    const h = s.header
    if (h.begin > h.end) throw new SliceIndicesError(`header begin ${h.begin} > end ${h.end}`)
    if (expected.message < h.begin) throw new SliceGapError(`we expect message ${expected.message}, the stream begins at ${h.begin}`)
    if (expected.message > h.end) throw new StaleSliceError(`we expect message ${expected.message}, the stream ends at ${h.end}`)
    if (s.messages.length > 0) {
      const begin = sliceMessagesBegin(s)
      if (begin > expected.message) throw new SliceGapError(`slice starts at ${begin}, we expect ${expected.message}`)
      if (begin < expected.message) throw new StaleSliceError(`slice starts at ${begin}, we already have up to ${expected.message}`)
      if (sliceMessagesEnd(s) > h.end) throw new SliceIndicesError('messages beyond the header')
      if (msgLimit !== undefined && s.messages.length > msgLimit) throw new SliceTooLargeError(`${s.messages.length} messages exceed ${msgLimit}`)
      if (sliceMessagesEnd(s) - h.begin > MAX_SIGNALS) throw new SignalLimitError(`slice would leave ${sliceMessagesEnd(s) - h.begin} signals (max ${MAX_SIGNALS})`)
    } else if (h.signalsEnd === expected.signal) {
      throw new EmptySliceError('no messages and no new signals')
    }
    if (h.signalsEnd < expected.signal) throw new StaleSliceError(`signals_end ${h.signalsEnd} is below the ${expected.signal} already seen`)
    const ownEnd = own?.end ?? 0
    if (h.signalsEnd > ownEnd) throw new InvalidSignalsError(`signals_end ${h.signalsEnd} is beyond our stream's end ${ownEnd}`)
  }
}
