import type { StreamLoad } from '../load-monitor.js'
import type { NodeProbe } from './supervisor.js'

/** The load canister's request counts, per subnet and summed over a testnet. */
export interface TrafficCounts {
  sent: number
  replied: number
  rejected: number
  seqErrors: number
  /** Requests the receivers never saw because they were rejected on the way (at most `rejected`). */
  seqGaps: number
  inFlight: number
}

/** One subnet's state as the testnet runner shows it. */
export interface SubnetProgress extends TrafficCounts {
  subnetIndex: number
  subnetId: string
  root: boolean
  nodesUp: number
  nodes: number
  height: number
  certifiedHeight: number
  roundsPerSecond: number
  /** Messages in the subnet's outgoing streams and outputs waiting for room in them. */
  inStreams: number
  outputsWaiting: number
  /** The subnet's outgoing streams (from the node with the highest executed height). */
  streams: StreamLoad[]
  latencyMeanMs: number
  /** Certified state roots reported at the highest height all up nodes reached and still report (agreement check). */
  certifiedRoots: Set<string>
}

export function percentile (sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(p / 100 * sorted.length) - 1))
  return sorted[i]!
}

/**
 * Per-subnet progress from node probes. Load counters come from the node of the
 * subnet with the highest executed height: every node of a subnet executes the
 * same batches, so they agree up to where each one is.
 */
export function summarize (probes: NodeProbe[], previous?: { at: number, heights: Map<number, number> }, now = Date.now()): SubnetProgress[] {
  const bySubnet = new Map<number, NodeProbe[]>()
  for (const p of probes) {
    let l = bySubnet.get(p.subnetIndex)
    if (l == null) { l = []; bySubnet.set(p.subnetIndex, l) }
    l.push(p)
  }
  const out: SubnetProgress[] = []
  for (const [subnetIndex, nodes] of [...bySubnet].sort((a, b) => a[0] - b[0])) {
    const up = nodes.filter(n => n.health != null)
    const lead = up.reduce<NodeProbe | undefined>((best, n) => (best == null || (n.load?.height ?? 0) > (best.load?.height ?? 0)) ? n : best, undefined)
    const height = Math.max(0, ...up.map(n => n.health!.height))
    const prevH = previous?.heights.get(subnetIndex)
    const dt = previous == null ? 0 : (now - previous.at) / 1000
    const l = lead?.load
    const roots = new Set<string>()
    const minCert = Math.min(...up.map(n => n.health!.certifiedHeight))
    for (const n of up) if (n.health!.certifiedHeight === minCert && n.health!.certifiedStateRoot != null) roots.add(n.health!.certifiedStateRoot)
    out.push({
      subnetIndex,
      subnetId: lead?.health?.subnetId ?? '',
      root: lead?.health?.rootSubnet ?? false,
      nodesUp: up.length,
      nodes: nodes.length,
      height,
      certifiedHeight: Math.max(0, ...up.map(n => n.health!.certifiedHeight)),
      roundsPerSecond: prevH != null && dt > 0 ? (height - prevH) / dt : 0,
      sent: l?.sent ?? 0,
      replied: l?.replied ?? 0,
      rejected: l?.rejected ?? 0,
      seqErrors: l?.seqErrors ?? 0,
      seqGaps: l?.seqGaps ?? 0,
      inFlight: l?.inFlight ?? 0,
      inStreams: l?.messagesInStreams ?? 0,
      outputsWaiting: l?.outputsWaiting ?? 0,
      streams: l?.streams ?? [],
      latencyMeanMs: l != null && l.latencyCount > 0 ? l.latencySumMs / l.latencyCount : 0,
      certifiedRoots: roots
    })
  }
  return out
}

export function progressLine (s: SubnetProgress): string {
  const id = s.subnetId.slice(0, 5)
  return `subnet ${s.subnetIndex} ${id}${s.root ? ' (root)' : ''}: nodes ${s.nodesUp}/${s.nodes}  height ${s.height}  ` +
    `${s.roundsPerSecond.toFixed(1)} rounds/s  sent ${s.sent}  in flight ${s.inFlight}  delivered ${s.replied}  rejected ${s.rejected}  ` +
    `latency ${s.latencyMeanMs.toFixed(0)} ms  seq errors ${s.seqErrors}`
}

/**
 * The p-th percentile of a log2 histogram (bucket b holds [2^(b-1), 2^b) ms,
 * bucket 0 under 1 ms), interpolated linearly inside the bucket.
 */
export function histogramPercentile (buckets: readonly number[], p: number): number {
  const total = buckets.reduce((n, x) => n + x, 0)
  if (total === 0) return 0
  const rank = p / 100 * total
  let seen = 0
  for (let b = 0; b < buckets.length; b++) {
    const c = buckets[b]!
    if (c > 0 && seen + c >= rank) {
      const lo = b === 0 ? 0 : 2 ** (b - 1)
      const hi = 2 ** b
      return lo + (hi - lo) * Math.max(0, Math.min(1, (rank - seen) / c))
    }
    seen += c
  }
  return 2 ** (buckets.length - 1)
}

/** Latency figures over every subnet (the lead node's counters of each). */
export function latencySummary (probes: NodeProbe[]): { mean: number, p50: number, p99: number } {
  const best = new Map<number, NodeProbe>()
  for (const p of probes) {
    if (p.load == null) continue
    const b = best.get(p.subnetIndex)
    if (b == null || p.load.height > b.load!.height) best.set(p.subnetIndex, p)
  }
  let sum = 0
  let count = 0
  const hist: number[] = []
  for (const p of best.values()) {
    sum += p.load!.latencySumMs
    count += p.load!.latencyCount
    p.load!.latencyHistogramMs.forEach((c, i) => { hist[i] = (hist[i] ?? 0) + c })
  }
  return { mean: count === 0 ? 0 : sum / count, p50: histogramPercentile(hist, 50), p99: histogramPercentile(hist, 99) }
}
