/**
 * Malformed, unauthenticated, misdirected and excessive requests: each gets
 * its 4xx with a reason, and the node keeps serving.
 */
import assert from 'node:assert/strict'
import { request as httpRequest } from 'node:http'
import { encode, Tagged } from 'cborg'
import { Ed25519KeyIdentity, DelegationChain, DelegationIdentity } from '@dfinity/identity'
import { Principal } from '@dfinity/principal'
import { Actor } from '@dfinity/agent'
import { IDL } from '@dfinity/candid'
import { concatBytes, toHex } from '@icnet/types'
import { encodeInstallCodeArgs, encodeProvisionalCreateCanisterArgs, REQUEST_DOMAIN_SEPARATOR, requestIdOf } from '../src/index.js'
import { agentFor, startTestnet, type Testnet } from './support.js'

const ANON = Uint8Array.of(4)
const nowNs = (): bigint => BigInt(Date.now()) * 1_000_000n

function callContent (canisterId: Uint8Array, fields: Record<string, unknown> = {}): Record<string, unknown> {
  return { request_type: 'call', canister_id: canisterId, method_name: 'echo', arg: new Uint8Array(IDL.encode([IDL.Text], ['x'])), sender: ANON, ingress_expiry: nowNs() + 60_000_000_000n, ...fields }
}

function cbor (value: unknown): Uint8Array {
  return encode(new Tagged(55799, value))
}

interface Answer { status: number, body: Buffer }

async function post (url: string, path: string, body: Uint8Array | string, headers: Record<string, string | number> = {}): Promise<Answer> {
  const res = await fetch(url + path, { method: 'POST', body, headers: { 'Content-Type': 'application/cbor', ...headers } as Record<string, string> })
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()) }
}

/** Streams a body without Content-Length (chunked), to test the streaming limit. */
async function postChunked (url: string, path: string, chunks: number, chunkBytes: number): Promise<number> {
  const u = new URL(url + path)
  return await new Promise((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { 'Content-Type': 'application/cbor', 'Transfer-Encoding': 'chunked' } }, res => {
      res.resume()
      resolve(res.statusCode ?? 0)
    })
    req.on('error', err => { if ((err as NodeJS.ErrnoException).code === 'ECONNRESET' || (err as NodeJS.ErrnoException).code === 'EPIPE') return; reject(err) })
    let sent = 0
    const write = (): void => {
      while (sent < chunks) {
        sent++
        if (!req.write(Buffer.alloc(chunkBytes, 1))) { req.once('drain', write); return }
      }
      req.end()
    }
    write()
  })
}

