/**
 * The binary formats of the XNet load canister (canisters/xnet_load.wat and
 * its JS twin): configuration, requests and metrics. Fixed little-endian, no
 * Candid, so tests and the replica can drive it without an IDL.
 */
import { Principal } from '@icnet/types'
import { InvalidEncodingError } from '@icnet/types'

export interface XnetLoadConfig {
  /** Requests per heartbeat (the IC test's `canister_to_subnet_rate`, summed over targets). */
  rate: number
  /** Request (and reply) size in bytes, 16..65536; the IC test uses 1024. */
  payloadSize: number
  /** Seed of the PRNG that picks targets (0 picks a fixed default). */
  seed: bigint
  /** Canisters on other subnets, at most 64. */
  targets: Principal[]
}

export const XNET_LOAD_MAX_TARGETS = 64
export const XNET_LOAD_DEFAULT_PAYLOAD = 1024
export const XNET_LOAD_METHOD = 'handle_request'
export const XNET_LOAD_HISTOGRAM_BUCKETS = 16

export interface XnetLoadMetrics {
  sent: bigint
  replied: bigint
  rejected: bigint
  /** Requests from a sender that arrived with a seq_no not above the last one seen: a duplicate or a reordering. */
  seqErrors: bigint
  callErrors: bigint
  received: bigint
  latencySumNs: bigint
  latencyCount: bigint
  /** 0 when nothing was measured yet. */
  latencyMinNs: bigint
  latencyMaxNs: bigint
  /** Bucket b counts latencies in [2^(b-1), 2^b) ms; bucket 0 is under 1 ms, bucket 15 is open-ended. */
  histogramMs: bigint[]
  /**
   * Requests skipped in senders' sequences: ones their sender saw rejected before
   * they reached this canister (legal with guaranteed delivery, unlike seqErrors).
   */
  seqGaps: bigint
}

export const XNET_LOAD_METRICS_BYTES = (11 + XNET_LOAD_HISTOGRAM_BUCKETS) * 8

export function encodeXnetLoadConfig (c: XnetLoadConfig): Uint8Array {
  if (c.targets.length > XNET_LOAD_MAX_TARGETS) throw new InvalidEncodingError(`at most ${XNET_LOAD_MAX_TARGETS} targets`)
  if (c.payloadSize < 16 || c.payloadSize > 65536) throw new InvalidEncodingError('payload size must be 16..65536')
  const ids = c.targets.map(t => t.toUint8Array())
  const out = new Uint8Array(20 + ids.reduce((n, b) => n + 1 + b.length, 0))
  const v = new DataView(out.buffer)
  v.setUint32(0, c.rate, true)
  v.setUint32(4, c.payloadSize, true)
  v.setBigUint64(8, BigInt.asUintN(64, c.seed), true)
  v.setUint32(16, ids.length, true)
  let off = 20
  for (const b of ids) {
    out[off] = b.length
    out.set(b, off + 1)
    off += 1 + b.length
  }
  return out
}

export function decodeXnetLoadConfig (b: Uint8Array): XnetLoadConfig {
  if (b.length < 20 || b.length > 65536) throw new InvalidEncodingError('bad configuration size')
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength)
  const rate = v.getUint32(0, true)
  const payloadSize = v.getUint32(4, true)
  const seed = v.getBigUint64(8, true)
  const n = v.getUint32(16, true)
  if (n > XNET_LOAD_MAX_TARGETS || payloadSize < 16 || payloadSize > 65536) throw new InvalidEncodingError('bad configuration')
  const targets: Principal[] = []
  let off = 20
  for (let i = 0; i < n; i++) {
    const len = b[off]
    if (len === undefined || len > 29 || off + 1 + len > b.length) throw new InvalidEncodingError('bad target')
    targets.push(Principal.fromUint8Array(b.slice(off + 1, off + 1 + len)))
    off += 1 + len
  }
  return { rate, payloadSize, seed, targets }
}

export function decodeXnetLoadMetrics (b: Uint8Array): XnetLoadMetrics {
  if (b.length !== XNET_LOAD_METRICS_BYTES) throw new InvalidEncodingError(`metrics are ${XNET_LOAD_METRICS_BYTES} bytes, got ${b.length}`)
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength)
  const u = (i: number): bigint => v.getBigUint64(i * 8, true)
  const count = u(7)
  return {
    sent: u(0), replied: u(1), rejected: u(2), seqErrors: u(3), callErrors: u(4), received: u(5),
    latencySumNs: u(6), latencyCount: count, latencyMinNs: count === 0n ? 0n : u(8), latencyMaxNs: u(9),
    histogramMs: Array.from({ length: XNET_LOAD_HISTOGRAM_BUCKETS }, (_, i) => u(10 + i)),
    seqGaps: u(10 + XNET_LOAD_HISTOGRAM_BUCKETS)
  }
}

export function encodeXnetLoadMetrics (m: XnetLoadMetrics): Uint8Array {
  const out = new Uint8Array(XNET_LOAD_METRICS_BYTES)
  const v = new DataView(out.buffer)
  const vals = [m.sent, m.replied, m.rejected, m.seqErrors, m.callErrors, m.received, m.latencySumNs, m.latencyCount,
    m.latencyCount === 0n ? (1n << 64n) - 1n : m.latencyMinNs, m.latencyMaxNs, ...m.histogramMs, m.seqGaps]
  vals.forEach((x, i) => { v.setBigUint64(i * 8, x, true) })
  return out
}

/** The histogram bucket of a latency (see `XnetLoadMetrics.histogramMs`). */
export function latencyBucket (latencyNs: bigint): number {
  const ms = latencyNs / 1_000_000n
  const bits = ms === 0n ? 0 : ms.toString(2).length
  return Math.min(XNET_LOAD_HISTOGRAM_BUCKETS - 1, bits)
}

/** xorshift64*: the target-picking PRNG (state update, then output). */
export function xorshift64star (state: bigint): { state: bigint, value: bigint } {
  let x = state
  x ^= x >> 12n
  x = BigInt.asUintN(64, x ^ (x << 25n))
  x ^= x >> 27n
  return { state: x, value: BigInt.asUintN(64, x * 0x2545F4914F6CDD1Dn) }
}

export const XNET_LOAD_DEFAULT_SEED = 0x9E3779B97F4A7C15n
