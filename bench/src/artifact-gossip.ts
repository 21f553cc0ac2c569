/**
 * `npm run bench -- artifact-gossip [--nodes=13] [--transport=tcp|memory] [--latency=200] [--burst=400] [--window=32] [--verify=false] [--cases=1KiB,1MiB]`
 *
 * Propagation latency (publish on one node until delivery on each other node; p50/p99
 * over all deliveries, one artifact in flight at a time, publisher rotating) and
 * throughput (bursts from one publisher, at most `--window` in flight, until every node
 * holds every artifact) of artifact gossip, for 1 KiB artifacts (inline) and 1 MiB
 * artifacts (advert + fetch), across a full mesh of `--nodes` libp2p nodes in this process.
 *
 * Baseline, same run: raw gossipsub on its own mesh of as many nodes, same transport, the
 * same gossipsub options (those of `artifactGossipsubOptions`: StrictNoSign, score
 * parameters, mesh defaults) and the same topic string; only the message id (SHA-256 of
 * the data) and synchronous validation differ. Both meshes live side by side and the
 * measurements alternate between them, so machine load hits both alike. Also reported:
 * CPU per artifact (process CPU while it was in flight, net of idle CPU), and for
 * artifact gossip when gossipsub handed the message over (`arrival`) and the time from
 * there to the `artifact` event (`service`).
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
  artifactGossip, artifactGossipsubOptions, artifactTopic, type GossipsubRouter, type ArtifactGossipService, type ArtifactKind, type SignatureVerifier
} from '@icnet/artifact-gossip'
import { connectMesh, createTestNode, stopAll, waitFor, type TestTransport } from '@icnet/test-utils'
import { Principal, RoutingTable, concatBytes, readU64be, u64be, type RegistryView, type SubnetId } from '@icnet/types'
import { gossipsub, type GossipSub, type GossipSubComponents, type GossipsubOpts } from '@libp2p/gossipsub'
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
const WINDOW = Number(args.get('window') ?? 32)
const CASES = new Set((args.get('cases') ?? '1KiB,1MiB').split(','))
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

/** Gossipsub's public interface plus the public methods of its class used here. */
type Pubsub = GossipSub & GossipsubRouter

function diagnose (nodes: Array<Libp2p<{ pubsub: Pubsub }>>): string {
  const id = nodes[0]!.peerId.toString()
  const scores = nodes.slice(1).map(n => n.services.pubsub.getScore(id).toFixed(1))
  return `node 0 connections ${nodes[0]!.getConnections().length}, scored by peers ${scores.join(' ')}`
}

/**
 * Connections closed during a run, redialled. On a heavily loaded machine libp2p's
 * connection monitor closes connections whose pings wait more than 5 s (behind a publisher's
 * queued megabytes, or a starved event loop); gossipsub then recovers the messages that
 * were in flight through IHAVE/IWANT once the redial is up. Reported per run, so a figure
 * taken while connections dropped is recognisable.
 */
let reconnects = 0
let stopping = false

function keepConnected (nodes: Libp2p[]): void {
  const index = new Map(nodes.map((n, i) => [n.peerId.toString(), i]))
  nodes.forEach((n, i) => {
    n.addEventListener('peer:disconnect', evt => {
      const j = index.get(evt.detail.toString())
      // One side redials (the lower index), so the pair does not race into two connections.
      if (stopping || j == null || j < i) return
      reconnects++
      const redial = async (attempt: number): Promise<void> => {
        if (stopping || n.getConnections(evt.detail).length > 0) return
        try {
          await n.dial(nodes[j]!.getMultiaddrs()[0]!)
        } catch {
          if (attempt < 10) setTimeout(() => { void redial(attempt + 1) }, 200 * attempt)
        }
      }
      setTimeout(() => { void redial(1) }, 50)
    })
  })
}

const round = (x: number, d = 3): number => Math.round(x * 10 ** d) / 10 ** d

