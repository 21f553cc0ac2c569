/**
 * JS versions of the test canisters, with the same methods and binary formats
 * as the WAT ones (canisters/*.wat).
 */
import { Principal } from '@icnet/types'
import {
  XNET_LOAD_DEFAULT_SEED, XNET_LOAD_HISTOGRAM_BUCKETS, XNET_LOAD_METHOD, decodeXnetLoadConfig, encodeXnetLoadMetrics,
  latencyBucket, xorshift64star
} from '../xnet-load.js'
import type { XnetLoadConfig, XnetLoadMetrics } from '../xnet-load.js'
import type { JsCanister, JsCanisterFactory, JsSystemApi } from './js-canister.js'

function u64le (v: bigint): Uint8Array {
  const b = new Uint8Array(8)
  new DataView(b.buffer).setBigUint64(0, BigInt.asUintN(64, v), true)
  return b
}

function readU64le (b: Uint8Array, offset = 0): bigint {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(offset, true)
}

/** Counter: inc, add(u64), get; init(u64?); the value survives upgrades through stable memory. */
export class JsCounter implements JsCanister {
  count = 0n

  saveState (): Uint8Array { return u64le(this.count) }
  loadState (b: Uint8Array): void { this.count = b.length === 8 ? readU64le(b) : 0n }

  init (api: JsSystemApi): void {
    const arg = api.argData()
    if (arg.length === 8) this.count = readU64le(arg)
  }

  preUpgrade (api: JsSystemApi): void {
    if (api.stable.size() === 0) api.stable.grow(1)
    api.stable.write(0, u64le(this.count))
  }

  postUpgrade (api: JsSystemApi): void {
    this.count = readU64le(api.stable.read(0, 8))
  }

  private arg (api: JsSystemApi): bigint {
    const a = api.argData()
    if (a.length !== 8) api.trap('bad argument')
    return readU64le(a)
  }

  updates = {
    inc: (api: JsSystemApi) => { this.count = BigInt.asUintN(64, this.count + 1n); api.reply(u64le(this.count)) },
    add: (api: JsSystemApi) => { this.count = BigInt.asUintN(64, this.count + this.arg(api)); api.reply(u64le(this.count)) }
  }

  queries = {
    get: (api: JsSystemApi) => { api.reply(u64le(this.count)) }
  }
}

/** Echo: replies with its argument. */
export class JsEcho implements JsCanister {
  saveState (): Uint8Array { return new Uint8Array(0) }
  loadState (): void {}
  updates = { echo: (api: JsSystemApi) => { api.reply(api.argData()) } }
  queries = { echo_query: (api: JsSystemApi) => { api.reply(api.argData()) } }
}

interface XnetState {
  rate: number
  payloadSize: number
  prng: string
  targets: string[]
  seqs: string[]
  senders: Array<[string, string]>
  metrics: string[]
}

const METRIC_NAMES = ['sent', 'replied', 'rejected', 'seqErrors', 'callErrors', 'received', 'latencySumNs', 'latencyCount', 'latencyMinNs', 'latencyMaxNs'] as const

/** The XNet load canister (see canisters/xnet_load.wat for the protocol). */
export class JsXnetLoad implements JsCanister {
  rate = 0
  payloadSize = 1024
  prng = XNET_LOAD_DEFAULT_SEED
  targets: Principal[] = []
  seqs: bigint[] = []
  /** Next expected seq_no by sender (hex principal), in first-seen order. */
  senders = new Map<string, bigint>()
  metrics: XnetLoadMetrics = {
    sent: 0n, replied: 0n, rejected: 0n, seqErrors: 0n, callErrors: 0n, received: 0n,
    latencySumNs: 0n, latencyCount: 0n, latencyMinNs: 0n, latencyMaxNs: 0n,
    histogramMs: Array.from({ length: XNET_LOAD_HISTOGRAM_BUCKETS }, () => 0n),
    seqGaps: 0n
  }

  saveState (): Uint8Array {
    return new TextEncoder().encode(JSON.stringify(this.state()))
  }

