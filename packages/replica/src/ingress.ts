import { createHash } from 'node:crypto'
import type { PayloadBuilder, PayloadContext } from '@icnet/consensus'
import type { IngressMessage } from '@icnet/message-routing'
import { InvalidEncodingError, Principal, QueueFullError, toHex, utf8ByteLength, type Metrics } from '@icnet/types'

/** Name of the block payload section that carries ingress messages. */
export const INGRESS_SECTION = 'ingress'
/** Messages waiting in one node's pool: beyond it a submit is refused (429-like), nothing is evicted. */
export const MAX_POOL_MESSAGES = 10_000
/** Messages per block: bounds a block's execution work from ingress alone. */
export const MAX_INGRESS_PER_BLOCK = 1_000
/** An ingress argument is at most 2 MiB (message routing's own limit). */
const MAX_ARG_BYTES = 2 * 1024 * 1024
const MAX_METHOD_BYTES = 255
const MAX_PRINCIPAL_BYTES = 29

/**
 * The request id of a replica ingress message: SHA-256 over a domain separator
 * and every field (length-prefixed), so the same submission to several nodes
 * of a subnet is the same message and executes once. (The HTTP endpoint uses
 * the interface spec's representation-independent hash instead.)
 */
export function ingressRequestId (m: Omit<IngressMessage, 'requestId'> & { nonce?: Uint8Array }): Uint8Array {
  const h = createHash('sha256').update('\x0eicnet-ingress\n')
  const part = (b: Uint8Array): void => {
    const len = Buffer.alloc(4)
    len.writeUInt32BE(b.length)
    h.update(len).update(b)
  }
  part(m.sender.toUint8Array())
  part(m.canisterId.toUint8Array())
  part(new TextEncoder().encode(m.methodName))
  part(m.arg)
  part(new TextEncoder().encode(String(m.expiry)))
  part(m.nonce ?? new Uint8Array(0))
  return new Uint8Array(h.digest())
}

function messageSize (m: IngressMessage): number {
  return 32 + 1 + m.sender.toUint8Array().length + 1 + m.canisterId.toUint8Array().length + 1 + utf8ByteLength(m.methodName) + 4 + m.arg.length + 8
}

/**
 * The ingress section of a block: `count: u32`, then per message
 * `request_id[32], len: u8, sender, len: u8, canister id, len: u8, method (UTF-8),
 * len: u32, arg, expiry_ms: u64`; big-endian.
 */
export function encodeIngressPayload (msgs: readonly IngressMessage[]): Uint8Array {
  const out = new Uint8Array(4 + msgs.reduce((n, m) => n + messageSize(m), 0))
  const v = new DataView(out.buffer)
  v.setUint32(0, msgs.length)
  let off = 4
  const small = (b: Uint8Array): void => { out[off] = b.length; out.set(b, off + 1); off += 1 + b.length }
  for (const m of msgs) {
    out.set(m.requestId, off)
    off += 32
    small(m.sender.toUint8Array())
    small(m.canisterId.toUint8Array())
    small(new TextEncoder().encode(m.methodName))
    v.setUint32(off, m.arg.length)
    out.set(m.arg, off + 4)
    off += 4 + m.arg.length
    v.setBigUint64(off, BigInt(m.expiry))
    off += 8
  }
  return out
}

/** Decodes an ingress section, bounding every length before it is used. */
export function decodeIngressPayload (b: Uint8Array, maxBytes: number): IngressMessage[] {
  if (b.length === 0) return []
  if (b.length > maxBytes || b.length < 4) throw new InvalidEncodingError(`ingress payload of ${b.length} bytes`)
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength)
  const count = v.getUint32(0)
  if (count > MAX_INGRESS_PER_BLOCK) throw new InvalidEncodingError(`${count} ingress messages in one block`)
  let off = 4
  const need = (n: number): void => { if (off + n > b.length) throw new InvalidEncodingError('truncated ingress payload') }
  const small = (max: number): Uint8Array => {
    need(1)
    const len = b[off]!
    if (len > max) throw new InvalidEncodingError('ingress field too long')
    need(1 + len)
    const x = b.slice(off + 1, off + 1 + len)
    off += 1 + len
    return x
  }
  const out: IngressMessage[] = []
  for (let i = 0; i < count; i++) {
    need(32)
    const requestId = b.slice(off, off + 32)
    off += 32
    const sender = Principal.fromUint8Array(small(MAX_PRINCIPAL_BYTES))
    const canisterId = Principal.fromUint8Array(small(MAX_PRINCIPAL_BYTES))
    const methodName = new TextDecoder('utf-8', { fatal: true }).decode(small(MAX_METHOD_BYTES))
    need(4)
    const argLen = v.getUint32(off)
    if (argLen > MAX_ARG_BYTES) throw new InvalidEncodingError('ingress argument too large')
    need(4 + argLen + 8)
    const arg = b.slice(off + 4, off + 4 + argLen)
    off += 4 + argLen
    const expiry = v.getBigUint64(off)
    off += 8
    if (expiry > BigInt(Number.MAX_SAFE_INTEGER)) throw new InvalidEncodingError('ingress expiry out of range')
    out.push({ requestId, sender, canisterId, methodName, arg, expiry: Number(expiry) })
  }
  if (off !== b.length) throw new InvalidEncodingError('trailing bytes after the ingress payload')
  return out
}

