/**
 * Certified XNet throughput between two libp2p nodes on loopback TCP: node B
 * pulls certified slices of 1 KiB messages from node A's stream to B
 * (/icnet/xnet/stream/1.0.0), decoding and verifying every slice (merkle proof and
 * threshold signature), while A garbage-collects and refills its stream. Baseline,
 * same run: a raw libp2p stream between the same nodes, in the same direction (A
 * writes, B reads). Also reported: the CPU time of the server's cuts and of the
 * client's verification inside the pull, so the rest (transport, framing,
 * scheduling) can be read off.
 *
 * Layouts (`--layout`): `two-process` (default) runs node A in a child process and
 * node B in this one, as two nodes are in any deployment, so A's cutting and
 * encryption overlap B's decryption and verification; `one-process` runs both
 * nodes on this process's event loop. The raw baseline always runs between the
 * same two nodes as the certified pull.
 *
 * Modes (`--mode`): `per-height` (default) pulls a whole certified height, then A
 * garbage-collects, refills and certifies (not timed); `steady` overlaps heights:
 * B signals its expected index every `--signal-every` messages while it pulls, A
 * collects, refills and certifies meanwhile, and the timed phase includes A's
 * certifications.
 *
 *   node bench/dist/run.js xnet-stream [--mode per-height|steady] [--signal-every 9000] [--slow-start 0] [--layout two-process|one-process] [--mib 100] [--raw-mib 256] [--pipeline 8] [--verifying 4] [--chunk 1000] [--rounds 4] [--root-workers 1] [--root-pending 32] [--pull-windows <file>]
 */
import '@icnet/types/polyfill'
import { fork, type ChildProcess } from 'node:child_process'
import { appendFileSync, readdirSync, readFileSync } from 'node:fs'
import { loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createTestNode } from '@icnet/test-utils'
import { CWND_MAX, SliceRootWorkers, verifyCertifiedSlice, xnetStream, type StaticRegistryView, type XNetStreamService } from '@icnet/xnet-stream'
import {
  benchRegistry,
  benchSubnets,
  MSG_BYTES,
  nodeInfo,
  RAW_PROTOCOL,
  SERVING_NODE_FLAG,
  ServingNode,
  servingNodeOverIpc,
  type ServingNodeApi
} from './_xnet-stream-serving-node.js'

function arg (name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? Number(process.argv[i + 1]) : dflt
}
function textArg (name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1]! : dflt
}
const LAYOUT = textArg('layout', 'two-process')
if (LAYOUT !== 'two-process' && LAYOUT !== 'one-process') throw new RangeError(`--layout two-process|one-process, not ${LAYOUT}`)
/**
 * `per-height` (default): A refills and certifies only when B has a whole height;
 * certification time is reported (`certify_s`) but left out of the pull time.
 * `steady`: B's signals free A's stream while B pulls and A certifies new heights
 * meanwhile, as a live stream advances; certification runs inside the pull time.
 */
const MODE = textArg('mode', 'per-height')
if (MODE !== 'steady' && MODE !== 'per-height') throw new RangeError(`--mode steady|per-height, not ${MODE}`)
/** The first request of a height (steady mode: of a round) asks for this many messages, each next one twice as many up to --chunk (0: off). */
const SLOW_START = arg('slow-start', 0)
/** Steady mode: B signals its expected index to A each time it advanced by this many messages. */
const SIGNAL_EVERY = arg('signal-every', 9000)
const TARGET_MIB = arg('mib', 100)
const RAW_MIB = arg('raw-mib', 256)
const SLICE_BYTES = 4 * 1024 * 1024
/** Requests kept in flight: the client's largest congestion window per peer (CWND_MAX). */
const PIPELINE = arg('pipeline', CWND_MAX)
/**
 * Pulls beyond PIPELINE whose slices are being verified: a request leaves the client's
 * congestion window when it is answered, so the next one goes out while the slice is
 * verified. PIPELINE + VERIFYING pulls run at once; at most CWND_MAX are on the wire.
 */
