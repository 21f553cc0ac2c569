/**
 * `npm run bench -- consensus [--heights=150] [--heights-13=40] [--heights-large=30] [--delta=50] [--delta-large=300] [--cases=4,13,4x1MiB,13x1MiB]`
 *
 * Finalized rounds per second and finalization latency (round start, i.e. the
 * height's beacon known, to the block finalized; p50/p90 on node 0) of icnet
 * consensus between real libp2p nodes on loopback TCP, all in this process
 * (they share this machine's cores), for 4 and 13 nodes with empty blocks and
 * with 1 MiB blocks. A short warm-up is not counted.
 *
 * Baseline, same run: the same 4-node consensus over the in-memory bus (no
 * network, no encryption): the cost of the protocol's crypto and logic alone.
 *
 * Prints one JSON object per line; the last line is the summary.
 */
import '@icnet/types/polyfill'
import { randomBytes } from 'node:crypto'
import {
  Committee, Consensus, InMemoryBus, NodeSigner, committeeFromRegistry, consensusTransport,
  type ArtifactTransport, type ConsensusTransport, type PayloadBuilder
} from '@icnet/consensus'
import { dealThresholdKeys, generateNodeKeyPair, proveNodeKeyPossession } from '@icnet/crypto'
import { DEFAULT_SUBNET_PARAMS, Registry } from '@icnet/registry'
import { connectMesh, createTestNode, stopAll } from '@icnet/test-utils'
import { InMemoryMetrics, canisterIdFromU64, subnetIdFromPublicKeyDer, toHex } from '@icnet/types'
import type { Libp2p } from '@libp2p/interface'

const args = new Map(process.argv.slice(2).map(a => {
  const [k, v] = a.replace(/^--/, '').split('=')
  return [k!, v ?? 'true']
}))
const HEIGHTS = Number(args.get('heights') ?? 150)
const HEIGHTS_13 = Number(args.get('heights-13') ?? 40)
const HEIGHTS_LARGE = Number(args.get('heights-large') ?? 30)
const DELTA = Number(args.get('delta') ?? 50)
/** 1 MiB blocks take longer than Δ = 50 ms to reach 12 peers in one loaded process; the registry default Δ keeps later ranks quiet. */
const DELTA_LARGE = Number(args.get('delta-large') ?? 300)
const WARMUP = 5
const CASES = new Set((args.get('cases') ?? '4,13,4x1MiB,13x1MiB').split(','))
const MiB = 1024 * 1024

function emit (line: Record<string, unknown>): void {
  console.log(JSON.stringify({ bench: 'consensus', ...line }))
}

function percentile (xs: number[], p: number): number {
  if (xs.length === 0) return Number.NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!
}

const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d

/** Fills every block with `bytes` of fresh random payload; accepts any payload (the bench measures consensus, not validation). */
function filler (bytes: number): PayloadBuilder {
  return { name: 'filler', build: () => randomBytes(bytes), validate: () => true }
}

interface Dealt {
  subnetId: ReturnType<typeof subnetIdFromPublicKeyDer>
  keys: ReturnType<typeof dealThresholdKeys>
  bls: Array<ReturnType<typeof generateNodeKeyPair>>
}

function deal (n: number): Dealt {
  const f = Math.floor((n - 1) / 3)
  const keys = dealThresholdKeys({ n, t: 2 * f + 1 })
  return { subnetId: subnetIdFromPublicKeyDer(keys.publicKeyDer), keys, bls: Array.from({ length: n }, () => generateNodeKeyPair()) }
}

function registryFor (d: Dealt, ids: string[], delta: number): Registry {
  const subnetId = d.subnetId.toText()
  return new Registry({
    version: 1,
    rootSubnetId: subnetId,
    subnets: [{
      id: subnetId,
      type: 'application',
      nodes: ids,
      publicKey: toHex(d.keys.publicKey),
      publicKeyDer: toHex(d.keys.publicKeyDer),
      threshold: d.keys.threshold,
      thresholdShares: d.keys.shares.map(s => ({ index: s.index, publicKey: toHex(s.publicKey) })),
      params: { ...DEFAULT_SUBNET_PARAMS, unitDelayMs: delta }
    }],
    nodes: ids.map((id, i) => ({ id, subnetId, p2pAddresses: [], blsPublicKey: toHex(d.bls[i]!.publicKey), blsPossessionProof: toHex(proveNodeKeyPossession(d.bls[i]!.secretKey)) })),
    routingTable: [{ start: canisterIdFromU64(0).toText(), end: canisterIdFromU64(1000).toText(), subnetId }],
    canisterMigrations: []
  })
}

interface CaseResult {
  rounds_per_s: number
  finalization_p50_ms: number
  finalization_p90_ms: number
  notarization_p50_ms: number
  heights: number
}