  private state (): XnetState {
    return {
      rate: this.rate,
      payloadSize: this.payloadSize,
      prng: this.prng.toString(),
      targets: this.targets.map(t => t.toHex()),
      seqs: this.seqs.map(String),
      senders: [...this.senders.entries()].map(([k, v]) => [k, v.toString()]),
      metrics: [...METRIC_NAMES.map(n => this.metrics[n].toString()), ...this.metrics.histogramMs.map(String), this.metrics.seqGaps.toString()]
    }
  }

  loadState (b: Uint8Array): void {
    const s = b.length === 0 ? new JsXnetLoad().state() : JSON.parse(new TextDecoder().decode(b)) as XnetState
    this.rate = s.rate
    this.payloadSize = s.payloadSize
    this.prng = BigInt(s.prng)
    this.targets = s.targets.map(h => Principal.fromHex(h))
    this.seqs = s.seqs.map(BigInt)
    this.senders = new Map(s.senders.map(([k, v]) => [k, BigInt(v)]))
    const m = s.metrics.map(BigInt)
    METRIC_NAMES.forEach((n, i) => { this.metrics[n] = m[i]! })
    this.metrics.histogramMs = m.slice(METRIC_NAMES.length, METRIC_NAMES.length + XNET_LOAD_HISTOGRAM_BUCKETS)
    this.metrics.seqGaps = m[METRIC_NAMES.length + XNET_LOAD_HISTOGRAM_BUCKETS] ?? 0n
  }

  updates = {
    configure: (api: JsSystemApi) => {
      let c: XnetLoadConfig
      try { c = decodeXnetLoadConfig(api.argData()) } catch { api.trap('bad configuration') }
      this.rate = c.rate
      this.payloadSize = c.payloadSize
      this.prng = c.seed === 0n ? XNET_LOAD_DEFAULT_SEED : c.seed
      this.targets = c.targets
      this.seqs = c.targets.map(() => 0n)
      api.reply(new Uint8Array(0))
    },
    [XNET_LOAD_METHOD]: (api: JsSystemApi) => {
      const arg = api.argData()
      if (arg.length < 16) api.trap('bad configuration')
      const seq = readU64le(arg)
      const sender = api.caller().toHex()
      const expected = this.senders.get(sender)
      if (expected !== undefined || this.senders.size < 256) {
        // Strictly increasing per sender (the IC xnet-test-canister's rule); gaps are rejected requests.
        const next = expected ?? 0n
        if (seq < next) this.metrics.seqErrors++
        else this.metrics.seqGaps += seq - next
        this.senders.set(sender, seq + 1n)
      }
      this.metrics.received++
      api.charge(100)
      api.reply(arg)
    }
  }

  queries = {
    metrics: (api: JsSystemApi) => { api.reply(encodeXnetLoadMetrics(this.metrics)) }
  }

  heartbeat = (api: JsSystemApi): void => {
    if (this.targets.length === 0) return
    const payload = new Uint8Array(this.payloadSize)
    const view = new DataView(payload.buffer)
    for (let i = 0; i < this.rate; i++) {
      const r = xorshift64star(this.prng)
      this.prng = r.state
      const t = Number(r.value % BigInt(this.targets.length))
      view.setBigUint64(0, this.seqs[t]!, true)
      view.setBigUint64(8, api.time(), true)
      api.charge(100)
      if (api.call(this.targets[t]!, XNET_LOAD_METHOD, payload, { reply: 'onReply', reject: 'onReject', env: t }) === 0) {
        this.seqs[t]!++
        this.metrics.sent++
      } else {
        this.metrics.callErrors++
      }
    }
  }

  callbacks = {
    onReply: (api: JsSystemApi) => {
      const lat = BigInt.asUintN(64, api.time() - readU64le(api.argData(), 8))
      const m = this.metrics
      m.replied++
      m.latencySumNs += lat
      m.latencyCount++
      if (m.latencyCount === 1n || lat < m.latencyMinNs) m.latencyMinNs = lat
      if (lat > m.latencyMaxNs) m.latencyMaxNs = lat
      m.histogramMs[latencyBucket(lat)]!++
    },
    onReject: () => { this.metrics.rejected++ }
  }
}

/** The JS test canisters by the names the WAT ones use. */
export const JS_TEST_CANISTERS: Record<string, JsCanisterFactory> = {
  counter: () => new JsCounter(),
  echo: () => new JsEcho(),
  xnet_load: () => new JsXnetLoad()
}
