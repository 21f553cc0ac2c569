/**
 * Certified XNet throughput between two libp2p nodes on loopback TCP, one process:
 * node B pulls certified slices of 1 KiB messages from node A's stream to B
 * (/icnet/xnet/stream/1.0.0), decoding and verifying every slice (merkle proof and
 * threshold signature), while A garbage-collects and refills its stream. Baseline,
 * same run: a raw libp2p stream between the same nodes, in the same direction (A
 * writes, B reads). Also reported: the CPU time of the server's cuts and of the
 * client's verification inside the pull, so the rest (transport, framing,
 * scheduling) can be read off.
 *
 *   node bench/dist/run.js xnet-stream [--mib 100] [--raw-mib 256] [--pipeline 4] [--chunk 1000] [--rounds 4] [--root-workers 1] [--root-pending 32]
 */
import '@icnet/types/polyfill'
import type { Stream } from '@libp2p/interface'
import { dealThresholdKeys } from '@icnet/crypto'
import { createTestNode, stopAll } from '@icnet/test-utils'
import { canisterIdFromU64, subnetIdFromPublicKeyDer, type Request } from '@icnet/types'
import {
  type CertifiedStreamStore,
  InMemoryCertifiedStreamStore,
  StaticRegistryView,
  SliceRootWorkers,
  verifyCertifiedSlice,
  xnetStream,
  type XNetStreamService
} from '@icnet/xnet-stream'

function arg (name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? Number(process.argv[i + 1]) : dflt
}
const TARGET_MIB = arg('mib', 100)
const RAW_MIB = arg('raw-mib', 256)
const MSG_BYTES = 1024
const SLICE_BYTES = 4 * 1024 * 1024
const PIPELINE = arg('pipeline', 4)
const CHUNK_MSGS = arg('chunk', 1000)
const ROUNDS = arg('rounds', 4)
/** Worker threads that recompute pulled slices' roots (0: on the event loop, inside verification). */
const ROOT_WORKERS = arg('root-workers', 1)
/** Slices at most waiting for the root workers; more are verified on the event loop. */
const ROOT_PENDING = arg('root-pending', 32)

function subnet (seed: string): { keys: ReturnType<typeof dealThresholdKeys>, id: ReturnType<typeof subnetIdFromPublicKeyDer> } {
  const keys = dealThresholdKeys({ n: 4, t: 3, seed: new TextEncoder().encode(seed) })
  return { keys, id: subnetIdFromPublicKeyDer(keys.publicKeyDer) }
}

function message (seq: number): Request {
  const methodPayload = new Uint8Array(MSG_BYTES)
  new DataView(methodPayload.buffer).setUint32(0, seq)
  return { kind: 'request', receiver: canisterIdFromU64(1), sender: canisterIdFromU64(2), methodName: 'bench', methodPayload, senderReplyCallback: seq }
}

async function waitDrain (s: Stream): Promise<void> {
  if (!s.writableNeedsDrain) return
  await new Promise<void>((resolve, reject) => {
    const done = (): void => { s.removeEventListener('drain', ok); s.removeEventListener('close', ko) }
    const ok = (): void => { done(); resolve() }
    const ko = (e: Event): void => { done(); reject((e as unknown as { error?: Error }).error ?? new Error('closed')) }
    s.addEventListener('drain', ok)
    s.addEventListener('close', ko)
  })
}

const a = subnet('bench-xnet-a')
const b = subnet('bench-xnet-b')
const store = new InMemoryCertifiedStreamStore({ subnetId: a.id, shares: a.keys.shares, threshold: 3 })
let registry!: StaticRegistryView
let serverCutMs = 0
const timedStore: CertifiedStreamStore = {
  encodeSlice (destination, query) {
    const t0 = performance.now()
    try { return store.encodeSlice(destination, query) } finally { serverCutMs += performance.now() - t0 }
  }
}
const nodeA = await createTestNode({ services: { xnet: xnetStream({ subnetId: a.id, registry: () => registry, store: timedStore }) } })
const rootWorkers = ROOT_WORKERS > 0 ? new SliceRootWorkers({ workers: ROOT_WORKERS, maxPending: ROOT_PENDING }) : undefined
const nodeB = await createTestNode({ services: { xnet: xnetStream({ subnetId: b.id, registry: () => registry, rootWorkers: rootWorkers ?? false }) } })
registry = new StaticRegistryView({
  subnets: [
    { id: a.id, type: 'application', nodes: [nodeA.peerId.toString()], publicKey: a.keys.publicKey, publicKeyDer: a.keys.publicKeyDer },
    { id: b.id, type: 'application', nodes: [nodeB.peerId.toString()], publicKey: b.keys.publicKey, publicKeyDer: b.keys.publicKeyDer }
  ],
  nodes: [nodeA, nodeB].map((n, i) => ({ id: n.peerId.toString(), subnetId: i === 0 ? a.id : b.id, p2pAddresses: n.getMultiaddrs().map(x => x.toString()), blsPublicKey: new Uint8Array(48) }))
})
await nodeB.dial(nodeA.getMultiaddrs()[0]!)
const xnetB = (nodeB.services as unknown as { xnet: XNetStreamService }).xnet

// The machine this runs on may be shared: load drifts over a run. So the two
// measurements alternate in ROUNDS rounds (certified, then raw) and each total
// is summed over all rounds, so both see the same conditions.