const VERIFYING = arg('verifying', 4)
const LANES = PIPELINE + VERIFYING
const CHUNK_MSGS = arg('chunk', 1000)
const ROUNDS = arg('rounds', 4)
/** Worker threads that recompute pulled slices' roots (0: on the event loop, inside verification). */
const ROOT_WORKERS = arg('root-workers', 1)
/** Slices at most waiting for the root workers; more are verified on the event loop. */
const ROOT_PENDING = arg('root-pending', 32)
/**
 * Appends each pull phase's [start, end) in microseconds of the monotonic clock (the
 * clock of `--cpu-prof` samples) to this file, so a profile can be cut to the pulls.
 */
const PULL_WINDOWS = process.argv.includes('--pull-windows') ? textArg('pull-windows', '') : undefined

/** Node A: here, or in a child process that dies with this one. */
function startServingNode (): { api: ServingNodeApi, child?: ChildProcess } {
  if (LAYOUT === 'one-process') return { api: new ServingNode() }
  const script = join(dirname(fileURLToPath(import.meta.url)), '_xnet-stream-serving-node.js')
  const child = fork(script, [SERVING_NODE_FLAG], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] })
  child.on('exit', (code, signal) => {
    if (!stopping) {
      console.error(`the serving node exited (${code ?? signal}) before the benchmark ended`)
      process.exit(1)
    }
  })
  // However this process ends, the child goes with it (it also exits when the IPC channel closes).
  process.on('exit', () => { child.kill('SIGKILL') })
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => { child.kill('SIGKILL'); process.exit(130) })
  return { api: servingNodeOverIpc(child), child }
}
let stopping = false

const { a, b } = benchSubnets()
const rawRoundBytes = Math.ceil(RAW_MIB / ROUNDS) * 1024 * 1024
const serving = startServingNode()
const nodeA = await serving.api.start({ rawRoundBytes })
let registry!: StaticRegistryView
const rootWorkers = ROOT_WORKERS > 0 ? new SliceRootWorkers({ workers: ROOT_WORKERS, maxPending: ROOT_PENDING }) : undefined
const nodeB = await createTestNode({ services: { xnet: xnetStream({ subnetId: b.id, registry: () => registry, rootWorkers: rootWorkers ?? false }) } })
registry = benchRegistry({ a, b }, nodeA, nodeInfo(nodeB))
await serving.api.setClient(nodeInfo(nodeB))
const xnetB = (nodeB.services as unknown as { xnet: XNetStreamService }).xnet
// B connects to A from the registry's addresses, as a node of a deployment does
// (one message, not measured); the raw baseline then uses the same connection.
const warmUp = await xnetB.pull(a.id, { msgBegin: 0, msgLimit: 1 }, slice => {
  verifyCertifiedSlice(slice, { ourSubnet: b.id, sourceSubnet: a.id, registry })
  return slice.messages[0]!.bytes.length
})
// A slice large enough for the root worker, not measured either: the worker thread starts
// (and loads its modules) once in a node's life, not inside the first timed pull.
await xnetB.pull(a.id, { msgBegin: 0, msgLimit: 200 }, slice => { verifyCertifiedSlice(slice, { ourSubnet: b.id, sourceSubnet: a.id, registry }) })
const peerA = nodeB.getConnections().find(c => c.remotePeer.toString() === nodeA.peerId)!.remotePeer

// The machine this runs on may be shared: load drifts over a run. So the two
// measurements alternate in ROUNDS rounds (certified, then raw) and each total
// is summed over all rounds, so both see the same conditions.

// ---- certified pull
let certifiedEnd = nodeA.end
let received = 0
let payloadBytes = 0
let pullMs = 0
let certifyMs = 0
let verifyMs = 0
let slices = 0
let clientCpuMs = 0
let certifications = 0

/**
 * CPU time by thread, from Linux's scheduler statistics (/proc/<pid>/task/<tid>/schedstat:
 * nanoseconds on a CPU, and nanoseconds runnable but waiting for one): a process's main
 * thread (its event loop) apart from its other threads (worker threads, GC helpers,
 * libuv), which `process.cpuUsage()` lumps together. Empty where /proc is not there.
 */
