/**
 * The HTTP interface on one node: query calls/s and update calls/s (v3,
 * waiting for the certified reply) through the endpoint with the in-process
 * reference backend (real state tree, threshold certificates, node-signed
 * queries), against a bare node:http server answering the same query response
 * bytes in the same run.
 *
 * Both servers run in one child process (the "node"); the load comes from the
 * parent, so client and server each have their own event loop, as they would
 * on separate machines, and the server's CPU time per request is measured
 * apart from the client's. The client is the same for every case: a raw
 * node:http client with keep-alive sockets (`concurrency` of them, one request
 * in flight on each, closed loop) sending pre-encoded CBOR bodies that differ
 * only in an 8-byte nonce patched into a template (every request has its own
 * request id; the bare server gets the same bodies). So the ratio compares
 * the servers, not client-side encoding (@dfinity/agent is used in the
 * package's tests, not here).
 *
 *   node bench/dist/run.js http [seconds=3] [concurrency=32] [parts=bare,query,update]
 *
 * ICNET_QUERY_SIGNING=thread|inline overrides where the node signs query
 * answers while busy (default: the endpoint's, by the number of cores);
 * ICNET_HTTP_BATCH_WRITES=0 writes every answer at once instead of the
 * answers of a loop turn together (the endpoint's batchWrites, default on).
 */
import { Agent, createServer, request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fork, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { encode, Tagged } from 'cborg'
import { IDL } from '@dfinity/candid'
import { Principal } from '@icnet/types'
import { ED25519_IMPLEMENTATION, httpEndpoint, ReferenceNetwork, encodeProvisionalCreateCanisterArgs, encodeInstallCodeArgs } from '@icnet/http-endpoint'

type ToServer = { kind: 'bare', body: Uint8Array } | { kind: 'usage' } | { kind: 'stop' }
type FromServer =
  | { kind: 'ready', port: number, canister: Uint8Array, canisterText: string, offThreadSigning: boolean, batchWrites: boolean }
  | { kind: 'bare', port: number }
  | { kind: 'usage', cpuMicros: number, loopCpuMicros: number | undefined, rounds: number }
  | { kind: 'stopped' }

const SERVER_FLAG = '--http-bench-server'
if (process.argv.includes(SERVER_FLAG)) {
  await serve()
} else {
  await drive()
}

/** The node: the endpoint over a one-subnet reference network, and (on request) the bare baseline server. */
async function serve (): Promise<void> {
  const network = new ReferenceNetwork({ subnets: 1, nodes: 4, threshold: 3 })
  const node = network.root
  const signing = process.env.ICNET_QUERY_SIGNING
  const batch = process.env.ICNET_HTTP_BATCH_WRITES
  const endpoint = httpEndpoint({
    backend: node,
    maxConcurrent: 256,
    maxQueued: 1024,
    ...(signing === undefined ? {} : { offThreadSigning: signing === 'thread' }),
    ...(batch === undefined ? {} : { batchWrites: batch !== '0' })
  })
  await endpoint.start()
  let bare: Server | undefined
  const send = (m: FromServer): void => { process.send!(m) }
  process.on('message', (m: ToServer) => {
    if (m.kind === 'bare') {
      const body = Buffer.from(m.body)
      // What any node:http server does at least: read the body, answer the bytes.
      bare = createServer((req, res) => {
        req.on('data', () => {})
        req.on('end', () => {
          res.writeHead(200, { 'Content-Type': 'application/cbor', 'Content-Length': body.length })
          res.end(body)
        })
      })
      bare.listen(0, '127.0.0.1', () => { send({ kind: 'bare', port: (bare!.address() as AddressInfo).port }) })
    } else if (m.kind === 'usage') {
      // CPU time of the whole server process (user + system): the cost per request, whatever else runs on the machine.
      const u = process.cpuUsage()
      send({ kind: 'usage', cpuMicros: u.user + u.system, loopCpuMicros: eventLoopThreadCpuMicros(), rounds: node.rounds })
    } else {
      void (async () => {
        await endpoint.stop()
        if (bare !== undefined) await new Promise<void>(resolve => bare!.close(() => { resolve() }))
        send({ kind: 'stopped' })
        process.disconnect()
      })()
    }
  })
  send({ kind: 'ready', port: endpoint.address.port, canister: node.range[0].toUint8Array(), canisterText: node.range[0].toText(), offThreadSigning: endpoint.offThreadSigning, batchWrites: endpoint.batchWrites })
}

/**
 * CPU time of the event-loop thread alone (Linux: /proc/self/task/<pid>/stat,
 * in clock ticks of 10 ms), apart from libuv's pool and V8's helper threads.
 */
function eventLoopThreadCpuMicros (): number | undefined {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // Fields 14 and 15 of stat (utime, stime); the slice starts at field 3.
    return (Number(fields[11]) + Number(fields[12])) * 10_000
  } catch {
    return undefined
  }
}

