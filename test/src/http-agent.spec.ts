/**
 * @dfinity/agent's HttpAgent against real icnet nodes: a testnet of 2 subnets
 * (the root subnet and an application subnet whose certificates carry the
 * root's delegation) with one node each, every node its own OS process with
 * consensus, message routing and the wasm sandbox. Everything a developer
 * does with an IC agent: fetchRootKey, create and install a canister through
 * the management canister, update calls (v3 and v2) and queries, read_state of
 * request status and time; every certificate and query signature is verified
 * by the agent's own code. A proxy that alters certificates is refused. A
 * canister whose XNet calls are cut off stays `stopping` after stop_canister
 * until they are answered; calls to a stopped or empty canister are refused
 * at submission, before consensus.
 */
import assert from 'node:assert/strict'
import { createServer, request as httpRequest, type Server } from 'node:http'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Certificate, HttpAgent, isV2ResponseBody, lookupResultToBuffer, pollForResponse } from '@dfinity/agent'
import { Principal } from '@dfinity/principal'
import { Tagged, encode } from 'cborg'
import { loadTestCanister } from '@icnet/execution/canisters'
import { encodeXnetLoadConfig } from '@icnet/execution'
import {
  decodeBounded, decodeCanisterIdResult, decodeCanisterStatusResult, encodeCanisterIdArgs, encodeInstallCodeArgs, encodeProvisionalCreateCanisterArgs
} from '@icnet/http-endpoint'
import { TestnetSupervisor, cliMain, openTestnet, setNodeFaults, type TestnetDir } from '@icnet/replica'
import { Principal as IcnetPrincipal, canisterIdFromU64 } from '@icnet/types'

const MANAGEMENT = Principal.fromText('aaaaa-aa')
const BASE_PORT = 7640
const utf8 = new TextEncoder()
const text = (b: Uint8Array | undefined): string => new TextDecoder().decode(b)
const u64le = (b: Uint8Array): bigint => new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(0, true)
const sleep = async (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))
/** CBOR maps (self-describe tagged) as Maps, bounded: the interface's own decoder. */
const decodeMap = (b: Uint8Array): Map<string, unknown> => decodeBounded(b) as unknown as Map<string, unknown>

async function health (url: string): Promise<unknown> {
  try {
    const res = await fetch(`${url}/api/v2/status`, { signal: AbortSignal.timeout(2_000) })
    return decodeMap(new Uint8Array(await res.arrayBuffer())).get('replica_health_status')
  } catch { return undefined }
}

/** The reply in a verified certificate's /request_status/<id>, or a failed assertion with the reject message. */
function replyOf (cert: Certificate, requestId: Uint8Array): Uint8Array {
  const base = [utf8.encode('request_status'), requestId]
  const st = text(lookupResultToBuffer(cert.lookup_path([...base, 'status'])))
  assert.equal(st, 'replied', `status ${st}: ${text(lookupResultToBuffer(cert.lookup_path([...base, 'reject_message'])))}`)
  return lookupResultToBuffer(cert.lookup_path([...base, 'reply']))!
}

/** The body of a call refused before consensus (HTTP 200): v2's, and v3's with `status: "non_replicated_rejection"`. */
interface Refusal { status?: string, reject_code: number, reject_message: string, error_code?: string }

/** An update call over v3, its certificate verified; a 202 (no certificate in time) is polled to the end. */
async function update (agent: HttpAgent, canisterId: Principal, methodName: string, arg: Uint8Array, effectiveCanisterId = canisterId): Promise<Uint8Array> {
  const { requestId, response } = await agent.call(canisterId, { methodName, arg, effectiveCanisterId })
  const body = response.body as ({ certificate?: Uint8Array } & Partial<Refusal>) | null
  if (response.status === 200 && body?.reject_code !== undefined) throw new Error(`refused before consensus (${body.reject_code}, ${body.error_code}): ${body.reject_message}`)
  if (response.status === 200 && body?.certificate !== undefined) {
    return replyOf(await Certificate.create({ certificate: body.certificate, rootKey: agent.rootKey!, canisterId: effectiveCanisterId }), requestId)
  }
  assert.equal(response.status, 202, `call answered ${response.status}`)
  return (await pollForResponse(agent, effectiveCanisterId, requestId)).reply
}

