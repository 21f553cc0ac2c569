import { InvalidEncodingError, Principal, principalEquals, type SubnetId } from '@icnet/types'
import {
  InvalidSliceError, decodeCertifiedSlice, encodeCertifiedSlice, type CertifiedSlicePool, type XNetPayload, type XNetPayloadBuilder
} from '@icnet/xnet-stream'
import type { PayloadBuilder, PayloadContext } from '@icnet/consensus'
import type { OwnStreamPosition } from '@icnet/xnet-stream'

/** Name of the block payload section that carries XNet slices. */
export const XNET_SECTION = 'xnet'
/** A principal is at most 29 bytes. */
const MAX_SUBNET_ID_BYTES = 29
/** One slice per source subnet: the registry allows at most 1024 subnets. */
const MAX_SLICES = 1024
/**
 * Slice bytes a block maker puts into one block by default (the registry's
 * `maxXNetPayloadBytes`). Message routing inducts a block's messages before it
 * executes any, into input queues of 500 requests per canister: a backlog that
 * arrives in one block would overflow them and come back as QueueFull rejects.
 * 448 KiB is about 400 messages of 1 KiB, so even a block of nothing but 1 KiB
 * requests to one canister fits its queue. 256 KiB (about 230) was binding at
 * 3 x 4 and rate 100 (about 200 messages per block plus witnesses): messages
 * queued for blocks, mean latency 13.1 s against 7.9-9.0 s with 448 KiB
 * (docs/benchmarks/xnet.md). The rest waits for the next block (validators
 * accept up to the block limit).
 */
export const XNET_BLOCK_BYTES = 448 * 1024

/**
 * The XNet section of a block: `count: u32`, then per slice `len: u8, subnet id,
 * size: u32, CertifiedStreamSlice (protobuf, as on the wire)`; big-endian.
 */
export function encodeXNetPayload (p: XNetPayload): Uint8Array {
  const parts = p.slices.map(({ subnet, slice }) => ({ id: subnet.toUint8Array(), bytes: encodeCertifiedSlice(slice) }))
  const size = 4 + parts.reduce((n, x) => n + 1 + x.id.length + 4 + x.bytes.length, 0)
  const out = new Uint8Array(size)
  const v = new DataView(out.buffer)
  v.setUint32(0, parts.length)
  let off = 4
  for (const { id, bytes } of parts) {
    out[off] = id.length
    out.set(id, off + 1)
    off += 1 + id.length
    v.setUint32(off, bytes.length)
    out.set(bytes, off + 4)
    off += 4 + bytes.length
  }
  return out
}

/** Decodes an XNet section, bounding every length before it is used; slices are checked structurally, not yet verified. */
export function decodeXNetPayload (b: Uint8Array, maxBytes: number): XNetPayload {
  if (b.length === 0) return { slices: [] }
  if (b.length > maxBytes || b.length < 4) throw new InvalidEncodingError(`xnet payload of ${b.length} bytes`)
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength)
  const count = v.getUint32(0)
  if (count > MAX_SLICES) throw new InvalidEncodingError(`${count} slices in one payload`)
  const slices: XNetPayload['slices'] = []
  let off = 4
  for (let i = 0; i < count; i++) {
    const idLen = b[off]
    if (idLen === undefined || idLen > MAX_SUBNET_ID_BYTES || off + 1 + idLen + 4 > b.length) throw new InvalidEncodingError('truncated xnet payload')
    const subnet = Principal.fromUint8Array(b.slice(off + 1, off + 1 + idLen))
    off += 1 + idLen
    const len = v.getUint32(off)
    off += 4
    if (off + len > b.length) throw new InvalidEncodingError('truncated xnet slice')
    slices.push({ subnet, slice: decodeCertifiedSlice(b.subarray(off, off + len), { maxBytes: len }) })
    off += len
  }
  if (off !== b.length) throw new InvalidEncodingError('trailing bytes after the xnet payload')
  return { slices }
}

/**
 * What expected slice indices are computed from at a finalized height: our
 * streams as far as slices were inducted, plus the XNet payloads of the
 * finalized batches not inducted yet (oldest first).
 */
export interface XNetStateView {
  ownStream(remote: SubnetId): OwnStreamPosition | undefined
  finalizedPayloads: XNetPayload[]
}