async function drive (): Promise<void> {
  const seconds = Number(process.argv[2] ?? 3)
  const concurrency = Number(process.argv[3] ?? 32)
  const parts = new Set((process.argv[4] ?? 'bare,query,update').split(','))

  const server: ChildProcess = fork(fileURLToPath(import.meta.url), [SERVER_FLAG], { serialization: 'advanced', stdio: 'inherit' })
  const inbox: FromServer[] = []
  const waiting: Array<(m: FromServer) => void> = []
  server.on('message', (m: FromServer) => { const w = waiting.shift(); if (w !== undefined) w(m); else inbox.push(m) })
  server.on('exit', code => { if (code !== 0 && code !== null) { console.error(`the server process exited with ${code}`); process.exit(1) } })
  const receive = async (): Promise<FromServer> => inbox.shift() ?? await new Promise<FromServer>(resolve => { waiting.push(resolve) })
  const ask = async <K extends FromServer['kind']>(m: ToServer, kind: K): Promise<Extract<FromServer, { kind: K }>> => {
    server.send(m)
    const r = await receive()
    if (r.kind !== kind) throw new Error(`unexpected ${r.kind} from the server thread`)
    return r as Extract<FromServer, { kind: K }>
  }

  const ready = await receive()
  if (ready.kind !== 'ready') throw new Error('the server thread did not start')
  const port = ready.port
  const canisterBytes = ready.canister
  const canisterText = ready.canisterText

  const ANON = Uint8Array.of(4)
  const cbor = (v: unknown): Buffer => Buffer.from(encode(new Tagged(55799, v)))
  const expiry = (): bigint => BigInt(Date.now() + 240_000) * 1_000_000n

  // Create and install the benchmark canister through the HTTP API (it is the first id of the range).
  const mgmt = (method: string, arg: Uint8Array, nonce: number): Buffer => cbor({ content: { request_type: 'call', canister_id: new Uint8Array(), method_name: method, arg, sender: ANON, ingress_expiry: expiry(), nonce: Uint8Array.of(nonce) } })
  const setupAgent = new Agent({ keepAlive: true })
  const callPath = `/api/v3/canister/${canisterText}/call`
  const created = await post(setupAgent, port, callPath, mgmt('provisional_create_canister_with_cycles', encodeProvisionalCreateCanisterArgs(), 1))
  if (created.status !== 200) throw new Error(`create failed: ${created.status}`)
  const installed = await post(setupAgent, port, callPath, mgmt('install_code', encodeInstallCodeArgs({ mode: 'install', canisterId: Principal.fromUint8Array(canisterBytes), wasmModule: Uint8Array.of(0, 97, 115, 109), arg: new Uint8Array() }), 2))
  if (installed.status !== 200) throw new Error(`install failed: ${installed.status}`)

  const echoArg = new Uint8Array(IDL.encode([IDL.Text], ['x'.repeat(64)]))
  const queryPath = `/api/v2/canister/${canisterText}/query`

  // Every request is distinct (its own request id, as from distinct clients): one template per kind with an
  // 8-byte nonce, into which each request patches a counter.
  const NONCE_MARK = Buffer.from('NONCE-##')
  let nonce = 0n
  const bodies = (content: Record<string, unknown>): () => Buffer => {
    const template = cbor({ content: { ...content, sender: ANON, ingress_expiry: expiry(), nonce: NONCE_MARK } })
    const at = template.indexOf(NONCE_MARK)
    return () => {
      const b = Buffer.from(template)
      b.writeBigUInt64BE(++nonce, at)
      return b
    }
  }
  const queryBody = bodies({ request_type: 'query', canister_id: canisterBytes, method_name: 'echo', arg: echoArg })
  const callBody = bodies({ request_type: 'call', canister_id: canisterBytes, method_name: 'inc', arg: new Uint8Array(IDL.encode([], [])) })

  // The bare baseline answers with the bytes the endpoint answers a query with.
  const sample = await post(setupAgent, port, queryPath, queryBody())
  setupAgent.destroy()
  if (sample.status !== 200) throw new Error(`query failed: ${sample.status}`)
  const barePort = (await ask({ kind: 'bare', body: new Uint8Array(sample.body) }, 'bare')).port

  /**
   * Closed loop: `concurrency` keep-alive sockets, each sending the next body
   * as soon as the last answer arrived. Also the server process's CPU time per
   * answered request.
   */
  async function load (target: number, path: string, bodyFor: () => Buffer, ms: number): Promise<{ perSecond: number, errors: number, p50Ms: number, p99Ms: number, serverCpuMicros: number, loopCpuMicros: number | undefined, rounds: number }> {
    const agent = new Agent({ keepAlive: true, maxSockets: concurrency })
    let ok = 0
    let errors = 0
    const latencies: number[] = []
    const before = await ask({ kind: 'usage' }, 'usage')
    const started = performance.now()
    const end = started + ms
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now()
        const res = await post(agent, target, path, bodyFor())
        latencies.push(performance.now() - t0)
        if (res.status === 200) ok++
        else errors++
      }
    }))
    const elapsed = (performance.now() - started) / 1000
    const after = await ask({ kind: 'usage' }, 'usage')
    agent.destroy()
    latencies.sort((a, b) => a - b)
    const at = (q: number): number => Number((latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0).toFixed(2))
    return {
      perSecond: ok / elapsed,
      errors,
      p50Ms: at(0.5),
      p99Ms: at(0.99),
      serverCpuMicros: (after.cpuMicros - before.cpuMicros) / Math.max(1, ok + errors),
      loopCpuMicros: after.loopCpuMicros === undefined || before.loopCpuMicros === undefined ? undefined : (after.loopCpuMicros - before.loopCpuMicros) / Math.max(1, ok + errors),
      rounds: after.rounds - before.rounds
    }
  }

  // Warm-up (JIT, socket pools) for both servers, not measured.
  if (parts.has('bare')) await load(barePort, queryPath, queryBody, 500)
  if (parts.has('query')) await load(port, queryPath, queryBody, 500)

  const best: Record<string, number> = {}
  const cpu: Record<string, number> = {}
  const loopCpu: Record<string, number> = {}
  const ratios: number[] = []
  const cases: Array<{ key: string, what: string, target: number, path: string, body: () => Buffer }> = [
    { key: 'bare', what: 'bare node:http, same response bytes', target: barePort, path: queryPath, body: queryBody },
    { key: 'query', what: 'query (anonymous, node-signed reply)', target: port, path: queryPath, body: queryBody },
    { key: 'update', what: 'update v3 (certified reply)', target: port, path: callPath, body: callBody }
  ]
  for (const round of [1, 2]) {
    // Alternate the order so that warm-up and machine noise fall on both sides.
    const order = round === 1 ? cases : [...cases].reverse()
    const perRound: Record<string, number> = {}
    for (const c of order) {
      if (!parts.has(c.key)) continue
      const r = await load(c.target, c.path, c.body, seconds * 1000)
      perRound[c.key] = r.perSecond
      best[c.key] = Math.max(best[c.key] ?? 0, r.perSecond)
      cpu[c.key] = Math.min(cpu[c.key] ?? Infinity, r.serverCpuMicros)
      if (r.loopCpuMicros !== undefined) loopCpu[c.key] = Math.min(loopCpu[c.key] ?? Infinity, r.loopCpuMicros)
      console.log(JSON.stringify({
        round,
        what: c.what,
        per_s: Math.round(r.perSecond),
        p50_ms: r.p50Ms,
        p99_ms: r.p99Ms,
        server_cpu_us_per_request: Math.round(r.serverCpuMicros),
        server_loop_cpu_us_per_request: r.loopCpuMicros === undefined ? undefined : Math.round(r.loopCpuMicros),
        errors: r.errors,
        ...(c.key === 'update' ? { rounds: r.rounds } : {})
      }))
    }
    if (perRound.bare !== undefined && perRound.query !== undefined) {
      ratios.push(perRound.query / perRound.bare)
      console.log(JSON.stringify({ round, query_ratio: Number((perRound.query / perRound.bare).toFixed(3)) }))
    }
  }

  await ask({ kind: 'stop' }, 'stopped')
  const fixed = (x: number | undefined, digits = 3): number | undefined => x === undefined || !Number.isFinite(x) ? undefined : Number(x.toFixed(digits))
  const rate = (a: string): number | undefined => best[a] === undefined ? undefined : Math.round(best[a])
  console.log(JSON.stringify({
    bench: 'http',
    seconds,
    concurrency,
    // Which library signs query answers (libsodium unless ICNET_ED25519=node or the addon is missing).
    ed25519: ED25519_IMPLEMENTATION,
    // Where query answers are signed while the node is busy: the signing thread, or inline on the event loop.
    query_signing: ready.offThreadSigning ? 'thread' : 'inline',
    // Whether the endpoint wrote the answers of one loop turn together (batchWrites).
    batch_writes: ready.batchWrites,
    update_per_s: rate('update'),
    query_per_s: rate('query'),
    bare_per_s: rate('bare'),
    // Best query rate over best bare rate; the per-round ratios are printed above.
    query_ratio: fixed(best.query! / best.bare!),
    query_ratio_rounds: ratios.map(r => fixed(r)),
    update_ratio: fixed(best.update! / best.bare!),
    // Server CPU per request (lowest of the rounds), independent of how loaded the machine is.
    bare_cpu_us: fixed(cpu.bare, 0),
    query_cpu_us: fixed(cpu.query, 0),
    update_cpu_us: fixed(cpu.update, 0),
    query_cpu_ratio: fixed(cpu.bare! / cpu.query!),
    // The same for the event-loop thread alone (what bounds one process's rate when other cores are free).
    bare_loop_cpu_us: fixed(loopCpu.bare, 0),
    query_loop_cpu_us: fixed(loopCpu.query, 0),
    query_loop_cpu_ratio: fixed(loopCpu.bare! / loopCpu.query!)
  }))
}

function post (agent: Agent, port: number, path: string, body: Buffer): Promise<{ status: number, body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', agent, headers: { 'Content-Type': 'application/cbor', 'Content-Length': body.length } }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks) }) })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}
