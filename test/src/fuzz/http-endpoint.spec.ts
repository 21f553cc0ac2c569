/**
 * A real HTTP endpoint (the reference backend, on loopback) fed mutated CBOR
 * envelopes, random paths, methods and headers, truncated bodies and raw
 * garbage. Every answer is a 2xx or 4xx (a 4xx with a reason), or 503/504 by
 * design; no request hangs; the endpoint keeps serving throughout.
 */
import assert from 'node:assert/strict'
import { request as httpRequest } from 'node:http'
import { connect } from 'node:net'
import { encode, Tagged } from 'cborg'
import fc from 'fast-check'
import { Principal } from '@dfinity/principal'
import { decodeBounded, encodeInstallCodeArgs, encodeProvisionalCreateCanisterArgs, httpEndpoint, parseEnvelope, ReferenceNetwork, type HttpEndpoint } from '@icnet/http-endpoint'
import { expectDecoderContract, fuzz, targetTimeoutMs } from './harness.js'
import { fuzzInput } from './mutate.js'

const ANONYMOUS = Uint8Array.of(4)
const MANAGEMENT = Principal.fromText('aaaaa-aa')
/** A request that gets no answer within this long is a hang (the endpoint's own timeouts are set far below it). */
const HANG_MS = 20_000

const cbor = (value: unknown): Uint8Array => encode(new Tagged(55799, value))
const nowNs = (): bigint => BigInt(Date.now()) * 1_000_000n
const text = (s: string): Uint8Array => new TextEncoder().encode(s)

interface Answer { status: number, body: Buffer }

/** One HTTP request on a fresh connection; undefined if the server closed the connection without answering. */
async function send (url: string, method: string, path: string, headers: Record<string, string>, body: Uint8Array | undefined): Promise<Answer | undefined> {
  const u = new URL(url)
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => { req.destroy(); reject(new Error(`no answer within ${HANG_MS} ms to ${method} ${path}`)) }, HANG_MS)
    // An explicit length: node sends a DELETE or OPTIONS body unframed otherwise, and the server would read it as a second request.
    const framed = body === undefined ? headers : { ...headers, 'Content-Length': String(body.length) }
    const req = httpRequest({ host: u.hostname, port: u.port, method, path, headers: framed, agent: false }, res => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => { clearTimeout(timer); resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }) })
      res.on('error', () => { clearTimeout(timer); resolve(undefined) })
    })
    req.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      // The server may refuse early (413 before the body, malformed framing) and close while we still write.
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE' || err.code === 'ERR_HTTP_REQUEST_TIMEOUT') resolve(undefined)
      else reject(err)
    })
    req.end(body)
  })
}

/** Raw bytes on a socket, then half-close: the first status line back (or undefined when the server just closes). */
async function sendRaw (url: string, bytes: Uint8Array): Promise<number | undefined> {
  const u = new URL(url)
  return await new Promise((resolve, reject) => {
    const socket = connect(Number(u.port), u.hostname)
    const chunks: Buffer[] = []
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`raw connection neither answered nor closed within ${HANG_MS} ms`)) }, HANG_MS)
    socket.on('data', (c: Buffer) => chunks.push(c))
    socket.on('error', () => {})
    socket.on('close', () => {
      clearTimeout(timer)
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(Buffer.concat(chunks).toString('latin1'))
      resolve(m === null ? undefined : Number(m[1]))
    })
    socket.end(bytes)
  })
}

function acceptable (status: number): boolean {
  return (status >= 200 && status < 300) || (status >= 400 && status < 500) || status === 503 || status === 504
}

