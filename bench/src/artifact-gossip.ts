/**
 * `npm run bench -- artifact-gossip [--nodes=13] [--transport=tcp|memory] [--latency=200] [--burst=400] [--verify=false]`
 *
 * Propagation latency (publish on one node until delivery on each other node; p50/p99
 * over all deliveries, one artifact in flight at a time) and throughput (a burst
 * published back to back until every node holds every artifact) of artifact gossip, for
 * 1 KiB artifacts (inline) and 1 MiB artifacts (advert + fetch), across a full mesh of
 * `--nodes` libp2p nodes in this process.
 *
 * Baseline, same run, same nodes count and transport: raw gossipsub (StrictNoSign,
 * SHA-256 message ids, synchronous delivery) publishing the same bytes inline.
 *
 * The headline measures the gossip layer itself (kind with no signature sets): queues,
 * asynchronous validation, pools, advert + fetch. `--verify=true` adds one BLS signature
 * per artifact checked on a shared one-worker BlsVerifierPool (all nodes share two cores).
 *
 * Prints one JSON object per line; the last line is the summary for 1 KiB.
 */
import '@icnet/types/polyfill'
import { randomBytes, createHash } from 'node:crypto'
import { BlsVerifierPool, generateNodeKeyPair, nodeSign } from '@icnet/crypto'
import {
  artifactGossip, artifactGossipsubOptions, type ArtifactGossipService, type ArtifactKind, type SignatureVerifier
} from '@icnet/artifact-gossip'
import { createTestNode, stopAll, waitFor, type TestTransport } from '@icnet/test-utils'
import { Principal, RoutingTable, concatBytes, readU64be, u64be, type RegistryView, type SubnetId } from '@icnet/types'
import { gossipsub } from '@libp2p/gossipsub'
import type { Libp2p } from '@libp2p/interface'

const args = new Map(process.argv.slice(2).map(a => {
  const [k, v] = a.replace(/^--/, '').split('=')
  return [k!, v ?? 'true']
}))
const NODES = Number(args.get('nodes') ?? 13)
const TRANSPORT = (args.get('transport') ?? 'tcp') as TestTransport
const LATENCY_SMALL = Number(args.get('latency') ?? 200)
const BURST_SMALL = Number(args.get('burst') ?? 400)
const LATENCY_LARGE = Number(args.get('latency-large') ?? 15)
const BURST_LARGE = Number(args.get('burst-large') ?? 8)
const VERIFY = args.get('verify') === 'true'
const KiB = 1024
const MiB = 1024 * 1024

function emit (line: Record<string, unknown>): void {
  console.log(JSON.stringify({ bench: 'artifact-gossip', ...line }))
}

function percentile (xs: number[], p: number): number {
  if (xs.length === 0) return NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!
}

/**
 * Full mesh, paced: libp2p refuses more than 5 inbound connections per second from one
 * host (inboundConnectionThreshold), and every node here is 127.0.0.1. Round r connects
 * node i to node i+r, so each node receives one dial per round.
 */
async function connectPaced (nodes: Libp2p[]): Promise<void> {
  for (let r = 1; r <= Math.floor(nodes.length / 2); r++) {
    await Promise.all(nodes.map(async (n, i) => {
      const peer = nodes[(i + r) % nodes.length]!
      if (n.getConnections(peer.peerId).length === 0) await n.dial(peer.getMultiaddrs()[0]!)
    }))
    await new Promise(resolve => setTimeout(resolve, 400))
  }
}

const round = (x: number, d = 3): number => Math.round(x * 10 ** d) / 10 ** d

const SUBNET: SubnetId = Principal.fromUint8Array(new Uint8Array([0x5e, 0x70, 0xbe, 0x0c, 0x01, 0x02]))

/** Every node of the bench is a member of SUBNET. */
class BenchRegistry implements RegistryView {
  readonly version = 1
  readonly members = new Set<string>()
  subnetIds (): SubnetId[] { return [SUBNET] }
  getSubnet (): undefined { return undefined }
  getNode (): undefined { return undefined }
  subnetOfNode (id: string): SubnetId | undefined { return this.members.has(id) ? SUBNET : undefined }
  routingTable (): RoutingTable { return new RoutingTable([]) }
  rootSubnetId (): SubnetId { return SUBNET }
}

/** blob: height (8) | public key (48) | signature (96, zero when unsigned) | payload. */
const HEADER = 8 + 48 + 96
const keys = generateNodeKeyPair()