/** Runs consensus on `transports` until node 0 delivered WARMUP + heights batches. */
async function runConsensus (committee: Committee, d: Dealt, transports: ArtifactTransport[], heights: number, payloadBytes: number, delta: number): Promise<CaseResult> {
  const metrics = new InMemoryMetrics()
  const nodes = transports.map((transport, i) => new Consensus({
    committee,
    signer: new NodeSigner({ index: i, blsSecretKey: d.bls[i]!.secretKey, thresholdSecretKey: d.keys.shares[i]!.secretKey }),
    params: { unitDelayMs: delta, maxBlockPayloadBytes: 4 * MiB, checkpointInterval: 500 },
    transport,
    payloadBuilders: payloadBytes > 0 ? [filler(payloadBytes)] : [],
    ...(i === 0 ? { metrics } : {})
  }))
  for (const n of nodes) await n.start()
  let t0 = 0
  let counted = 0
  const consumers = nodes.map(async (n, i) => {
    for await (const b of n.batches()) {
      if (i !== 0) continue
      if (b.height === WARMUP) t0 = performance.now()
      if (b.height > WARMUP) counted++
      if (counted >= heights) break
    }
  })
  await consumers[0]
  const seconds = (performance.now() - t0) / 1000
  await Promise.all(nodes.map(async n => { await n.stop() }))
  await Promise.all(consumers)
  const fin = metrics.observed('icnet_consensus_finalization_latency_seconds').slice(WARMUP)
  const not = metrics.observed('icnet_consensus_notarization_latency_seconds').slice(WARMUP)
  return {
    rounds_per_s: round(heights / seconds),
    finalization_p50_ms: round(percentile(fin, 0.5) * 1000, 1),
    finalization_p90_ms: round(percentile(fin, 0.9) * 1000, 1),
    notarization_p50_ms: round(percentile(not, 0.5) * 1000, 1),
    heights
  }
}

async function loopbackCase (n: number, heights: number, payloadBytes: number): Promise<CaseResult> {
  const delta = payloadBytes > 0 ? DELTA_LARGE : DELTA
  const d = deal(n)
  let registry: Registry | undefined
  const libp2ps = await Promise.all(Array.from({ length: n }, async () => await createTestNode({
    services: { consensusTransport: consensusTransport({ subnetId: d.subnetId, registry: () => registry!, dialMembers: false }) }
  }))) as unknown as Array<Libp2p<{ consensusTransport: ConsensusTransport }>>
  registry = registryFor(d, libp2ps.map(l => l.peerId.toString()), delta)
  await connectMesh(libp2ps)
  try {
    return await runConsensus(committeeFromRegistry(registry, d.subnetId), d, libp2ps.map(l => l.services.consensusTransport), heights, payloadBytes, delta)
  } finally {
    await stopAll(libp2ps)
  }
}

async function busCase (n: number, heights: number): Promise<CaseResult> {
  const d = deal(n)
  const ids = Array.from({ length: n }, (_, i) => `bench-${i}`)
  const committee = new Committee({
    subnetId: d.subnetId,
    nodes: ids,
    blsPublicKeys: d.bls.map(k => k.publicKey),
    thresholdPublicKey: d.keys.publicKey,
    thresholdSharePublicKeys: d.keys.sharePublicKeys,
    threshold: d.keys.threshold
  })
  const bus = new InMemoryBus()
  return await runConsensus(committee, d, ids.map(id => bus.transport(id)), heights, 0, DELTA)
}

const summary: Record<string, unknown> = { bench: 'consensus', delta_ms: DELTA, delta_ms_1mib: DELTA_LARGE }
const baseline = await busCase(4, HEIGHTS)
emit({ case: 'baseline: 4 nodes, in-memory bus, empty blocks', ...baseline })
summary.baseline_rounds_per_s_4_inmemory = baseline.rounds_per_s
summary.baseline_finalization_p50_ms_4_inmemory = baseline.finalization_p50_ms

if (CASES.has('4')) {
  const r = await loopbackCase(4, HEIGHTS, 0)
  emit({ case: '4 nodes, loopback TCP, empty blocks', ...r })
  summary.rounds_per_s_4 = r.rounds_per_s
  summary.finalization_p50_ms_4 = r.finalization_p50_ms
  summary.finalization_p90_ms_4 = r.finalization_p90_ms
  summary.ratio_4_vs_inmemory = round(r.rounds_per_s / baseline.rounds_per_s)
}
if (CASES.has('13')) {
  const r = await loopbackCase(13, HEIGHTS_13, 0)
  emit({ case: '13 nodes, loopback TCP, empty blocks', ...r })
  summary.rounds_per_s_13 = r.rounds_per_s
  summary.finalization_p50_ms_13 = r.finalization_p50_ms
}
if (CASES.has('4x1MiB')) {
  const r = await loopbackCase(4, HEIGHTS_LARGE, MiB)
  emit({ case: '4 nodes, loopback TCP, 1 MiB blocks', ...r })
  summary.rounds_per_s_4_1mib = r.rounds_per_s
  summary.finalization_p50_ms_4_1mib = r.finalization_p50_ms
}
if (CASES.has('13x1MiB')) {
  const r = await loopbackCase(13, Math.min(HEIGHTS_LARGE, 10), MiB)
  emit({ case: '13 nodes, loopback TCP, 1 MiB blocks', ...r })
  summary.rounds_per_s_13_1mib = r.rounds_per_s
  summary.finalization_p50_ms_13_1mib = r.finalization_p50_ms
}
console.log(JSON.stringify(summary))
process.exit(0)