type ThreadTimes = Map<number, { run: number, wait: number }>
function threadTimes (pid: number | undefined): ThreadTimes {
  const out: ThreadTimes = new Map()
  if (pid === undefined) return out
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        const [run, wait] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ').map(Number)
        out.set(Number(tid), { run: run! / 1e6, wait: wait! / 1e6 })
      } catch {} // the thread ended meanwhile
    }
  } catch {}
  return out
}
/** Milliseconds on a CPU and waiting for one, main thread and the others, between two readings. */
interface CpuSplit { loop: number, loopWait: number, threads: number }
const noCpu = (): CpuSplit => ({ loop: 0, loopWait: 0, threads: 0 })
function addSplit (into: CpuSplit, pid: number | undefined, before: ThreadTimes, after: ThreadTimes): void {
  for (const [tid, t] of after) {
    const b = before.get(tid) ?? { run: 0, wait: 0 }
    if (tid === pid) { into.loop += t.run - b.run; into.loopWait += t.wait - b.wait } else into.threads += t.run - b.run
  }
}
/** The serving node's process, if it is not this one (its threads are read from here, no IPC). */
const servingPid = (): number | undefined => serving.child?.pid
const clientPull = noCpu()
const serverPull = noCpu()
const clientRaw = noCpu()
const serverRaw = noCpu()
/** Reads both processes' threads; the function it returns adds what they used since to `client` and `server`. */
function cpuSpan (client: CpuSplit, server: CpuSplit): () => void {
  const c0 = threadTimes(process.pid)
  const s0 = threadTimes(servingPid())
  return () => {
    addSplit(client, process.pid, c0, threadTimes(process.pid))
    addSplit(server, servingPid(), s0, threadTimes(servingPid()))
  }
}

/**
 * Starts a timed pull phase; the function it returns ends it, adding its wall time to
 * the pull time, its CPU time to the client's, and its window to PULL_WINDOWS.
 */
function pullPhase (): () => void {
  const endCpu = cpuSpan(clientPull, serverPull)
  const t0 = performance.now()
  const w0 = process.hrtime.bigint() / 1000n
  const c0 = process.cpuUsage()
  return () => {
    pullMs += performance.now() - t0
    const c1 = process.cpuUsage(c0)
    endCpu()
    if (PULL_WINDOWS !== undefined) appendFileSync(PULL_WINDOWS, `${w0} ${process.hrtime.bigint() / 1000n}\n`)
    clientCpuMs += (c1.user + c1.system) / 1000
  }
}

/** Slow start: the first requests (of a height, or of a steady round) are smaller, so the first responses come sooner. */
function requestSize (requestNo: number): number {
  return SLOW_START > 0 ? Math.min(CHUNK_MSGS, SLOW_START * 2 ** Math.min(requestNo, 20)) : CHUNK_MSGS
}

/**
 * Pulls one slice of `[begin, begin + count)` and verifies it (timed, counted), as both
 * modes do; returns how many messages it had (fewer than `count` if the byte limit cut it).
 */
async function pullVerified (begin: number, count: number): Promise<number> {
  const got = await xnetB.pull(a.id, { msgBegin: begin, msgLimit: count, byteLimit: SLICE_BYTES }, slice => {
    const v0 = performance.now()
    verifyCertifiedSlice(slice, { ourSubnet: b.id, sourceSubnet: a.id, registry })
    verifyMs += performance.now() - v0
    for (const m of slice.messages) payloadBytes += m.bytes.length
    return slice.messages.length
  })
  slices++
  return got
}

