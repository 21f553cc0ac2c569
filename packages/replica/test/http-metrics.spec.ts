/**
 * The public HTTP endpoint's metrics in the replica's Prometheus registry:
 * requests by endpoint and status, refusals by reason (429, 413, 408), the
 * in-flight gauge and durations, as /metrics exposes them.
 */
import assert from 'node:assert/strict'
import { request as httpRequest } from 'node:http'
import { httpEndpoint, ReferenceNetwork, type HttpEndpoint } from '@icnet/http-endpoint'
import { PromMetrics } from '../src/index.js'

/** The value of one sample line of the exposition, 0 when absent. */
function sample (body: string, series: string): number {
  const line = body.split('\n').find(l => l.startsWith(series + ' '))
  return line === undefined ? 0 : Number(line.slice(series.length + 1))
}

/** A POST that declares `declared` bytes and sends one: it holds a slot until the body timeout. */
function stalledPost (url: string): Promise<number> {
  const u = new URL(url)
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: u.port, path: '/api/v2/canister/aaaaa-aa/call', method: 'POST', headers: { 'Content-Type': 'application/cbor', 'Content-Length': 100 } }, res => { res.resume(); resolve(res.statusCode ?? 0) })
    req.on('error', reject)
    req.write(Uint8Array.of(0xd9))
  })
}

describe('the public HTTP endpoint on the replica\'s Prometheus registry', function () {
  this.timeout(60_000)
  let metrics: PromMetrics
  let endpoint: HttpEndpoint
  let canister: string

  before(async () => {
    metrics = new PromMetrics()
    const network = new ReferenceNetwork({ subnets: 1 })
    canister = network.root.range[0].toText()
    endpoint = httpEndpoint({ backend: network.root, metrics, maxConcurrent: 1, maxQueued: 0, maxBodyBytes: 1024, bodyReadTimeoutMs: 300 })
    await endpoint.start()
  })
  after(async () => { await endpoint.stop() })

  const exposition = async (): Promise<string> => (await metrics.exposition()).body
  /** The exposition once `done` holds for it: a response is counted when its socket write completes, just after the client has it. */
  const exposedOnce = async (done: (body: string) => boolean): Promise<string> => {
    let body = await exposition()
    for (let i = 0; i < 200 && !done(body); i++) {
      await new Promise(resolve => setTimeout(resolve, 10))
      body = await exposition()
    }
    return body
  }
  /** The exposition once `series` has grown past its value in `before`, and the change of any series between the two. */
  const exposedAfter = async (before: string, series: string): Promise<{ after: string, delta: (series: string) => number }> => {
    const after = await exposedOnce(b => sample(b, series) > sample(before, series))
    return { after, delta: s => sample(after, s) - sample(before, s) }
  }

  it('counts requests by endpoint and status, and their durations', async () => {
    const before = await exposition()
    for (let i = 0; i < 3; i++) assert.equal((await fetch(`${endpoint.url}/api/v2/status`)).status, 200)
    const bad = await fetch(`${endpoint.url}/api/v2/canister/${canister}/query`, { method: 'POST', headers: { 'Content-Type': 'application/cbor' }, body: Uint8Array.of(0xff) })
    assert.equal(bad.status, 400)
    assert.equal((await fetch(`${endpoint.url}/api/v9/nothing`)).status, 404)
    const { after, delta } = await exposedAfter(before, 'http_requests_total{endpoint="unknown",status="404"}')
    assert.equal(delta('http_requests_total{endpoint="status",status="200"}'), 3)
    assert.equal(delta('http_requests_total{endpoint="query",status="400"}'), 1)
    assert.equal(delta('http_requests_total{endpoint="unknown",status="404"}'), 1)
    assert.equal(delta('http_requests_refused_total{reason="malformed-cbor"}'), 1)
    assert.equal(delta('http_request_duration_seconds_count{endpoint="status"}'), 3)
    assert.equal(sample(after, 'http_requests_in_flight{endpoint="query"}'), 0)
  })

  it('counts shed requests (429, 413, 408) and shows the one in flight', async () => {
    const before = await exposition()
    // One slot, no queue: a request whose body never arrives holds it.
    const stalled = stalledPost(endpoint.url)
    const held = await exposedOnce(b => sample(b, 'http_requests_in_flight{endpoint="call_v2"}') === 1)
    assert.equal(sample(held, 'http_requests_in_flight{endpoint="call_v2"}'), 1)
    const shed = await fetch(`${endpoint.url}/api/v2/canister/aaaaa-aa/call`, { method: 'POST', headers: { 'Content-Type': 'application/cbor' }, body: Uint8Array.of(0xa0) })
    assert.equal(shed.status, 429)
    assert.equal(await stalled, 408)
    const big = await fetch(`${endpoint.url}/api/v2/canister/${canister}/query`, { method: 'POST', headers: { 'Content-Type': 'application/cbor' }, body: new Uint8Array(2048) })
    assert.equal(big.status, 413)
    const { after, delta } = await exposedAfter(before, 'http_requests_total{endpoint="query",status="413"}')
    assert.equal(delta('http_requests_total{endpoint="call_v2",status="429"}'), 1)
    assert.equal(delta('http_requests_total{endpoint="call_v2",status="408"}'), 1)
    assert.equal(delta('http_requests_total{endpoint="query",status="413"}'), 1)
    assert.equal(delta('http_requests_refused_total{reason="overloaded"}'), 1)
    assert.equal(delta('http_requests_refused_total{reason="body-timeout"}'), 1)
    assert.equal(delta('http_requests_refused_total{reason="body-too-large"}'), 1)
    assert.equal(sample(after, 'http_requests_in_flight{endpoint="call_v2"}'), 0)
  })
})