const SUBNET: SubnetId = Principal.fromUint8Array(new Uint8Array([0x5e, 0x70, 0xbe, 0x0c, 0x01, 0x02]))
const TOPIC = artifactTopic(SUBNET, 'blob')

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
  /** Called with (node index, artifact key) when gossipsub hands a message to the service (artifact path only). */
  onArrive?(fn: (node: number, key: string) => void): void
  keyOf(bytes: Uint8Array): string
  afterRound(height: number): void
  /** For a stuck run: how the other nodes score node 0 (the burst publisher), and its connections. */
  diagnose(): string
  stop(): Promise<void>
}

/**
 * The gossipsub options both harnesses share, so the ratio compares like with like: the
 * artifact service's own options (StrictNoSign, score parameters and thresholds, mesh
 * defaults, inbound limit) on the same topic string. The raw baseline only swaps the
 * message id for SHA-256 of the data (the same one hash per message the artifact id costs)
 * and validates synchronously, as plain gossipsub does.
 */
function sharedGossipsubOptions (registry: RegistryView): Partial<GossipsubOpts> {
  return { ...artifactGossipsubOptions({ subnetId: SUBNET, registry, kinds: ['blob'] }), maxInboundDataLength: 4 * MiB }
}

async function rawHarness (): Promise<Harness> {
  const registry = new BenchRegistry()
  const nodes: Array<Libp2p<{ pubsub: Pubsub }>> = []
  for (let i = 0; i < NODES; i++) {
    const node = await createTestNode({
      transport: TRANSPORT,
      services: {
        pubsub: gossipsub({
          ...sharedGossipsubOptions(registry),
          msgIdFn: m => createHash('sha256').update(m.data ?? new Uint8Array(0)).digest(),
          asyncValidation: false
        }) as (components: GossipSubComponents) => Pubsub
      }
    })
    registry.members.add(node.peerId.toString())
    nodes.push(node)
  }
  for (const n of nodes) n.services.pubsub.subscribe(TOPIC)
  await connectMesh(nodes)
  keepConnected(nodes)
  await waitFor(() => nodes.every(n => n.services.pubsub.getSubscribers(TOPIC).length >= NODES - 1 && n.services.pubsub.getMeshPeers(TOPIC).length > 0), { timeoutMs: 120_000, what: 'raw mesh' })
  const listeners: Array<(node: number, key: string) => void> = []
  nodes.forEach((n, i) => {
    n.services.pubsub.addEventListener('message', evt => {
      const key = Buffer.from(evt.detail.data.subarray(0, 32)).toString('hex')
      for (const l of listeners) l(i, key)
    })
  })
  return {
    nodes,
    publish: async (from, bytes) => { await nodes[from]!.services.pubsub.publish(TOPIC, bytes) },
    onDeliver: fn => { listeners.push(fn) },
    // Blobs start with a random-enough prefix: height + key + signature/payload.
    keyOf: bytes => Buffer.from(bytes.subarray(0, 32)).toString('hex'),
    afterRound: () => {},
    diagnose: () => diagnose(nodes),
    stop: async () => { await stopAll(nodes) }
  }
}

async function artifactHarness (verifier: SignatureVerifier): Promise<Harness> {
  const registry = new BenchRegistry()
  const nodes: Array<Libp2p<{ pubsub: Pubsub, artifacts: ArtifactGossipService }>> = []
  for (let i = 0; i < NODES; i++) {
    const node = await createTestNode({
      transport: TRANSPORT,
      services: {
        pubsub: gossipsub(sharedGossipsubOptions(registry)) as (components: GossipSubComponents) => Pubsub,
        artifacts: artifactGossip({ subnetId: SUBNET, registry, verifier, kinds: [{ kind: blobKind }] })
      }
    })
    registry.members.add(node.peerId.toString())
    nodes.push(node)
  }
  await connectMesh(nodes)
  keepConnected(nodes)
  const topic = nodes[0]!.services.artifacts.topic('blob')
  await waitFor(() => nodes.every(n => n.services.pubsub.getSubscribers(topic).length >= NODES - 1 && n.services.pubsub.getMeshPeers(topic).length > 0), { timeoutMs: 60_000, what: 'artifact mesh' })
  const listeners: Array<(node: number, key: string) => void> = []
  nodes.forEach((n, i) => {
    n.services.artifacts.addEventListener('artifact', evt => {
      for (const l of listeners) l(i, evt.detail.id)
    })
  })
  return {
    nodes,
    publish: async (from, bytes) => {
      const res = await nodes[from]!.services.artifacts.publish('blob', bytes)
      // The publisher holds it at once; count that as its own (zero-latency) delivery.
      for (const l of listeners) l(from, res.id)
    },
    onDeliver: fn => { listeners.push(fn) },
    onArrive: fn => {
      nodes.forEach((n, i) => {
        n.services.pubsub.addEventListener('gossipsub:message', evt => { fn(i, evt.detail.msgId) })
      })
    },
    keyOf: bytes => createHash('sha256').update(bytes).digest('hex'),
    afterRound: height => { for (const n of nodes) n.services.artifacts.purgeBelow('blob', height) },
    diagnose: () => diagnose(nodes),
    stop: async () => { await stopAll(nodes) }
  }
}