export interface XNetSectionInit {
  builder: XNetPayloadBuilder
  pool: CertifiedSlicePool
  maxBlockPayloadBytes: number
  /** Slice bytes a block maker puts into one block (default XNET_BLOCK_BYTES): what the subnet inducts per round at most. */
  maxXNetPayloadBytes?: number
  /** The view at a finalized height, or undefined while a finalized batch up to it is not known yet. */
  viewAt(finalizedHeight: number): XNetStateView | undefined
  /** Resolves with the view once there is one, or undefined after `timeoutMs`. */
  waitForView(finalizedHeight: number, timeoutMs: number): Promise<XNetStateView | undefined>
  /** How long a builder waits for the view before proposing no slices. */
  buildWaitMs: number
  /** How long a validator waits for the view before it gives up on a block (it will see it again via catch-up). */
  validateWaitMs: number
  /**
   * Before the rank-0 block maker builds: waits, bounded, for slices that are certified
   * and being pulled (xnet-stream's `awaitAdvertised`, over every source). Absent: no wait.
   */
  awaitAdvertised?: () => Promise<void>
  /** Blocks built, by what their XNet section got: `slices`, `none` (nothing new in the pool) or `behind` (no view in time). */
  onBuilt?: (outcome: 'slices' | 'none' | 'behind') => void
}

/**
 * The XNet payload builder of @icnet/xnet-stream as a consensus payload section.
 * Expected indices come from our streams as far as slices were inducted, the
 * payloads of the finalized batches not inducted yet, and those of the
 * not-yet-finalized ancestors: a block maker need not wait for execution to
 * reach the finalized height (under load it is often a batch or two behind, and
 * a block without slices costs the XNet traffic a whole round).
 */
export function xnetPayloadSection (init: XNetSectionInit): PayloadBuilder {
  const decoded = new WeakMap<Uint8Array, XNetPayload>()
  const decode = (b: Uint8Array): XNetPayload => {
    let p = decoded.get(b)
    if (p === undefined) { p = decodeXNetPayload(b, init.maxBlockPayloadBytes); decoded.set(b, p) }
    return p
  }
  const context = (view: XNetStateView, ctx: PayloadContext, byteLimit: number) => ({
    ownStream: (remote: SubnetId) => view.ownStream(remote),
    // Consensus lists ancestors parent first; the builder wants them oldest first, after the finalized ones.
    pastPayloads: [...view.finalizedPayloads, ...ctx.pastPayloads.map(decode).reverse()],
    byteLimit
  })
  const view = async (ctx: PayloadContext, waitMs: number): Promise<XNetStateView | undefined> =>
    init.viewAt(ctx.finalizedHeight) ?? await init.waitForView(ctx.finalizedHeight, waitMs)
  return {
    name: XNET_SECTION,
    ...(init.awaitAdvertised !== undefined ? { prepare: init.awaitAdvertised } : {}),
    async build (_height, ctx, byteLimit) {
      const v = await view(ctx, init.buildWaitMs)
      if (v === undefined) { init.onBuilt?.('behind'); return new Uint8Array(0) }
      const { payload } = init.builder.buildPayload(context(v, ctx, Math.min(byteLimit, init.maxXNetPayloadBytes ?? XNET_BLOCK_BYTES)))
      init.onBuilt?.(payload.slices.length === 0 ? 'none' : 'slices')
      return payload.slices.length === 0 ? new Uint8Array(0) : encodeXNetPayload(payload)
    },
    async validate (bytes, ctx) {
      const payload = decode(bytes)
      if (payload.slices.length === 0) return true
      const v = await view(ctx, init.validateWaitMs)
      if (v === undefined) return false
      try {
        init.builder.validatePayload(payload, context(v, ctx, init.maxBlockPayloadBytes))
        return true
      } catch (err) {
        if (err instanceof InvalidSliceError) return false
        throw err
      }
    }
  }
}

/** The slices of a finalized batch's XNet section, raw or decoded (validated when the block was notarized). */
export function batchSlices (section: Uint8Array | XNetPayload | undefined, maxBytes: number, ourSubnet: SubnetId): XNetPayload['slices'] {
  if (section === undefined) return []
  const payload = section instanceof Uint8Array ? decodeXNetPayload(section, maxBytes) : section
  return payload.slices.filter(s => !principalEquals(s.subnet, ourSubnet))
}