/**
 * One node's ingress pool: messages submitted to this node, waiting for a block.
 * Bounded; a full pool refuses (`QueueFullError`) rather than evicting. A message
 * leaves the pool once the executed state knows it (in a block, or expired).
 */
export class IngressPool {
  private readonly messages = new Map<string, IngressMessage>()
  private readonly size: ReturnType<Metrics['gauge']> | undefined

  constructor (metrics?: Metrics) {
    this.size = metrics?.gauge({ name: 'icnet_replica_ingress_pool_messages', help: 'Ingress messages waiting for a block on this node' })
  }

  get length (): number { return this.messages.size }

  /** Adds a message; false when it is already pooled. */
  add (m: IngressMessage): boolean {
    const key = toHex(m.requestId)
    if (this.messages.has(key)) return false
    if (this.messages.size >= MAX_POOL_MESSAGES) throw new QueueFullError(`ingress pool full (${MAX_POOL_MESSAGES} messages)`)
    this.messages.set(key, m)
    this.size?.set(this.messages.size)
    return true
  }

  /** Messages in arrival order. */
  * pending (): IterableIterator<IngressMessage> { yield * this.messages.values() }

  /** Drops what the executed state already knows and what expired. */
  purge (known: (requestId: Uint8Array) => boolean, nowMs: number): void {
    for (const [k, m] of this.messages) if (m.expiry < nowMs || known(m.requestId)) this.messages.delete(k)
    this.size?.set(this.messages.size)
  }
}

export interface IngressSectionInit {
  pool: IngressPool
  maxBlockPayloadBytes: number
  /** Whether the executed state already has this request id (in its ingress history). */
  known(requestId: Uint8Array): boolean
}

/**
 * The ingress pool as a consensus payload section. The block maker drains its
 * pool (skipping what the ancestors or the executed state already carry);
 * validators only check the encoding: message routing drops expired and
 * duplicate ingress deterministically, so a finalized block's ingress is safe to
 * induct as is on every node.
 */
export function ingressPayloadSection (init: IngressSectionInit): PayloadBuilder {
  const inAncestors = (ctx: PayloadContext): Set<string> => {
    const ids = new Set<string>()
    for (const p of ctx.pastPayloads) for (const m of decodeIngressPayload(p, init.maxBlockPayloadBytes)) ids.add(toHex(m.requestId))
    return ids
  }
  return {
    name: INGRESS_SECTION,
    build (_height, ctx, byteLimit) {
      if (init.pool.length === 0) return new Uint8Array(0)
      const skip = inAncestors(ctx)
      const chosen: IngressMessage[] = []
      let bytes = 4
      for (const m of init.pool.pending()) {
        if (chosen.length >= MAX_INGRESS_PER_BLOCK) break
        if (m.expiry < ctx.time || skip.has(toHex(m.requestId)) || init.known(m.requestId)) continue
        const size = messageSize(m)
        if (bytes + size > byteLimit) continue
        bytes += size
        chosen.push(m)
      }
      return chosen.length === 0 ? new Uint8Array(0) : encodeIngressPayload(chosen)
    },
    validate (bytes) {
      decodeIngressPayload(bytes, init.maxBlockPayloadBytes)
      return true
    }
  }
}

/** The ingress messages of a finalized batch. */
export function batchIngress (section: Uint8Array | undefined, maxBytes: number): IngressMessage[] {
  if (section === undefined || section.length === 0) return []
  return decodeIngressPayload(section, maxBytes)
}