interface Result {
  p50_ms: number
  p99_ms: number
  cpu_us_per_msg: number
  msgs_per_s: number
  mb_per_s: number
  arrival_p50_ms?: number
  service_p50_ms?: number
  service_p99_ms?: number
  lost: number
}

let heightCounter = 1
const DELIVERY_TIMEOUT_MS = 30_000
const LARGE_SETTLE_MS = 300

/** CPU the process spends (% of one core) while nothing is published: heartbeats, keep-alives. */
async function idleCpuPercent (ms = 2000): Promise<number> {
  const cpu0 = process.cpuUsage()
  await new Promise(resolve => setTimeout(resolve, ms))
  const cpu = process.cpuUsage(cpu0)
  return round((cpu.user + cpu.system) / 10 / ms, 1)
}

/** Delivery bookkeeping for one harness: latency samples, gossipsub arrival samples and CPU time. */
class Tracker {
  readonly samples: number[] = []
  /** Artifact path only: when gossipsub handed the message to the service. */
  readonly arrivals: number[] = []
  /**
   * Artifact path only: per node, from gossipsub's message event to the service's artifact
   * event; 0 when the service delivered inside the message event itself (it listens first).
   */
  readonly service: number[] = []
  cpuUs = 0
  wallUs = 0
  counted = 0
  /** Artifacts given up on (see `within`). */
  lost = 0
  private readonly pending = new Map<string, { t0: number, left: Set<number>, arrivedAt: Map<number, number>, done: () => void }>()

  constructor (readonly name: string, readonly h: Harness) {
    h.onArrive?.((node, key) => {
      const p = this.pending.get(key)
      if (p == null || p.arrivedAt.has(node)) return
      const now = performance.now()
      p.arrivedAt.set(node, now)
      this.arrivals.push(now - p.t0)
    })
    h.onDeliver((node, key) => {
      const p = this.pending.get(key)
      if (p == null || !p.left.delete(node)) return
      const now = performance.now()
      this.samples.push(now - p.t0)
      // Not yet seen arriving: the service delivered within gossipsub's message event.
      const arrived = p.arrivedAt.get(node) ?? now
      if (this.h.onArrive != null) this.service.push(now - arrived)
      if (p.left.size === 0) { this.pending.delete(key); p.done() }
    })
  }

  track (bytes: Uint8Array, from: number): Promise<void> {
    const left = new Set(Array.from({ length: NODES }, (_, i) => i))
    left.delete(from)
    return new Promise<void>(resolve => { this.pending.set(this.h.keyOf(bytes), { t0: performance.now(), left, arrivedAt: new Map(), done: resolve }) })
  }