function makeBlob (height: number, size: number): Uint8Array {
  const payload = randomBytes(size - HEADER)
  const sig = VERIFY ? nodeSign(keys.secretKey, concatBytes(u64be(height), payload)) : new Uint8Array(96)
  return concatBytes(u64be(height), keys.publicKey, sig, payload)
}

const blobKind: ArtifactKind<{ height: number, bytes: Uint8Array }> = {
  kind: 'blob',
  maxBytes: 2 * MiB,
  decode (bytes) {
    if (bytes.byteLength < HEADER) throw new RangeError('short blob')
    return { height: Number(readU64be(bytes.subarray(0, 8))), bytes }
  },
  height: b => b.height,
  signatureSets: b => VERIFY
    ? [{ publicKey: b.bytes.subarray(8, 56), message: concatBytes(b.bytes.subarray(0, 8), b.bytes.subarray(HEADER)), signature: b.bytes.subarray(56, HEADER) }]
    : []
}

interface Harness {
  nodes: Libp2p[]
  publish(from: number, bytes: Uint8Array): Promise<void>
  /** Called with (node index, artifact key) on every delivery. */
  onDeliver(fn: (node: number, key: string) => void): void
  keyOf(bytes: Uint8Array): string
  afterRound(height: number): void
  stop(): Promise<void>
}

async function rawHarness (): Promise<Harness> {
  const nodes: Array<Libp2p<{ pubsub: any }>> = []
  for (let i = 0; i < NODES; i++) {
    nodes.push(await createTestNode({
      transport: TRANSPORT,
      services: {
        pubsub: gossipsub({
          globalSignaturePolicy: 'StrictNoSign',
          msgIdFn: m => createHash('sha256').update(m.data ?? new Uint8Array(0)).digest(),
          allowPublishToZeroTopicPeers: true,
          maxInboundDataLength: 4 * MiB
        })
      }
    }) as any)
  }
  for (const n of nodes) n.services.pubsub.subscribe('/raw')
  await connectPaced(nodes)
  await waitFor(() => nodes.every(n => n.services.pubsub.getSubscribers('/raw').length >= NODES - 1 && n.services.pubsub.getMeshPeers('/raw').length > 0), { timeoutMs: 120_000, what: `raw mesh (${nodes.map(n => `${n.getConnections().length}/${n.services.pubsub.getSubscribers('/raw').length}`).join(' ')})` })
  const listeners: Array<(node: number, key: string) => void> = []
  nodes.forEach((n, i) => n.services.pubsub.addEventListener('message', (evt: any) => {
    const key = Buffer.from(evt.detail.data.subarray(0, 32)).toString('hex')
    for (const l of listeners) l(i, key)
  }))
  return {
    nodes,
    publish: async (from, bytes) => { await nodes[from]!.services.pubsub.publish('/raw', bytes) },
    onDeliver: fn => { listeners.push(fn) },
    // Blobs start with a random-enough prefix: height + key + signature/payload.
    keyOf: bytes => Buffer.from(bytes.subarray(0, 32)).toString('hex'),
    afterRound: () => {},
    stop: async () => { await stopAll(nodes) }
  }
}

async function artifactHarness (verifier: SignatureVerifier): Promise<Harness> {
  const registry = new BenchRegistry()
  const nodes: Array<Libp2p<{ pubsub: any, artifacts: ArtifactGossipService }>> = []
  for (let i = 0; i < NODES; i++) {
    const node = await createTestNode({
      transport: TRANSPORT,
      services: {
        pubsub: gossipsub(artifactGossipsubOptions({ subnetId: SUBNET, registry, kinds: ['blob'] })),
        artifacts: artifactGossip({ subnetId: SUBNET, registry, verifier, kinds: [{ kind: blobKind }] })
      }
    }) as any
    registry.members.add(node.peerId.toString())
    nodes.push(node)
  }
  await connectPaced(nodes)
  const topic = nodes[0]!.services.artifacts.topic('blob')
  await waitFor(() => nodes.every(n => n.services.pubsub.getSubscribers(topic).length >= NODES - 1 && n.services.pubsub.getMeshPeers(topic).length > 0), { timeoutMs: 60_000, what: 'artifact mesh' })
  const listeners: Array<(node: number, key: string) => void> = []
  nodes.forEach((n, i) => n.services.artifacts.addEventListener('artifact', evt => {
    for (const l of listeners) l(i, evt.detail.id)
  }))
  return {
    nodes,
    publish: async (from, bytes) => {
      const res = await nodes[from]!.services.artifacts.publish('blob', bytes)
      // The publisher holds it at once; count that as its own (zero-latency) delivery.
      for (const l of listeners) l(from, res.id)
    },
    onDeliver: fn => { listeners.push(fn) },
    keyOf: bytes => createHash('sha256').update(bytes).digest('hex'),
    afterRound: height => { for (const n of nodes) n.services.artifacts.purgeBelow('blob', height) },
    stop: async () => { await stopAll(nodes) }
  }
}