describe('fuzz: @icnet/http-endpoint', function () {
  this.timeout(targetTimeoutMs(180_000))
  let network: ReferenceNetwork
  let endpoints: HttpEndpoint[]
  let installed: Principal

  before(async () => {
    network = new ReferenceNetwork({ subnets: 2 })
    endpoints = network.subnets.map(backend => httpEndpoint({
      backend, maxBodyBytes: 64 * 1024, maxConcurrent: 8, maxQueued: 16, bodyReadTimeoutMs: 1000, headersTimeoutMs: 2000, requestTimeoutMs: 5000, syncCallTimeoutMs: 2000
    }))
    await Promise.all(endpoints.map(async e => { await e.start() }))
    // A canister to call, through the management canister as an agent would (v3: wait for the certified answer).
    const effective = network.root.range[0]
    const create = cbor({ content: { request_type: 'call', canister_id: MANAGEMENT.toUint8Array(), method_name: 'provisional_create_canister_with_cycles', arg: encodeProvisionalCreateCanisterArgs(), sender: ANONYMOUS, ingress_expiry: nowNs() + 60_000_000_000n } })
    const created = await send(endpoints[0]!.url, 'POST', `/api/v3/canister/${effective.toText()}/call`, { 'Content-Type': 'application/cbor' }, create)
    assert.equal(created?.status, 200)
    installed = effective
    const install = cbor({ content: { request_type: 'call', canister_id: MANAGEMENT.toUint8Array(), method_name: 'install_code', arg: encodeInstallCodeArgs({ mode: 'install', canisterId: installed, wasmModule: Uint8Array.of(0, 97, 115, 109), arg: new Uint8Array() }), sender: ANONYMOUS, ingress_expiry: nowNs() + 60_000_000_000n } })
    assert.equal((await send(endpoints[0]!.url, 'POST', `/api/v3/canister/${installed.toText()}/call`, { 'Content-Type': 'application/cbor' }, install))?.status, 200)
  })

  after(async () => { await Promise.all(endpoints.map(async e => { await e.stop() })) })

  afterEach(async () => {
    // Whatever was thrown at it, the node still answers, and still accepts a good call.
    for (const e of endpoints) assert.equal((await send(e.url, 'GET', '/api/v2/status', {}, undefined))?.status, 200)
    const call = cbor({ content: { request_type: 'call', canister_id: installed.toUint8Array(), method_name: 'inc', arg: new Uint8Array(), sender: ANONYMOUS, ingress_expiry: nowNs() + 60_000_000_000n } })
    assert.equal((await send(endpoints[0]!.url, 'POST', `/api/v2/canister/${installed.toText()}/call`, { 'Content-Type': 'application/cbor' }, call))?.status, 202)
  })

  /** Canister and subnet ids for paths: real ones, the management canister, other subnets', and junk. */
  const arbId = (): fc.Arbitrary<string> => fc.oneof(
    fc.constant(installed.toText()), fc.constant(MANAGEMENT.toText()), fc.constant(network.subnets[1]!.range[0].toText()),
    fc.constant(network.root.subnetId.toText()), fc.constant(network.subnets[1]!.subnetId.toText()),
    fc.string({ maxLength: 70 }).map(encodeURIComponent), fc.constantFrom('%00', '..', '%2e%2e', 'aaaaa-aa%2F', 'a'.repeat(3000))
  )

  const arbPath = (): fc.Arbitrary<string> => fc.oneof(
    { arbitrary: fc.tuple(fc.constantFrom('v2', 'v3', 'v4'), fc.constantFrom('canister', 'subnet'), arbId(), fc.constantFrom('call', 'query', 'read_state', 'status', '')).map(([v, kind, id, op]) => `/api/${v}/${kind}/${id}/${op}`), weight: 6 },
    { arbitrary: fc.constantFrom('/api/v2/status', '/health', '/metrics', '/', '/api', '/api/v2/canister', '/api/v2/canister//call', '//api/v2/status', '/api/v2/status?x=%ff', '/api/v2/canister/aaaaa-aa/call?'), weight: 2 },
    { arbitrary: fc.webPath().map(p => p.startsWith('/') ? p : `/${p}`), weight: 1 }
  )

  /** Envelopes an agent would send (anonymous), for each request type; the mutators take it from there. */
  const arbEnvelope = (): fc.Arbitrary<Uint8Array> => {
    const content = fc.oneof(
      fc.record({ request_type: fc.constantFrom('call', 'query'), canister_id: fc.constantFrom(installed.toUint8Array(), MANAGEMENT.toUint8Array()), method_name: fc.constantFrom('inc', 'read', 'echo', 'reject', 'install_code', 'canister_status'), arg: fc.uint8Array({ maxLength: 64 }), nonce: fc.uint8Array({ maxLength: 32 }) }),
      fc.record({ request_type: fc.constant('read_state'), paths: fc.array(fc.array(fc.oneof(fc.constantFrom('time', 'request_status', 'canister', 'subnet', 'module_hash', 'controllers', 'metadata').map(text), fc.uint8Array({ maxLength: 32 })), { maxLength: 4 }), { maxLength: 3 }) })
    ).map(c => ({ ...c, sender: ANONYMOUS, ingress_expiry: nowNs() + 60_000_000_000n }))
    return fc.tuple(content, fc.option(fc.record({ sender_pubkey: fc.uint8Array({ maxLength: 44 }), sender_sig: fc.uint8Array({ maxLength: 64 }) }), { nil: undefined }))
      .map(([c, auth]) => cbor({ content: c, ...(auth ?? {}) }))
  }

  const arbHeaders = fc.tuple(
    fc.constantFrom('application/cbor', 'application/cbor; charset=binary', 'APPLICATION/CBOR', 'application/json', '', 'multipart/form-data; boundary=x', 'application/cbor, text/plain'),
    fc.dictionary(fc.stringMatching(/^x-[a-z0-9-]{1,20}$/), fc.stringMatching(/^[\x20-\x7e]{0,200}$/), { maxKeys: 4 }),
    fc.option(fc.constantFrom('gzip', 'chunked, gzip', 'identity'), { nil: undefined })
  ).map(([type, extra, encoding]) => ({ ...(type === '' ? {} : { 'Content-Type': type }), ...extra, ...(encoding === undefined ? {} : { 'Content-Encoding': encoding }) }))

  it('decodeBounded and parseEnvelope throw only typed errors (HttpRequestError)', async () => {
    await fuzz('http-endpoint/parseEnvelope', fuzzInput(arbEnvelope()), input => {
      expectDecoderContract(input, decodeBounded)
      for (const type of ['call', 'query', 'read_state'] as const) expectDecoderContract(input, bytes => parseEnvelope(bytes, type as 'call'))
    }, 1500)
  })

  it('mutated envelopes on random paths, methods and headers: 2xx/4xx with a reason, 503/504 by design, never a hang', async () => {
    const url = (i: number): string => endpoints[i % endpoints.length]!.url
    const arb = fc.record({
      node: fc.nat({ max: 1 }),
      method: fc.constantFrom('POST', 'POST', 'POST', 'POST', 'GET', 'PUT', 'DELETE', 'OPTIONS', 'HEAD', 'PATCH'),
      path: arbPath(),
      headers: arbHeaders,
      body: fuzzInput(arbEnvelope())
    })
    await fuzz('http-endpoint/requests', arb, async r => {
      const answer = await send(url(r.node), r.method, r.path, r.headers, r.method === 'GET' || r.method === 'HEAD' ? undefined : r.body)
      if (answer === undefined) return // closed early (e.g. 413 decided before the body was read)
      assert.ok(acceptable(answer.status), `${r.method} ${r.path} answered ${answer.status}: ${answer.body.toString('utf8', 0, 300)}`)
      if (answer.status >= 400 && r.method !== 'HEAD') assert.ok(answer.body.length > 0, `${answer.status} without a reason`)
    }, 300)
  })

  it('truncated bodies, lying lengths and raw garbage: an acceptable status or a closed connection, never a hang', async () => {
    const arb = fc.oneof(
      // A declared body longer than what is sent, then the write side closes.
      fc.tuple(arbPath(), fuzzInput(arbEnvelope()), fc.nat({ max: 100_000 })).map(([path, body, extra]) =>
        Buffer.concat([Buffer.from(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/cbor\r\nContent-Length: ${body.length + extra}\r\n\r\n`, 'latin1'), body])),
      // Chunked framing with a chunk size that lies.
      fc.tuple(arbPath(), fc.uint8Array({ maxLength: 64 }), fc.constantFrom('ffffffffffffffff', '10', 'zz', '-1', '0')).map(([path, body, size]) =>
        Buffer.concat([Buffer.from(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/cbor\r\nTransfer-Encoding: chunked\r\n\r\n${size}\r\n`, 'latin1'), body])),
      // A well-formed request line and headers, mutated as bytes.
      fuzzInput(fc.tuple(arbPath(), arbEnvelope()).map(([path, body]) =>
        Buffer.concat([Buffer.from(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/cbor\r\nContent-Length: ${body.length}\r\n\r\n`, 'latin1'), body])))
    )
    await fuzz('http-endpoint/raw-connections', arb, async bytes => {
      const status = await sendRaw(endpoints[0]!.url, bytes)
      if (status !== undefined) assert.ok(acceptable(status), `raw request answered ${status}`)
    }, 150)
  })
})
