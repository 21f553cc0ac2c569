import { XNET_LOAD_HISTOGRAM_BUCKETS, decodeXnetLoadMetrics } from '@icnet/execution'
import type { MessageRouting } from '@icnet/message-routing'
import { Principal, type SubnetId } from '@icnet/types'
import type { GenesisCanisters } from './genesis-canisters.js'

/** One outgoing XNet stream as message routing has it at the executed height. */
export interface StreamLoad {
  /** The remote subnet (principal text). */
  subnet: string
  messages: number
  /** Messages it holds at most; outputs beyond it wait in output queues. */
  maxMessages: number
  bytes: number
  begin: number
  end: number
  signalsEnd: number
}

/** Cross-subnet traffic of one subnet as its load canister counts it (since genesis), on this node's executed state. */
export interface LoadReport {
  subnetId: string
  height: number
  certifiedHeight: number
  /** False when the subnet has no load canister. */
  loadCanister: boolean
  sent: number
  replied: number
  rejected: number
  /** Requests that arrived with a seq_no not above the last from their sender (duplicated or reordered). */
  seqErrors: number
  /** Requests missing from senders' sequences: rejected before they arrived (allowed; at most the senders' rejects). */
  seqGaps: number
  /** Calls the canister could not make (`call_perform` refused). */
  callErrors: number
  /** Requests from other subnets' load canisters executed here (each one answered). */
  received: number
  /** Requests sent and not answered yet. */
  inFlight: number
  latencySumMs: number
  latencyCount: number
  /** The canister's log2 latency histogram: bucket b counts latencies in [2^(b-1), 2^b) ms. */
  latencyHistogramMs: number[]
  /** Messages in our outgoing XNet streams (not yet garbage-collected by the receivers' signals). */
  messagesInStreams: number
  /** Outputs waiting for room in a full stream (backpressure). */
  outputsWaiting: number
  /** Each outgoing XNet stream: its messages against its limit, and where its indices are. */
  streams: StreamLoad[]
  xnetInducted: number
  criticalErrors: number
}

/**
 * Reads the XNet load canister's `metrics` query on the executed state. The
 * counters are replicated state, so every node of a subnet reports the same
 * figures for the same height.
 */
export class LoadMonitor {
  /** The current state machine (a state sync replaces it). */
  private readonly state: () => MessageRouting
  private readonly canisterId: Principal | undefined

  constructor (init: { state: () => MessageRouting, genesis: GenesisCanisters, subnetId: SubnetId }) {
    this.state = init.state
    const c = init.genesis.canisters.find(x => x.module === 'xnet-load' && x.subnetId === init.subnetId.toText())
    this.canisterId = c == null ? undefined : Principal.fromText(c.canisterId)
  }

  get loadCanisterId (): Principal | undefined { return this.canisterId }

  async report (subnetId: string): Promise<LoadReport> {
    const mr = this.state()
    const st = mr.stats()
    const base = {
      subnetId,
      height: st.height,
      certifiedHeight: st.certifiedHeight,
      messagesInStreams: st.messagesInStreams,
      outputsWaiting: st.outputsWaiting,
      streams: st.streams.map(x => ({ subnet: x.subnet, messages: x.messages, maxMessages: x.maxMessages, bytes: x.bytes, begin: x.begin, end: x.end, signalsEnd: x.signalsEnd })),
      xnetInducted: st.xnetInducted,
      criticalErrors: st.criticalErrors
    }
    const empty = { loadCanister: false, sent: 0, replied: 0, rejected: 0, seqErrors: 0, seqGaps: 0, callErrors: 0, received: 0, inFlight: 0, latencySumMs: 0, latencyCount: 0, latencyHistogramMs: new Array<number>(XNET_LOAD_HISTOGRAM_BUCKETS).fill(0) }
    if (this.canisterId == null) return { ...base, ...empty }
    const out = await mr.query(this.canisterId, 'metrics', new Uint8Array(0), Principal.anonymous())
    if (out.kind !== 'reply') return { ...base, ...empty }
    const m = decodeXnetLoadMetrics(out.data)
    const n = (x: bigint): number => Number(x)
    return {
      ...base,
      loadCanister: true,
      sent: n(m.sent),
      replied: n(m.replied),
      rejected: n(m.rejected),
      seqErrors: n(m.seqErrors),
      seqGaps: n(m.seqGaps),
      callErrors: n(m.callErrors),
      received: n(m.received),
      inFlight: n(m.sent - m.replied - m.rejected),
      latencySumMs: Number(m.latencySumNs / 1_000n) / 1_000,
      latencyCount: n(m.latencyCount),
      latencyHistogramMs: m.histogramMs.map(n)
    }
  }
}