interface Result { p50_ms: number, p99_ms: number, msgs_per_s: number, mb_per_s: number }

let heightCounter = 1

async function measure (h: Harness, size: number, latencyCount: number, burstCount: number): Promise<Result> {
  const pending = new Map<string, { t0: number, left: Set<number>, done: () => void }>()
  const samples: number[] = []
  h.onDeliver((node, key) => {
    const p = pending.get(key)
    if (p == null || !p.left.delete(node)) return
    samples.push(performance.now() - p.t0)
    if (p.left.size === 0) { pending.delete(key); p.done() }
  })
  const track = (bytes: Uint8Array, from: number): Promise<void> => {
    const left = new Set(Array.from({ length: NODES }, (_, i) => i))
    left.delete(from)
    return new Promise<void>(resolve => { pending.set(h.keyOf(bytes), { t0: performance.now(), left, done: resolve }) })
  }
  // Latency: one artifact at a time, publisher rotating. A few warm-up rounds are not counted.
  const warm = 5
  for (let i = 0; i < latencyCount + warm; i++) {
    const bytes = makeBlob(heightCounter++, size)
    const from = i % NODES
    const done = track(bytes, from)
    if (i === warm) samples.length = 0
    await h.publish(from, bytes)
    await done
    if (size > 64 * KiB) h.afterRound(heightCounter)
  }
  const lat = [...samples]
  // Throughput: a burst from one publisher, until every node holds every artifact.
  const blobs = Array.from({ length: burstCount }, () => makeBlob(heightCounter++, size))
  const t0 = performance.now()
  const all = blobs.map(b => track(b, 0))
  for (const b of blobs) await h.publish(0, b)
  await Promise.all(all)
  const secs = (performance.now() - t0) / 1000
  h.afterRound(heightCounter)
  return {
    p50_ms: round(percentile(lat, 0.5)),
    p99_ms: round(percentile(lat, 0.99)),
    msgs_per_s: round(burstCount / secs, 1),
    mb_per_s: round(burstCount * size * (NODES - 1) / secs / 1e6, 1)
  }
}

const verifier = new BlsVerifierPool({ workers: 1 })
const cases = [
  { name: '1KiB', size: KiB, latency: LATENCY_SMALL, burst: BURST_SMALL },
  { name: '1MiB', size: MiB, latency: LATENCY_LARGE, burst: BURST_LARGE }
]
const summary: Record<string, Record<string, number>> = {}
for (const c of cases) {
  const raw = await rawHarness()
  const r = await measure(raw, c.size, c.latency, c.burst)
  await raw.stop()
  emit({ case: c.name, impl: 'raw-gossipsub', nodes: NODES, transport: TRANSPORT, ...r })
  const art = await artifactHarness(verifier)
  const a = await measure(art, c.size, c.latency, c.burst)
  await art.stop()
  emit({ case: c.name, impl: 'artifact-gossip', mode: c.size > 64 * KiB ? 'advert+fetch' : 'inline', verify: VERIFY, nodes: NODES, transport: TRANSPORT, ...a })
  summary[c.name] = { ...a, raw_p50_ms: r.p50_ms, raw_p99_ms: r.p99_ms, raw_msgs_per_s: r.msgs_per_s, ratio_p50: round(a.p50_ms / r.p50_ms, 2) }
  emit({ case: c.name, ratio_p50: summary[c.name]!.ratio_p50, ratio_throughput: round(a.msgs_per_s / r.msgs_per_s, 2) })
}
await verifier.close()
const s = summary['1KiB']!
emit({
  summary: true,
  nodes: NODES,
  transport: TRANSPORT,
  verify: VERIFY,
  p50_ms: s.p50_ms,
  p99_ms: s.p99_ms,
  msgs_per_s: s.msgs_per_s,
  raw_p50_ms: s.raw_p50_ms,
  raw_p99_ms: s.raw_p99_ms,
  raw_msgs_per_s: s.raw_msgs_per_s,
  ratio_p50: s.ratio_p50,
  large_1MiB: summary['1MiB']
})
process.exit(0)