describe('refusals', function () {
  this.timeout(60_000)
  let net: Testnet
  let url: string
  let rootCanister: Uint8Array
  let installed: Principal

  before(async () => {
    net = await startTestnet({ maxBodyBytes: 64 * 1024, maxConcurrent: 4, maxQueued: 8 })
    url = net.endpoints[0]!.url
    rootCanister = net.network.root.range[0].toUint8Array()
    const agent = await agentFor(url)
    const created = await agent.call(Principal.fromText('aaaaa-aa'), { methodName: 'provisional_create_canister_with_cycles', arg: encodeProvisionalCreateCanisterArgs(), effectiveCanisterId: Principal.fromUint8Array(rootCanister) })
    assert.equal(created.response.status, 200)
    installed = Principal.fromUint8Array(rootCanister) // the first canister id of the range
    const install = await agent.call(Principal.fromText('aaaaa-aa'), { methodName: 'install_code', arg: encodeInstallCodeArgs({ mode: 'install', canisterId: installed, wasmModule: Uint8Array.of(0, 97, 115, 109), arg: new Uint8Array() }), effectiveCanisterId: installed })
    assert.equal(install.response.status, 200)
  })
  after(async () => { await net.stop() })
  afterEach(async () => {
    // Whatever the test did, the node still answers.
    const res = await fetch(`${url}/api/v2/status`)
    assert.equal(res.status, 200)
  })

  const callPath = (id: Uint8Array): string => `/api/v2/canister/${Principal.fromUint8Array(id).toText()}/call`

  it('the request id is the specification\'s published example', () => {
    const id = requestIdOf({ request_type: 'call', sender: ANON, ingress_expiry: 1685570400000000000n, canister_id: Uint8Array.from([0, 0, 0, 0, 0, 0, 0x04, 0xd2]), method_name: 'hello', arg: Uint8Array.from([0x44, 0x49, 0x44, 0x4c, 0x00, 0xfd, 0x2a]) })
    assert.equal(toHex(id), '1d1091364d6bb8a6c16b203ee75467d59ead468f523eb058880ae8ec80e2b101')
  })

  it('a well-formed anonymous v2 call is accepted (202)', async () => {
    const res = await post(url, callPath(installed.toUint8Array()), cbor({ content: callContent(installed.toUint8Array()) }))
    assert.equal(res.status, 202, res.body.toString())
  })

  it('malformed CBOR: 400 with a reason', async () => {
    for (const body of [Uint8Array.of(0xff, 0x00), Uint8Array.of(0xa1), cbor([1, 2, 3]), cbor({ content: 'nope' }), new Uint8Array()]) {
      const res = await post(url, callPath(installed.toUint8Array()), body)
      assert.equal(res.status, 400, res.body.toString())
      assert.ok(res.body.length > 0)
    }
  })

  it('CBOR nested beyond the depth bound: 400 before decoding it', async () => {
    const deep = new Uint8Array(10_000).fill(0x81) // [[[[…
    const res = await post(url, callPath(installed.toUint8Array()), deep)
    assert.equal(res.status, 400)
    assert.match(res.body.toString(), /nesting/)
  })

  it('wrong content type: 415; wrong method: 405; unknown route: 404', async () => {
    assert.equal((await post(url, callPath(installed.toUint8Array()), '{}', { 'Content-Type': 'application/json' })).status, 415)
    assert.equal((await fetch(url + callPath(installed.toUint8Array()))).status, 405)
    assert.equal((await fetch(`${url}/api/v9/whatever`)).status, 404)
  })

  it('oversized bodies: 413 from Content-Length, and while streaming', async () => {
    const big = new Uint8Array(100 * 1024)
    assert.equal((await post(url, callPath(installed.toUint8Array()), big)).status, 413)
    assert.equal(await postChunked(url, callPath(installed.toUint8Array()), 64, 4096), 413)
  })

  it('expired or far-future ingress: 400 "Invalid request expiry"', async () => {
    for (const expiry of [nowNs() - 120_000_000_000n, nowNs() + 3_600_000_000_000n]) {
      const res = await post(url, callPath(installed.toUint8Array()), cbor({ content: callContent(installed.toUint8Array(), { ingress_expiry: expiry }) }))
      assert.equal(res.status, 400)
      assert.match(res.body.toString(), /^Invalid request expiry: /)
    }
  })

  it('bad signatures and mismatched senders: 400', async () => {
    const identity = Ed25519KeyIdentity.generate()
    const der = new Uint8Array(identity.getPublicKey().toDer())
    const content = callContent(installed.toUint8Array(), { sender: identity.getPrincipal().toUint8Array() })
    const sig = new Uint8Array(await identity.sign(concatBytes(REQUEST_DOMAIN_SEPARATOR, requestIdOf(content as never))))
    const good = await post(url, callPath(installed.toUint8Array()), cbor({ content, sender_pubkey: der, sender_sig: sig }))
    assert.equal(good.status, 202, good.body.toString())
    const tampered = sig.slice()
    tampered[0]! ^= 1
    const bad = await post(url, callPath(installed.toUint8Array()), cbor({ content: { ...content, nonce: Uint8Array.of(1) }, sender_pubkey: der, sender_sig: sig }))
    assert.equal(bad.status, 400)
    assert.match(bad.body.toString(), /sender_sig/)
    assert.equal((await post(url, callPath(installed.toUint8Array()), cbor({ content, sender_pubkey: der, sender_sig: tampered }))).status, 400)
    const other = Ed25519KeyIdentity.generate()
    const wrongKey = await post(url, callPath(installed.toUint8Array()), cbor({ content, sender_pubkey: new Uint8Array(other.getPublicKey().toDer()), sender_sig: sig }))
    assert.equal(wrongKey.status, 400)
    assert.match(wrongKey.body.toString(), /self-authenticating/)
    const anonWithSig = await post(url, callPath(installed.toUint8Array()), cbor({ content: callContent(installed.toUint8Array()), sender_sig: sig }))
    assert.equal(anonWithSig.status, 400)
    const unsupported = await post(url, callPath(installed.toUint8Array()), cbor({ content: { ...content, sender: Principal.selfAuthenticating(Uint8Array.of(1, 2, 3)).toUint8Array() }, sender_pubkey: Uint8Array.of(1, 2, 3), sender_sig: sig }))
    assert.equal(unsupported.status, 400)
    assert.match(unsupported.body.toString(), /not a supported DER public key/)
  })

  it('a delegation chain (DelegationIdentity) is verified, and a target outside it is refused', async () => {
    const root = Ed25519KeyIdentity.generate()
    const session = Ed25519KeyIdentity.generate()
    const chain = await DelegationChain.create(root, session.getPublicKey(), new Date(Date.now() + 600_000))
    const agent = await agentFor(url, DelegationIdentity.fromDelegation(session, chain))
    const actor = Actor.createActor(({ IDL }) => IDL.Service({ echo: IDL.Func([IDL.Text], [IDL.Text], []) }), { agent, canisterId: installed })
    assert.equal(await actor.echo('via delegation'), 'via delegation')
    const narrow = await DelegationChain.create(root, session.getPublicKey(), new Date(Date.now() + 600_000), { targets: [Principal.fromUint8Array(net.network.root.range[1].toUint8Array())] })
    const narrowAgent = await agentFor(url, DelegationIdentity.fromDelegation(session, narrow))
    await assert.rejects(narrowAgent.call(installed, { methodName: 'echo', arg: IDL.encode([IDL.Text], ['x']) }), (err: Error) => /does not allow canister/.test(err.message))
  })

  it('unknown canisters: outside every range 400, on another subnet 400, absent in range: non-replicated rejection', async () => {
    const outside = Principal.fromUint8Array(Uint8Array.from([0x7f, 0, 0, 0, 0, 0, 0, 0, 1, 1]))
    const r1 = await post(url, callPath(outside.toUint8Array()), cbor({ content: callContent(outside.toUint8Array()) }))
    assert.equal(r1.status, 400)
    assert.match(r1.body.toString(), /not in the canister ranges of any subnet/)
    const appCanister = net.network.subnets[1]!.range[0].toUint8Array()
    const r2 = await post(url, callPath(appCanister), cbor({ content: callContent(appCanister) }))
    assert.equal(r2.status, 400)
    assert.match(r2.body.toString(), /belongs to subnet/)
    const absent = net.network.root.range[1].toUint8Array()
    const r3 = await post(url, `/api/v3/canister/${Principal.fromUint8Array(absent).toText()}/call`, cbor({ content: callContent(absent) }))
    assert.equal(r3.status, 200)
    assert.match(r3.body.toString('latin1'), /non_replicated_rejection/)
    assert.equal((await post(url, callPath(installed.toUint8Array()), cbor({ content: callContent(absent) }))).status, 400, 'canister_id must match the URL')
    assert.equal((await post(url, '/api/v2/canister/not-a-principal/call', cbor({ content: callContent(absent) }))).status, 400)
  })

  it('read_state of another sender\'s request status: 403; of an unknown path: 400', async () => {
    const content = callContent(installed.toUint8Array(), { nonce: Uint8Array.of(9) })
    assert.equal((await post(url, callPath(installed.toUint8Array()), cbor({ content }))).status, 202)
    const rid = requestIdOf(content as never)
    const identity = Ed25519KeyIdentity.generate()
    const readContent = { request_type: 'read_state', sender: identity.getPrincipal().toUint8Array(), ingress_expiry: nowNs() + 60_000_000_000n, paths: [[new TextEncoder().encode('request_status'), rid]] }
    const sig = new Uint8Array(await identity.sign(concatBytes(REQUEST_DOMAIN_SEPARATOR, requestIdOf(readContent as never))))
    const path = `/api/v2/canister/${installed.toText()}/read_state`
    const res = await post(url, path, cbor({ content: readContent, sender_pubkey: new Uint8Array(identity.getPublicKey().toDer()), sender_sig: sig }))
    assert.equal(res.status, 403, res.body.toString())
    const anonRead = await post(url, path, cbor({ content: { ...readContent, sender: ANON } }))
    assert.equal(anonRead.status, 200, 'the sender itself may read it')
    const unknown = await post(url, path, cbor({ content: { ...readContent, sender: ANON, paths: [[new TextEncoder().encode('secrets')]] } }))
    assert.equal(unknown.status, 400)
    const otherCanister = await post(url, path, cbor({ content: { ...readContent, sender: ANON, paths: [[new TextEncoder().encode('canister'), net.network.root.range[1].toUint8Array(), new TextEncoder().encode('module_hash')]] } }))
    assert.equal(otherCanister.status, 403)
  })

  it('a flood beyond capacity gets 429s, every request is answered, and memory stays bounded', async () => {
    const path = `/api/v2/canister/${installed.toText()}/query`
    const body = cbor({ content: callContent(installed.toUint8Array(), { request_type: 'query' }) })
    // Slow senders take every slot (4 running, 8 waiting): each declares a body and sends only part of it.
    const u = new URL(url + path)
    const slow = Array.from({ length: 12 }, () => {
      const req = httpRequest({ host: u.hostname, port: u.port, path, method: 'POST', headers: { 'Content-Type': 'application/cbor', 'Content-Length': body.length } })
      req.on('error', () => {})
      req.write(body.subarray(0, 4))
      return req
    })
    const endpoint = net.endpoints[0]!
    while (endpoint.queueDepth().query! < 8) await new Promise(resolve => setTimeout(resolve, 20))
    const heapBefore = process.memoryUsage().heapUsed
    const counts = new Map<number, number>()
    for (let wave = 0; wave < 5; wave++) {
      const answers = await Promise.all(Array.from({ length: 200 }, async () => (await post(url, path, body)).status))
      for (const s of answers) counts.set(s, (counts.get(s) ?? 0) + 1)
    }
    assert.deepEqual([...counts], [[429, 1000]])
    assert.ok(endpoint.queueDepth().query! <= 8)
    assert.ok(process.memoryUsage().heapUsed - heapBefore < 64 * 1024 * 1024, 'heap grew by more than 64 MiB')
    // The slow senders finish; the queue drains and the endpoint serves again.
    const finished = slow.map(async req => await new Promise<number>(resolve => {
      req.on('response', res => { res.resume(); resolve(res.statusCode ?? 0) })
      req.end(body.subarray(4))
    }))
    assert.deepEqual(new Set(await Promise.all(finished)), new Set([200]))
    assert.equal((await post(url, path, body)).status, 200)
  })

  it('a body that does not arrive in time: 408', async () => {
    const slowNet = await startTestnet({ bodyReadTimeoutMs: 200 })
    try {
      const u = new URL(slowNet.endpoints[0]!.url)
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpRequest({ host: u.hostname, port: u.port, path: '/api/v2/canister/aaaaa-aa/call', method: 'POST', headers: { 'Content-Type': 'application/cbor', 'Content-Length': 100 } }, res => { res.resume(); resolve(res.statusCode ?? 0) })
        req.on('error', reject)
        req.write(Uint8Array.of(0xd9))
      })
      assert.equal(status, 408)
    } finally {
      await slowNet.stop()
    }
  })
})