/** Pulls whole certified heights until `target` more payload bytes arrived. */
async function certifiedRound (target: number): Promise<void> {
  const goal = payloadBytes + target
  while (payloadBytes < goal) {
    const end = certifiedEnd
    let next = received
    const endPhase = pullPhase()
    // Pipelined: up to LANES disjoint sub-ranges pulled at once, a new one sent as soon as
    // one is answered (the client's congestion window per peer decides how many go out).
    let issued = next
    const one = async (begin: number, count: number): Promise<void> => {
      const got = await pullVerified(begin, count)
      next += got
      if (got < count) await one(begin + got, count - got) // cut short by the byte limit
    }
    let requestNo = 0
    const lane = async (): Promise<void> => {
      while (issued < end) {
        const begin = issued
        issued = Math.min(end, issued + requestSize(requestNo++))
        await one(begin, issued - begin)
      }
    }
    await Promise.all(Array.from({ length: LANES }, lane))
    endPhase()
    received = next
    // A learns B's signals (as it would from B's reverse stream), GCs and refills.
    const advanced = await serving.api.advance(received)
    certifiedEnd = advanced.end
    certifyMs += advanced.certifyMs
    certifications++
  }
}


// ---- certified pull, steady state (`--mode steady`): heights overlap as on a live stream.
// B tells A its expected index every SIGNAL_EVERY verified messages (as its signals
// would), without stopping its pulls; A garbage-collects what B has, refills up to the stream limit and certifies
// a new height while B's other requests are in flight, so B's next requests find a
// newer certified end and the pipeline does not drain between heights. The pull time
// is the wall time of the whole phase: A's certifications run inside it.

/** One message's bytes on the wire (the warm-up's): a round's payload target in messages. */
const messageBytes = warmUp

async function steadyRound (target: number): Promise<void> {
  const roundEnd = received + Math.ceil(target / messageBytes)
  const endPhase = pullPhase()
  let issued = received
  let requestNo = 0
  /** Verified ranges not yet joined to the prefix `[.., received)`: begin -> end. */
  const done = new Map<number, number>()
  /** Lanes waiting for a newer certified end. */
  let waiting: Array<() => void> = []
  const newerEnd = async (): Promise<void> => { await new Promise<void>(resolve => waiting.push(resolve)) }
  let signalling: Promise<void> | undefined
  /** The expected index B last told A. */
  let signalled = received
  const signal = (): void => {
    if (signalling !== undefined) return
    const upTo = received
    signalled = upTo
    signalling = serving.api.advance(upTo).then(advanced => {
      certifiedEnd = Math.max(certifiedEnd, advanced.end)
      certifyMs += advanced.certifyMs
      certifications++
      signalling = undefined
      const woken = waiting
      waiting = []
      for (const resolve of woken) resolve()
      if (received - upTo >= SIGNAL_EVERY || (received > upTo && received === issued && issued >= certifiedEnd)) signal()
    })
  }
  const one = async (begin: number, count: number): Promise<void> => {
    const got = await pullVerified(begin, count)
    done.set(begin, begin + got)
    const before = received
    for (let end = done.get(received); end !== undefined; end = done.get(received)) {
      done.delete(received)
      received = end
    }
    // Signal every SIGNAL_EVERY messages (a certification costs A a whole tree's hashing and a
    // threshold signature, whatever it adds), or at once when B has nothing left to ask for.
    if (received > before && received < roundEnd &&
      (received - signalled >= SIGNAL_EVERY || (received === issued && issued >= certifiedEnd))) signal()
    if (got < count) await one(begin + got, count - got) // cut short by the byte limit
  }
  const lane = async (): Promise<void> => {
    while (issued < roundEnd) {
      const available = Math.min(certifiedEnd, roundEnd) - issued
      if (available <= 0) { await newerEnd(); continue }
      const size = requestSize(requestNo++)
      const begin = issued
      issued += Math.min(size, available)
      await one(begin, issued - begin)
    }
  }
  await Promise.all(Array.from({ length: LANES }, lane))
  // B has the round; A frees the stream and certifies the next height (inside the phase).
  await signalling
  signal()
  await signalling
  endPhase()
}

// ---- raw libp2p stream baseline, same nodes, same direction (A writes, B reads)
let rawBytes = 0
let rawMs = 0