  /**
   * Waits for `p`. Artifacts not everywhere after DELIVERY_TIMEOUT_MS (published while a
   * connection was down and not recovered by gossip) are counted as lost and given up, so
   * the run goes on; the count is reported.
   */
  async within (p: Promise<unknown>, what: string): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined
    await Promise.race([p, new Promise<void>(resolve => {
      timer = setTimeout(() => {
        const missing = [...this.pending.values()].map(x => [...x.left].join(',')).slice(0, 3)
        console.error(`${this.name}, ${what}: ${this.pending.size} artifact(s) not everywhere within ${DELIVERY_TIMEOUT_MS} ms (missing at nodes ${missing.join(' | ')}; ${this.h.diagnose()})`)
        for (const [key, x] of this.pending) { this.pending.delete(key); this.lost++; x.done() }
        resolve()
      }, DELIVERY_TIMEOUT_MS)
    })]).finally(() => { clearTimeout(timer) })
  }

  /** One artifact in flight: publish and wait until every other node delivered it. */
  async one (from: number, size: number, count: boolean): Promise<void> {
    const bytes = makeBlob(heightCounter++, size)
    const done = this.track(bytes, from)
    const cpu0 = process.cpuUsage()
    const wall0 = performance.now()
    await this.h.publish(from, bytes)
    await this.within(done, 'one artifact')
    const cpu = process.cpuUsage(cpu0)
    if (count) { this.cpuUs += cpu.user + cpu.system; this.wallUs += (performance.now() - wall0) * 1000; this.counted++ }
    if (size > 64 * KiB) {
      this.h.afterRound(heightCounter)
      // Let the mesh go quiet (raw gossipsub keeps forwarding 1 MiB duplicates after the
      // last delivery), so one mesh's tail does not land on the other's next round.
      await new Promise(resolve => setTimeout(resolve, LARGE_SETTLE_MS))
    }
  }
}

/**
 * Latency, interleaved: artifact k goes through raw gossipsub, then through artifact gossip
 * (the order alternates each round), one in flight at a time, publisher rotating. Both
 * meshes live in the process throughout, so both see the same machine load; on a shared
 * machine this is what makes the ratio meaningful. A few warm-up rounds are not counted.
 */
async function measureLatency (trackers: Tracker[], size: number, rounds: number): Promise<void> {
  const warm = 5
  for (let i = 0; i < rounds + warm; i++) {
    if (i === warm) for (const t of trackers) { t.samples.length = 0; t.arrivals.length = 0; t.service.length = 0 }
    const order = i % 2 === 0 ? trackers : [...trackers].reverse()
    for (const t of order) await t.one(i % NODES, size, i >= warm)
  }
}

/**
 * Throughput: bursts from one publisher, each until every node holds every artifact of it,
 * with at most WINDOW artifacts in flight (published, not yet everywhere). Unpaced, a
 * burst queues megabytes on the publisher's connections, and its peers' libp2p connection
 * monitors, whose pings wait behind that queue, time out and close them.
 * Interleaved like latency: the burst is cut into chunks that alternate between the meshes.
 */
async function measureBursts (trackers: Tracker[], size: number, burstCount: number, chunks = 4): Promise<Array<{ msgs_per_s: number, mb_per_s: number }>> {
  const secs = trackers.map(() => 0)
  const sent = trackers.map(() => 0)
  const perChunk = Math.max(1, Math.ceil(burstCount / chunks))
  for (let k = 0; k < chunks; k++) {
    const order = trackers.map((_, i) => i)
    if (k % 2 === 1) order.reverse()
    for (const i of order) {
      const t = trackers[i]!
      const blobs = Array.from({ length: perChunk }, () => makeBlob(heightCounter++, size))
      const t0 = performance.now()
      const all: Array<Promise<void>> = []
      const inFlight = new Set<Promise<void>>()
      for (const b of blobs) {
        while (inFlight.size >= WINDOW) await t.within(Promise.race(inFlight), `burst chunk ${k}`)
        const delivered = t.track(b, 0)
        const tracked = delivered.then(() => { inFlight.delete(tracked) })
        inFlight.add(tracked)
        all.push(delivered)
        await t.h.publish(0, b)
      }
      await t.within(Promise.all(all), `burst chunk ${k}`)
      secs[i]! += (performance.now() - t0) / 1000
      sent[i]! += perChunk
      t.h.afterRound(heightCounter)
    }
  }
  return trackers.map((_, i) => ({
    msgs_per_s: round(sent[i]! / secs[i]!, 1),
    mb_per_s: round(sent[i]! * size * (NODES - 1) / secs[i]! / 1e6, 1)
  }))
}