// ---- certified pull
const stream = store.stream(b.id)
let seq = 0
const fill = (): void => { while (stream.tryPush(message(seq))) seq++ }
fill()
store.certify()
let received = 0
let payloadBytes = 0
let pullMs = 0
let certifyMs = 0
let verifyMs = 0
let slices = 0

/** Pulls whole certified heights until `target` more payload bytes arrived. */
async function certifiedRound (target: number): Promise<void> {
  const goal = payloadBytes + target
  while (payloadBytes < goal) {
    const header = store.certifiedHeader(b.id)!
    let next = received
    const t0 = performance.now()
    // Pipelined: up to PIPELINE disjoint sub-ranges in flight, a new one sent as soon as
    // one completes (the client's congestion window per peer decides how many go out).
    let issued = next
    const one = async (begin: number, count: number): Promise<void> => {
      const got = await xnetB.pull(a.id, { msgBegin: begin, msgLimit: count, byteLimit: SLICE_BYTES }, slice => {
        const v0 = performance.now()
        verifyCertifiedSlice(slice, { ourSubnet: b.id, sourceSubnet: a.id, registry })
        verifyMs += performance.now() - v0
        for (const m of slice.messages) payloadBytes += m.bytes.length
        return slice.messages.length
      })
      slices++
      next += got
      if (got < count) await one(begin + got, count - got) // cut short by the byte limit
    }
    const lane = async (): Promise<void> => {
      while (issued < header.end) {
        const begin = issued
        issued = Math.min(header.end, issued + CHUNK_MSGS)
        await one(begin, issued - begin)
      }
    }
    await Promise.all(Array.from({ length: PIPELINE }, lane))
    pullMs += performance.now() - t0
    received = next
    // A learns B's signals (as it would from B's reverse stream), GCs and refills.
    const t1 = performance.now()
    stream.discardMessagesBefore(received, [])
    fill()
    store.certify()
    certifyMs += performance.now() - t1
  }
}

// ---- raw libp2p stream baseline, same nodes, same direction (A writes, B reads)
const RAW_PROTOCOL = '/icnet/bench/raw/1.0.0'
const rawRoundBytes = Math.ceil(RAW_MIB / ROUNDS) * 1024 * 1024
let rawBytes = 0
let rawMs = 0
await nodeA.handle(RAW_PROTOCOL, async (s) => {
  const chunk = new Uint8Array(64 * 1024)
  for (let sent = 0; sent < rawRoundBytes; sent += chunk.length) {
    if (!s.send(chunk)) await waitDrain(s)
  }
  await s.close().catch(() => {})
}, { maxInboundStreams: 1 })

async function rawRound (): Promise<void> {
  const r0 = performance.now()
  const raw = await nodeB.dialProtocol(nodeA.getMultiaddrs()[0]!, RAW_PROTOCOL)
  let got = 0
  for await (const chunk of raw) {
    got += chunk.byteLength
    if (got >= rawRoundBytes) break
  }
  rawMs += performance.now() - r0
  rawBytes += got
  await raw.close().catch(() => {})
}

for (let round = 0; round < ROUNDS; round++) {
  await certifiedRound(Math.ceil(TARGET_MIB / ROUNDS) * 1024 * 1024)
  await rawRound()
}
await stopAll([nodeA, nodeB])
await rootWorkers?.close()
const workerStats = rootWorkers?.stats ?? { workerMs: 0, slices: 0 }

const messagesPerS = received / (pullMs / 1000)
const payloadMbPerS = payloadBytes / 1e6 / (pullMs / 1000)
const rawMbPerS = rawBytes / 1e6 / (rawMs / 1000)
console.log(JSON.stringify({
  phase: 'certified-pull',
  messages: received,
  slices,
  payload_bytes: payloadBytes,
  pull_s: +(pullMs / 1000).toFixed(3),
  server_cut_s: +(serverCutMs / 1000).toFixed(3),
  client_verify_s: +(verifyMs / 1000).toFixed(3),
  client_root_worker_s: +(workerStats.workerMs / 1000).toFixed(3),
  client_root_worker_slices: workerStats.slices,
  certify_s: +(certifyMs / 1000).toFixed(3)
}))
console.log(JSON.stringify({ phase: 'raw-stream', bytes: rawBytes, s: +(rawMs / 1000).toFixed(3) }))
console.log(JSON.stringify({
  bench: 'xnet-stream',
  message_bytes: MSG_BYTES,
  messages_per_s: Math.round(messagesPerS),
  payload_mb_per_s: +payloadMbPerS.toFixed(1),
  raw_stream_mb_per_s: +rawMbPerS.toFixed(1),
  ratio: +(payloadMbPerS / rawMbPerS).toFixed(3),
  server_cut_share: +(serverCutMs / pullMs).toFixed(2),
  client_verify_share: +(verifyMs / pullMs).toFixed(2),
  client_root_worker_share: +(workerStats.workerMs / pullMs).toFixed(2),
  rounds: ROUNDS,
  slices,
  slice_bytes_limit: SLICE_BYTES,
  pipeline: PIPELINE,
  root_workers: ROOT_WORKERS,
  root_pending: ROOT_PENDING,
  chunk_messages: CHUNK_MSGS
}))