/** A proxy to `target` that flips a bit of every certificate's signature in read_state answers. */
async function tamperingProxy (target: string): Promise<{ url: string, server: Server }> {
  const to = new URL(target)
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', c => chunks.push(c))
    req.on('end', () => {
      const up = httpRequest({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, upRes => {
        const parts: Buffer[] = []
        upRes.on('data', c => parts.push(c))
        upRes.on('end', () => {
          let body: Uint8Array = Buffer.concat(parts)
          if (req.url?.endsWith('/read_state') === true && upRes.statusCode === 200) {
            const cert = decodeMap(decodeMap(body).get('certificate') as Uint8Array)
            ;(cert.get('signature') as Uint8Array)[7]! ^= 0x01
            body = encode(new Tagged(55799, { certificate: encode(new Tagged(55799, cert)) }))
          }
          const headers = { ...upRes.headers, 'content-length': String(body.length) }
          res.writeHead(upRes.statusCode ?? 502, headers)
          res.end(body)
        })
      })
      up.on('error', () => { res.writeHead(502); res.end() })
      up.end(Buffer.concat(chunks))
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server }
}

describe('@dfinity/agent against a 2-subnet icnet testnet (1 node per subnet, processes)', function () {
  this.timeout(180_000)
  let dir: string
  let testnet: TestnetDir
  let sup: TestnetSupervisor
  const urls: string[] = []
  const canisters: Principal[] = []
  let counter: Uint8Array

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'icnet-http-'))
    await cliMain(['testnet', 'init', '--subnets', '2', '--nodes', '1', '--dir', dir, '--base-port', String(BASE_PORT), '--unit-delay-ms', '100'], { log: () => {} })
    testnet = await openTestnet(dir)
    for (const n of testnet.nodes) urls.push(`http://${n.config.http!.host}:${n.config.http!.port}`)
    counter = await loadTestCanister('counter')
    // The admin partition route on the root subnet's node, for the stopping scenario (it changes nothing until used).
    await setNodeFaults(testnet.nodes[0]!.configPath, { admin: true })
    sup = new TestnetSupervisor(testnet)
    sup.onExit = (name, code) => { console.error(`node ${name} exited with ${code}`) }
    sup.startAll()
    // Healthy: a certified state, and on the application subnet the root delegation as well.
    const deadline = Date.now() + 120_000
    for (const url of urls) {
      while (await health(url) !== 'healthy') {
        assert.ok(Date.now() < deadline, `${url} did not become healthy`)
        await sleep(250)
      }
    }
  })

  /** The admin route of the root subnet's node: refuse connections with these peers, or (DELETE) heal. */
  async function partition (method: 'POST' | 'DELETE', deny?: string[]): Promise<void> {
    const res = await fetch(`${urls[0]}/api/faults/partition`, {
      method, ...(deny === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ deny }) }), signal: AbortSignal.timeout(5_000)
    })
    assert.equal(res.status, 204, `${method} partition: ${res.status}`)
  }

  after(async () => {
    await sup?.stopAll()
    await rm(dir, { recursive: true, force: true })
  })

  it('fetchRootKey gives the root subnet key (DER) of the registry, from either subnet', async () => {
    const root = testnet.registry.getSubnet(testnet.registry.rootSubnetId())!.publicKeyDer
    for (const url of urls) {
      const agent = await HttpAgent.create({ host: url, shouldFetchRootKey: true })
      assert.deepEqual(new Uint8Array(agent.rootKey!), root)
    }
  })

  for (const subnet of [0, 1]) {
    describe(`subnet ${subnet} (${subnet === 0 ? 'root' : 'delegated by the root'})`, () => {
      let agent: HttpAgent
      let id: Principal

      before(async () => { agent = await HttpAgent.create({ host: urls[subnet]!, shouldFetchRootKey: true }) })

      it('creates and installs a canister through the management canister', async () => {
        const anyOfSubnet = Principal.fromUint8Array(canisterIdFromU64(BigInt(subnet) << 20n).toUint8Array())
        const created = await update(agent, MANAGEMENT, 'provisional_create_canister_with_cycles', encodeProvisionalCreateCanisterArgs(), anyOfSubnet)
        id = Principal.fromUint8Array(decodeCanisterIdResult(created).toUint8Array())
        assert.equal(id.toText(), anyOfSubnet.toText(), 'the first id of the subnet range')
        canisters[subnet] = id
        await update(agent, MANAGEMENT, 'install_code', encodeInstallCodeArgs({ mode: 'install', canisterId: id, wasmModule: counter, arg: new Uint8Array() }), id)
        const st = decodeCanisterStatusResult(await update(agent, MANAGEMENT, 'canister_status', encodeCanisterIdArgs(id), id))
        assert.equal(st.status, 'running')
        assert.equal(st.controllers[0]!.toText(), Principal.anonymous().toText())
        assert.equal(st.moduleHash?.length, 32)
      })

      it('update calls over v3 (certified) and v2 (polled), queries signed by the node', async () => {
        assert.equal(u64le(await update(agent, id, 'inc', new Uint8Array())), 1n)
        const v2 = await agent.call(id, { methodName: 'inc', arg: new Uint8Array(), callSync: false })
        assert.equal(v2.response.status, 202)
        assert.equal(u64le((await pollForResponse(agent, id, v2.requestId)).reply), 2n)
        // verifyQuerySignatures is on by default: the agent reads the node key from /subnet/<id>/node and checks the signature.
        const q = await agent.query(id, { methodName: 'get', arg: new Uint8Array() })
        assert.equal(q.status, 'replied')
        assert.equal(u64le(new Uint8Array((q as { reply: { arg: Uint8Array } }).reply.arg)), 2n)
      })

      it('the node\'s /metrics counts the interface\'s requests by endpoint and status', async () => {
        const count = async (series: string): Promise<number> => {
          const body = await (await fetch(`${urls[subnet]}/metrics`)).text()
          const line = body.split('\n').find(l => l.startsWith(series + ' '))
          return line === undefined ? 0 : Number(line.slice(series.length + 1))
        }
        const series = 'http_requests_total{endpoint="query",status="200"}'
        const before = await count(series)
        await agent.query(id, { methodName: 'get', arg: new Uint8Array() })
        // Counted when the answer's write completes, just after the agent has it.
        let after = await count(series)
        for (let i = 0; i < 50 && after === before; i++) { await sleep(20); after = await count(series) }
        assert.equal(after, before + 1)
        assert.ok(await count('http_request_duration_seconds_count{endpoint="call_v3"}') >= 1)
        assert.equal(await count('http_requests_in_flight{endpoint="query"}'), 0)
      })

      it('read_state of a request status and of /time, verified', async () => {
        const { requestId } = await agent.call(id, { methodName: 'inc', arg: new Uint8Array(), callSync: false })
        await pollForResponse(agent, id, requestId)
        const path = [utf8.encode('request_status'), requestId]
        const rs = await agent.readState(id, { paths: [[utf8.encode('time')], [...path, utf8.encode('status')], [...path, utf8.encode('reply')]] })
        const cert = await Certificate.create({ certificate: rs.certificate, rootKey: agent.rootKey!, canisterId: id })
        assert.equal(u64le(replyOf(cert, requestId)), 3n)
        const timeLeaf = lookupResultToBuffer(cert.lookup_path(['time']))!
        let ns = 0n
        for (let i = timeLeaf.length - 1; i >= 0; i--) ns = (ns << 7n) | BigInt(timeLeaf[i]! & 0x7f)
        assert.ok(Math.abs(Number(ns / 1_000_000n) - Date.now()) < 5 * 60_000, 'certified time is now')
        // A delegated subnet's certificate carries the root's delegation; the root's does not.
        assert.equal(decodeMap(rs.certificate).has('delegation'), subnet === 1)
      })
    })
  }

  describe('with a canister on each subnet', () => {
    it('a canister of one subnet is not served by the other subnet\'s node', async () => {
      const agent = await HttpAgent.create({ host: urls[0]!, shouldFetchRootKey: true })
      await assert.rejects(agent.query(canisters[1]!, { methodName: 'get', arg: new Uint8Array() }))
    })

    it('the command line installs and calls a canister over the same API, and lists the endpoints', async () => {
      const lines: string[] = []
      const out = { log: (s: string) => { lines.push(s) } }
      const wasm = join(dir, 'counter.wasm')
      await writeFile(wasm, counter)
      assert.equal(await cliMain(['canister', 'install', '--subnet', '1', wasm, '--dir', dir], out), 0)
      const id = lines.pop()!
      assert.equal(Principal.fromText(id).toText(), id)
      assert.equal(await cliMain(['canister', 'call', id, 'inc', '--dir', dir], out), 0)
      assert.match(lines.pop()!, /^0x0100000000000000/)
      assert.equal(await cliMain(['canister', 'call', id, 'get', '--query', '--dir', dir], out), 0)
      assert.match(lines.pop()!, /^0x0100000000000000/)
      assert.equal(await cliMain(['testnet', 'status', '--dir', dir, '--json'], out), 0)
      const rows = JSON.parse(lines.pop()!) as Array<{ subnet_id: string, root_subnet: boolean, http_url: string }>
      assert.deepEqual(rows.map(r => [r.subnet_id, r.root_subnet, r.http_url]), testnet.nodes.map((n, i) => [n.config.subnetId, i === 0, urls[i]]))
    })

    it('a certificate altered on the way is refused by the agent', async () => {
      const proxy = await tamperingProxy(urls[1]!)
      try {
        const agent = await HttpAgent.create({ host: proxy.url, shouldFetchRootKey: true })
        const { requestId } = await agent.call(canisters[1]!, { methodName: 'inc', arg: new Uint8Array(), callSync: false })
        await assert.rejects(pollForResponse(agent, canisters[1]!, requestId), /signature|verif|certificate/i)
        const rs = await agent.readState(canisters[1]!, { paths: [[utf8.encode('time')]] })
        await assert.rejects(Certificate.create({ certificate: rs.certificate, rootKey: agent.rootKey!, canisterId: canisters[1]! }))
        // The same request read directly from the node verifies.
        const direct = await HttpAgent.create({ host: urls[1]!, shouldFetchRootKey: true })
        assert.equal(u64le((await pollForResponse(direct, canisters[1]!, requestId)).reply), 4n)
      } finally {
        proxy.server.close()
      }
    })

    it('stop_canister leaves a canister `stopping` while its XNet calls are unanswered, then replies once it is `stopped`', async () => {
      const agent = await HttpAgent.create({ host: urls[0]!, shouldFetchRootKey: true })
      const status = async (id: Principal): Promise<string> => decodeCanisterStatusResult(await update(agent, MANAGEMENT, 'canister_status', encodeCanisterIdArgs(id), id)).status
      // A load canister on subnet 0 calling the counter canister of subnet 1 on every heartbeat.
      const created = await update(agent, MANAGEMENT, 'provisional_create_canister_with_cycles', encodeProvisionalCreateCanisterArgs(), canisters[0]!)
      const caller = Principal.fromUint8Array(decodeCanisterIdResult(created).toUint8Array())
      await update(agent, MANAGEMENT, 'install_code', encodeInstallCodeArgs({ mode: 'install', canisterId: caller, wasmModule: await loadTestCanister('xnet_load'), arg: new Uint8Array() }), caller)
      const target = IcnetPrincipal.fromUint8Array(canisters[1]!.toUint8Array())
      await update(agent, caller, 'configure', encodeXnetLoadConfig({ rate: 1, payloadSize: 64, seed: 7n, targets: [target] }))

      // The subnets are cut apart (the root node refuses the other's connections): the calls in flight stay unanswered.
      const remote = testnet.nodes.find(n => n.subnetIndex === 1)!
      await partition('POST', [remote.config.nodeId])
      const stop = await agent.call(MANAGEMENT, { methodName: 'stop_canister', arg: encodeCanisterIdArgs(caller), effectiveCanisterId: caller, callSync: false })
      assert.equal(stop.response.status, 202)
      // The stop call's certified request status: `processing` once executed, and it stays so.
      const path = [utf8.encode('request_status'), stop.requestId, utf8.encode('status')]
      const stopStatus = async (): Promise<string | undefined> => {
        const rs = await agent.readState(caller, { paths: [path] })
        const cert = await Certificate.create({ certificate: rs.certificate, rootKey: agent.rootKey!, canisterId: caller })
        const leaf = lookupResultToBuffer(cert.lookup_path(path))
        return leaf === undefined ? undefined : text(leaf)
      }
      let seen = await stopStatus()
      for (let i = 0; i < 200 && (seen === undefined || seen === 'received'); i++) { await sleep(100); seen = await stopStatus() }
      assert.equal(seen, 'processing', 'the stop call is open')
      assert.equal(await status(caller), 'stopping')
      assert.equal(await stopStatus(), 'processing', 'still open while the subnets are apart')
      // Refused at submission by the ingress filter (a 200 non-replicated rejection), not in a block.
      await assert.rejects(update(agent, caller, 'configure', encodeXnetLoadConfig({ rate: 0, payloadSize: 64, seed: 7n, targets: [] })), /refused before consensus \(5, IC0509\): Canister \S+ is stopping/)

      // Healed: the responses arrive, the canister stops and the stop call is replied.
      await partition('DELETE')
      await pollForResponse(agent, caller, stop.requestId)
      assert.equal(await status(caller), 'stopped')
    })

    it('calls to a stopped or empty canister are refused at submission (200, reject 5), management calls pass, start_canister lets calls in again', async () => {
      const agent = await HttpAgent.create({ host: urls[0]!, shouldFetchRootKey: true })
      const created = await update(agent, MANAGEMENT, 'provisional_create_canister_with_cycles', encodeProvisionalCreateCanisterArgs(), canisters[0]!)
      const id = Principal.fromUint8Array(decodeCanisterIdResult(created).toUint8Array())
      /** A raw call (v3 when sync, else v2) and its refusal body; fails if it was accepted. */
      const refused = async (callSync: boolean): Promise<{ requestId: Uint8Array, body: Refusal }> => {
        const { requestId, response } = await agent.call(id, { methodName: 'inc', arg: new Uint8Array(), callSync })
        assert.equal(response.status, 200, `${callSync ? 'v3' : 'v2'} call answered ${response.status}`)
        const body = response.body as Refusal
        assert.ok(isV2ResponseBody(body), 'the body @dfinity/agent reads as an uncertified reject')
        return { requestId, body }
      }

      // Created, no module yet: refused with IC0537.
      const empty = await refused(true)
      assert.deepEqual([empty.body.status, empty.body.reject_code, empty.body.error_code], ['non_replicated_rejection', 5, 'IC0537'])
      assert.match(empty.body.reject_message, /has no wasm module/)

      await update(agent, MANAGEMENT, 'install_code', encodeInstallCodeArgs({ mode: 'install', canisterId: id, wasmModule: counter, arg: new Uint8Array() }), id)
      assert.equal(u64le(await update(agent, id, 'inc', new Uint8Array())), 1n)
      // No call context open: the stop completes in the round of the call. The stop call's effective canister is the one stopping.
      await update(agent, MANAGEMENT, 'stop_canister', encodeCanisterIdArgs(id), id)

      const v3 = await refused(true)
      assert.deepEqual([v3.body.status, v3.body.reject_code, v3.body.error_code], ['non_replicated_rejection', 5, 'IC0508'])
      assert.equal(v3.body.reject_message, `Canister ${id.toText()} is stopped`)
      const v2 = await refused(false)
      assert.equal(v2.body.status, undefined, 'v2 has no status field')
      assert.deepEqual([v2.body.reject_code, v2.body.error_code, v2.body.reject_message], [5, 'IC0508', `Canister ${id.toText()} is stopped`])

      // Management calls about the stopped canister pass the filter (their canister is aaaaa-aa).
      assert.equal(decodeCanisterStatusResult(await update(agent, MANAGEMENT, 'canister_status', encodeCanisterIdArgs(id), id)).status, 'stopped')
      await update(agent, MANAGEMENT, 'start_canister', encodeCanisterIdArgs(id), id)
      assert.equal(u64le(await update(agent, id, 'inc', new Uint8Array())), 2n, 'the refused calls never executed')

      // Refused before consensus: a certified state made after them knows nothing of the refused requests.
      for (const { requestId } of [v3, v2]) {
        const path = [utf8.encode('request_status'), requestId, utf8.encode('status')]
        const rs = await agent.readState(id, { paths: [path] })
        const cert = await Certificate.create({ certificate: rs.certificate, rootKey: agent.rootKey!, canisterId: id })
        assert.equal(lookupResultToBuffer(cert.lookup_path(path)), undefined)
      }
    })
  })
})