async function rawRound (): Promise<void> {
  const endCpu = cpuSpan(clientRaw, serverRaw)
  const r0 = performance.now()
  const raw = await nodeB.dialProtocol(peerA, RAW_PROTOCOL)
  let got = 0
  for await (const chunk of raw) {
    got += chunk.byteLength
    if (got >= rawRoundBytes) break
  }
  rawMs += performance.now() - r0
  endCpu()
  rawBytes += got
  await raw.close().catch(() => {})
  // A's side of the close (its stream's events and buffers) would otherwise land in the next certified round.
  await serving.api.rawClosed()
}

for (let round = 0; round < ROUNDS; round++) {
  const target = Math.ceil(TARGET_MIB / ROUNDS) * 1024 * 1024
  if (MODE === 'steady') await steadyRound(target)
  else await certifiedRound(target)
  await rawRound()
}
const serverStats = await serving.api.stats()
stopping = true
await nodeB.stop()
await serving.api.stop()
serving.child?.disconnect()
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
  server_cut_s: +(serverStats.serverCutMs / 1000).toFixed(3),
  client_verify_s: +(verifyMs / 1000).toFixed(3),
  client_cpu_s: +(clientCpuMs / 1000).toFixed(3),
  client_root_worker_s: +(workerStats.workerMs / 1000).toFixed(3),
  client_root_worker_slices: workerStats.slices,
  certify_s: +(certifyMs / 1000).toFixed(3),
  certifications
}))
console.log(JSON.stringify({ phase: 'raw-stream', bytes: rawBytes, s: +(rawMs / 1000).toFixed(3) }))
/** CPU milliseconds per MB (of payload, or of raw bytes) by process and thread; wait: runnable, but no CPU free. */
const perMb = (c: CpuSplit, bytes: number, ms: number): Record<string, number> => ({
  loop_cpu_ms_per_mb: +(c.loop / (bytes / 1e6)).toFixed(2),
  threads_cpu_ms_per_mb: +(c.threads / (bytes / 1e6)).toFixed(2),
  loop_wait_share: +(c.loopWait / ms).toFixed(2)
})
const twoProcesses = serving.child !== undefined
console.log(JSON.stringify({
  phase: 'cpu-by-thread',
  certified_client: perMb(clientPull, payloadBytes, pullMs),
  certified_server: twoProcesses ? perMb(serverPull, payloadBytes, pullMs) : 'in the client',
  raw_client: perMb(clientRaw, rawBytes, rawMs),
  raw_server: twoProcesses ? perMb(serverRaw, rawBytes, rawMs) : 'in the client'
}))
console.log(JSON.stringify({
  bench: 'xnet-stream',
  mode: MODE,
  layout: LAYOUT,
  message_bytes: MSG_BYTES,
  messages_per_s: Math.round(messagesPerS),
  payload_mb_per_s: +payloadMbPerS.toFixed(1),
  raw_stream_mb_per_s: +rawMbPerS.toFixed(1),
  ratio: +(payloadMbPerS / rawMbPerS).toFixed(3),
  server_cut_share: +(serverStats.serverCutMs / pullMs).toFixed(2),
  client_verify_share: +(verifyMs / pullMs).toFixed(2),
  client_cpu_share: +(clientCpuMs / pullMs).toFixed(2),
  client_root_worker_share: +(workerStats.workerMs / pullMs).toFixed(2),
  // Both processes' CPU per MB (threads' scheduler time, all threads): certified payload, then raw bytes.
  cpu_ms_per_mb: +((clientPull.loop + clientPull.threads + serverPull.loop + serverPull.threads) / (payloadBytes / 1e6)).toFixed(2),
  raw_cpu_ms_per_mb: +((clientRaw.loop + clientRaw.threads + serverRaw.loop + serverRaw.threads) / (rawBytes / 1e6)).toFixed(2),
  rounds: ROUNDS,
  slices,
  slice_bytes_limit: SLICE_BYTES,
  pipeline: PIPELINE,
  verifying: VERIFYING,
  root_workers: ROOT_WORKERS,
  root_pending: ROOT_PENDING,
  chunk_messages: CHUNK_MSGS,
  slow_start: SLOW_START,
  signal_every: SIGNAL_EVERY,
  load_average: +loadavg()[0]!.toFixed(2)
}))