/**
 * CPU per artifact: process CPU while it was in flight, less what the idle process burns
 * in that time (both meshes' heartbeats and keep-alives), per artifact.
 */
function cpuPerArtifact (t: Tracker, idleCpuPercent: number): number {
  return Math.round(Math.max(0, t.cpuUs - t.wallUs * idleCpuPercent / 100) / Math.max(1, t.counted))
}

function result (t: Tracker, idleCpu: number, burst: { msgs_per_s: number, mb_per_s: number }, lat: number[], arrivals: number[], service: number[]): Result {
  return {
    p50_ms: round(percentile(lat, 0.5)),
    p99_ms: round(percentile(lat, 0.99)),
    cpu_us_per_msg: cpuPerArtifact(t, idleCpu),
    lost: t.lost,
    ...burst,
    ...(arrivals.length > 0 ? { arrival_p50_ms: round(percentile(arrivals, 0.5)) } : {}),
    ...(service.length > 0 ? { service_p50_ms: round(percentile(service, 0.5)), service_p99_ms: round(percentile(service, 0.99)) } : {})
  }
}

// No extra wait for companions: the gossip layer batches itself, and every ms a set waits
// here is added to each hop (see SignatureVerifier).
const verifier = new BlsVerifierPool({ workers: 1, maxWaitMs: 0 })
const cases = [
  { name: '1KiB', size: KiB, latency: LATENCY_SMALL, burst: BURST_SMALL },
  { name: '1MiB', size: MiB, latency: LATENCY_LARGE, burst: BURST_LARGE }
]
const summary: Record<string, Record<string, number>> = {}
for (const c of cases.filter(c => CASES.has(c.name))) {
  const raw = new Tracker('raw gossipsub', await rawHarness())
  const art = new Tracker('artifact gossip', await artifactHarness(verifier))
  const idleCpu = await idleCpuPercent()
  await measureLatency([raw, art], c.size, c.latency)
  const rawLat = [...raw.samples]
  const artLat = [...art.samples]
  const artArrivals = [...art.arrivals]
  const artService = [...art.service]
  const [rawBurst, artBurst] = await measureBursts([raw, art], c.size, c.burst)
  stopping = true
  await raw.h.stop()
  await art.h.stop()
  stopping = false
  const caseReconnects = reconnects
  reconnects = 0
  const r = result(raw, idleCpu, rawBurst, rawLat, [], [])
  const a = result(art, idleCpu, artBurst, artLat, artArrivals, artService)
  emit({ case: c.name, impl: 'raw-gossipsub', nodes: NODES, transport: TRANSPORT, ...r })
  emit({ case: c.name, impl: 'artifact-gossip', mode: c.size > 64 * KiB ? 'advert+fetch' : 'inline', verify: VERIFY, nodes: NODES, transport: TRANSPORT, ...a })
  summary[c.name] = {
    ...a,
    raw_p50_ms: r.p50_ms,
    raw_p99_ms: r.p99_ms,
    raw_cpu_us_per_msg: r.cpu_us_per_msg,
    raw_msgs_per_s: r.msgs_per_s,
    ratio_p50: round(a.p50_ms / r.p50_ms, 2),
    ratio_cpu: round(a.cpu_us_per_msg / r.cpu_us_per_msg, 2)
  }
  emit({ case: c.name, idle_cpu_percent: idleCpu, reconnects: caseReconnects, ratio_p50: summary[c.name]!.ratio_p50, ratio_cpu: summary[c.name]!.ratio_cpu, ratio_throughput: round(a.msgs_per_s / r.msgs_per_s, 2) })
}
await verifier.close()
const s = summary['1KiB'] ?? {}
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
  cpu_us_per_msg: s.cpu_us_per_msg,
  raw_cpu_us_per_msg: s.raw_cpu_us_per_msg,
  ratio_cpu: s.ratio_cpu,
  raw_msgs_per_s: s.raw_msgs_per_s,
  ratio_p50: s.ratio_p50,
  large_1MiB: summary['1MiB']
})
process.exit(0)
