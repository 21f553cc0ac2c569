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
 * Slice bytes a block maker puts into one block. Message routing inducts a
 * block's messages before it executes any, into input queues of 500 requests
 * per canister: a backlog that arrives in one block would overflow them and
 * come back as QueueFull rejects. 256 KiB is about 230 requests of 1 KiB; the
 * rest waits for the next block (validators accept up to the block limit).
 */
export const XNET_BLOCK_BYTES = 256 * 1024

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

export interface XNetSectionInit {
  builder: XNetPayloadBuilder
  pool: CertifiedSlicePool
  /** The executed state's own streams (message routing's `ownStream`). */
  state: { ownStream(remote: SubnetId): OwnStreamPosition | undefined }
  maxBlockPayloadBytes: number
  /** How long a builder waits for execution to reach the finalized height before proposing no slices. */
  buildWaitMs: number
  /** How long a validator waits for the same before it gives up on a block (it will see it again via catch-up). */
  validateWaitMs: number
  waitForHeight(height: number, timeoutMs: number): Promise<boolean>
}

/**
 * The XNet payload builder of @icnet/xnet-stream as a consensus payload section.
 * Expected indices come from the executed state at the finalized height plus the
 * payloads of the not-yet-finalized ancestors, so a node first lets execution
 * reach the finalized height (it is at most a few batches behind).
 */
export function xnetPayloadSection (init: XNetSectionInit): PayloadBuilder {
  const decoded = new WeakMap<Uint8Array, XNetPayload>()
  const decode = (b: Uint8Array): XNetPayload => {
    let p = decoded.get(b)
    if (p === undefined) { p = decodeXNetPayload(b, init.maxBlockPayloadBytes); decoded.set(b, p) }
    return p
  }
  const context = (ctx: PayloadContext, byteLimit: number) => ({
    ownStream: (remote: SubnetId) => init.state.ownStream(remote),
    // Consensus lists ancestors parent first; the builder wants them oldest first.
    pastPayloads: ctx.pastPayloads.map(decode).reverse(),
    byteLimit
  })
  return {
    name: XNET_SECTION,
    async build (_height, ctx, byteLimit) {
      if (!await init.waitForHeight(ctx.finalizedHeight, init.buildWaitMs)) return new Uint8Array(0)
      const { payload } = init.builder.buildPayload(context(ctx, Math.min(byteLimit, XNET_BLOCK_BYTES)))
      return payload.slices.length === 0 ? new Uint8Array(0) : encodeXNetPayload(payload)
    },
    async validate (bytes, ctx) {
      const payload = decode(bytes)
      if (payload.slices.length === 0) return true
      if (!await init.waitForHeight(ctx.finalizedHeight, init.validateWaitMs)) return false
      try {
        init.builder.validatePayload(payload, context(ctx, init.maxBlockPayloadBytes))
        return true
      } catch (err) {
        if (err instanceof InvalidSliceError) return false
        throw err
      }
    }
  }
}

/** The slices of a finalized batch's XNet section (validated when the block was notarized). */
export function batchSlices (section: Uint8Array | undefined, maxBytes: number, ourSubnet: SubnetId): XNetPayload['slices'] {
  if (section === undefined || section.length === 0) return []
  return decodeXNetPayload(section, maxBytes).slices.filter(s => !principalEquals(s.subnet, ourSubnet))
}
