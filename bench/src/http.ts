/**
 * The HTTP interface on one node: update calls/s (v3, waiting for the
 * certified reply) and query calls/s through the endpoint with the in-process
 * reference backend (real state tree, threshold certificates, node-signed
 * queries), against a bare node:http server answering the same response bytes
 * in the same run. Closed-loop load on loopback: `concurrency` clients, each
 * with a keep-alive connection, for `seconds` per measurement.
 *
 *   node bench/dist/run.js http [seconds=3] [concurrency=32]
 */
import { Agent, createServer, request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { encode, Tagged } from 'cborg'
import { IDL } from '@dfinity/candid'
import { httpEndpoint, ReferenceNetwork, encodeProvisionalCreateCanisterArgs, encodeInstallCodeArgs } from '@icnet/http-endpoint'

const seconds = Number(process.argv[2] ?? 3)
const concurrency = Number(process.argv[3] ?? 32)

const ANON = Uint8Array.of(4)
const cbor = (v: unknown): Uint8Array => encode(new Tagged(55799, v))
const expiry = (): bigint => BigInt(Date.now() + 240_000) * 1_000_000n

function post (agent: Agent, port: number, path: string, body: Uint8Array): Promise<{ status: number, body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', agent, headers: { 'Content-Type': 'application/cbor', 'Content-Length': body.length } }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }) })
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** Closed loop: `concurrency` workers, each sending the next body as soon as the last answer arrived. */
async function load (port: number, path: string, bodyFor: (i: number) => Uint8Array, expectStatus: number): Promise<{ perSecond: number, requests: number, errors: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency })
  let next = 0
  let ok = 0
  let errors = 0
  const end = performance.now() + seconds * 1000
  const started = performance.now()
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (performance.now() < end) {
      const res = await post(agent, port, path, bodyFor(next++))
      if (res.status === expectStatus) ok++
      else errors++
    }
  }))
  const elapsed = (performance.now() - started) / 1000
  agent.destroy()
  return { perSecond: ok / elapsed, requests: ok, errors }
}

const network = new ReferenceNetwork({ subnets: 1, nodes: 4, threshold: 3 })
const node = network.root
const endpoint = httpEndpoint({ backend: node, maxConcurrent: 256, maxQueued: 1024 })
await endpoint.start()
const port = endpoint.address.port
const canister = node.range[0]
const canisterText = canister.toText()

// Create and install the benchmark canister through the HTTP API.
const mgmt = (method: string, arg: Uint8Array, nonce: number): Uint8Array => cbor({ content: { request_type: 'call', canister_id: new Uint8Array(), method_name: method, arg, sender: ANON, ingress_expiry: expiry(), nonce: Uint8Array.of(nonce) } })
const setupAgent = new Agent({ keepAlive: true })
const created = await post(setupAgent, port, `/api/v3/canister/${canisterText}/call`, mgmt('provisional_create_canister_with_cycles', encodeProvisionalCreateCanisterArgs(), 1))
if (created.status !== 200) throw new Error(`create failed: ${created.status}`)
// The first canister of the range: the one just created, controlled by the anonymous sender.
const benchCanister = canister
const installed = await post(setupAgent, port, `/api/v3/canister/${benchCanister.toText()}/call`, mgmt('install_code', encodeInstallCodeArgs({ mode: 'install', canisterId: benchCanister, wasmModule: Uint8Array.of(0, 97, 115, 109), arg: new Uint8Array() }), 2))
if (installed.status !== 200) throw new Error(`install failed: ${installed.status}`)
setupAgent.destroy()

const echoArg = new Uint8Array(IDL.encode([IDL.Text], ['x'.repeat(64)]))
const queryBody = cbor({ content: { request_type: 'query', canister_id: benchCanister.toUint8Array(), method_name: 'echo', arg: echoArg, sender: ANON, ingress_expiry: expiry() } })
const queryPath = `/api/v2/canister/${benchCanister.toText()}/query`
const callPath = `/api/v3/canister/${benchCanister.toText()}/call`
const callBodies = (i: number): Uint8Array => cbor({ content: { request_type: 'call', canister_id: benchCanister.toUint8Array(), method_name: 'inc', arg: new Uint8Array(IDL.encode([], [])), sender: ANON, ingress_expiry: expiry(), nonce: new TextEncoder().encode(`bench-${i}`) } })

// The bare baseline answers with the bytes the endpoint answers a query with.
const sampleAgent = new Agent({ keepAlive: true })
const sample = await post(sampleAgent, port, queryPath, queryBody)
sampleAgent.destroy()
if (sample.status !== 200) throw new Error(`query failed: ${sample.status}`)
const bare: Server = createServer((req, res) => {
  req.on('data', () => {})
  req.on('end', () => {
    res.writeHead(200, { 'Content-Type': 'application/cbor', 'Content-Length': sample.body.length })
    res.end(sample.body)
  })
})
await new Promise<void>(resolve => bare.listen(0, '127.0.0.1', resolve))
const barePort = (bare.address() as AddressInfo).port

const results: Record<string, number> = {}
for (const round of [1, 2]) {
  // Alternate the order so that warm-up and machine noise fall on both sides.
  const b = await load(barePort, queryPath, () => queryBody, 200)
  console.log(JSON.stringify({ round, what: 'bare node:http, same response bytes', per_s: Math.round(b.perSecond), errors: b.errors }))
  const q = await load(port, queryPath, () => queryBody, 200)
  console.log(JSON.stringify({ round, what: 'query (anonymous, node-signed reply)', per_s: Math.round(q.perSecond), errors: q.errors }))
  const u = await load(port, callPath, callBodies, 200)
  console.log(JSON.stringify({ round, what: 'update v3 (certified reply)', per_s: Math.round(u.perSecond), errors: u.errors, rounds: node.rounds }))
  results.bare = Math.max(results.bare ?? 0, b.perSecond)
  results.query = Math.max(results.query ?? 0, q.perSecond)
  results.update = Math.max(results.update ?? 0, u.perSecond)
}

await endpoint.stop()
await new Promise<void>(resolve => bare.close(() => { resolve() }))
console.log(JSON.stringify({
  bench: 'http',
  seconds,
  concurrency,
  update_per_s: Math.round(results.update!),
  query_per_s: Math.round(results.query!),
  bare_per_s: Math.round(results.bare!),
  query_ratio: Number((results.query! / results.bare!).toFixed(3)),
  update_ratio: Number((results.update! / results.bare!).toFixed(3))
}))
