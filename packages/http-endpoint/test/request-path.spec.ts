/**
 * The parts of the request path built for speed, each against a plain
 * reference: answers encoded in one pass decode as cborg decodes them, the
 * request-id hash with its cached digests equals a straightforward one,
 * admission keeps FIFO order and its bounds, coarse deadlines fire and
 * cancel; and the v3 call's fallback to 202 when certification is slower
 * than the wait, after which the agent polls the certified reply.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { Agent, type ClientRequest, request as httpRequest } from 'node:http'
import { decode, encode, Tagged } from 'cborg'
import fc from 'fast-check'
import { pollForResponse } from '@dfinity/agent'
import { IDL } from '@dfinity/candid'
import { Principal } from '@dfinity/principal'
import { compareBytes, concatBytes } from '@icnet/types'
import { encodeAnswer, encodeSignedReply, type AnswerValue } from '../src/cbor-encode.js'
import { Deadlines } from '../src/deadlines.js'
import { RECURRING_DIGEST_CACHE_SIZE } from '../src/constants.js'
import { recurringDigestCacheSizes } from '../src/request-id.js'
import {
  AdmissionQueue, decodeCanisterIdResult, encodeInstallCodeArgs, encodeProvisionalCreateCanisterArgs, hashOfMap, hashValue, httpEndpoint, leb128, queryResponseMessage, ReferenceNetwork,
  RESPONSE_DOMAIN_SEPARATOR,
  type HashableMap, type HashableValue, type HttpBackend
} from '../src/index.js'
import { agentFor } from './support.js'

/** The specification's hash_of_map written as plainly as possible. */
function referenceHash (v: HashableValue): Uint8Array {
  const sha = (b: Uint8Array): Uint8Array => new Uint8Array(createHash('sha256').update(b).digest())
  if (v instanceof Uint8Array) return sha(v)
  if (typeof v === 'string') return sha(new TextEncoder().encode(v))
  if (typeof v === 'bigint' || typeof v === 'number') return sha(leb128(v))
  if (Array.isArray(v)) return sha(concatBytes(...(v as HashableValue[]).map(referenceHash)))
  const entries = v instanceof Map ? [...v.entries()] : Object.entries(v).filter(([, x]) => x !== undefined)
  const pairs = entries.map(([k, x]) => concatBytes(sha(new TextEncoder().encode(k)), referenceHash(x as HashableValue)))
  pairs.sort(compareBytes)
  return sha(concatBytes(...pairs))
}

const hashable: fc.Arbitrary<HashableValue> = fc.letrec<{ value: HashableValue }>(tie => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.uint8Array({ maxLength: 40 }),
    fc.constantFrom(Uint8Array.of(4), 'query', 'call', 'read_state', 'replied', 'rejected', 'status', ''),
    fc.string({ maxLength: 20 }),
    fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    fc.nat(),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(fc.constantFrom('request_type', 'arg', 'sender', 'nonce', 'status'), fc.string({ maxLength: 8 })), tie('value'), { maxKeys: 5 })
  )
})).value

const answer: fc.Arbitrary<AnswerValue> = fc.letrec<{ value: AnswerValue }>(tie => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.uint8Array({ maxLength: 300 }),
    fc.string({ unit: 'binary', maxLength: 300 }),
    fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }),
    fc.constantFrom(0, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER),
    fc.array(tie('value'), { maxLength: 30 }),
    fc.dictionary(fc.string({ maxLength: 10 }), tie('value'), { maxKeys: 30 })
  )
})).value

/** What cborg decodes an answer to: numbers are bigints only from 2^53 up. */
function normalised (v: AnswerValue): unknown {
  if (typeof v === 'bigint' || typeof v === 'number') return BigInt(v) <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : BigInt(v)
  if (v instanceof Uint8Array || typeof v === 'string') return v
  if (Array.isArray(v)) return (v as AnswerValue[]).map(normalised)
  return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== undefined).map(([k, x]) => [k, normalised(x!)]))
}

describe('the request path', function () {
  this.timeout(60_000)

  it('one-pass CBOR answers decode (cborg) to the value, under the self-describe tag', () => {
    fc.assert(fc.property(answer, v => {
      const bytes = encodeAnswer(v)
      assert.deepEqual([...bytes.subarray(0, 3)], [0xd9, 0xd9, 0xf7])
      assert.deepEqual(decode(bytes.subarray(3)), normalised(v))
    }), { numRuns: 300 })
    assert.throws(() => encodeAnswer(-1), RangeError)
    assert.throws(() => encodeAnswer(1n << 64n), RangeError)
  })

  it('hash_of_map with cached digests equals the plain definition, and its results are not shared', () => {
    fc.assert(fc.property(fc.dictionary(fc.string({ maxLength: 12 }), hashable, { maxKeys: 8 }), map => {
      assert.deepEqual(hashOfMap(map as HashableMap), referenceHash(map as HashableMap))
      assert.deepEqual(hashOfMap(new Map(Object.entries(map))), referenceHash(map as HashableMap))
    }), { numRuns: 300 })
    const first = hashValue('query')
    first.fill(0)
    assert.deepEqual(hashValue('query'), referenceHash('query'))
  })

  it('digests of recurring values (principals, method names, expiries, timestamps) come from bounded caches and equal the plain definition', () => {
    const principals = [Uint8Array.of(4), Uint8Array.of(0, 0, 0, 0, 0, 0x10, 0, 1, 1, 1), Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 1, 1), new Uint8Array(29).fill(7)]
    const content = fc.record({
      request_type: fc.constantFrom('query', 'call'),
      canister_id: fc.constantFrom(...principals),
      sender: fc.constantFrom(...principals),
      method_name: fc.constantFrom('echo', 'read', 'greet', ''),
      ingress_expiry: fc.constantFrom(1_700_000_000_000_000_000n, 1_700_000_060_000_000_000n, 5n),
      arg: fc.uint8Array({ maxLength: 20 }),
      nonce: fc.uint8Array({ maxLength: 8 })
    })
    // The same few values many times over: most digests come from the caches.
    fc.assert(fc.property(content, c => { assert.deepEqual(hashOfMap(c), referenceHash(c)) }), { numRuns: 500 })
    const timestamp = 1_700_000_000_123_000_000n
    for (const requestId of [new Uint8Array(32).fill(1), new Uint8Array(32).fill(2)]) {
      const reply = Uint8Array.of(1, 2, 3)
      const expected = concatBytes(RESPONSE_DOMAIN_SEPARATOR, referenceHash({ status: 'replied', reply: { arg: reply }, timestamp, request_id: requestId }))
      assert.deepEqual(queryResponseMessage({ status: 'replied', reply }, timestamp, requestId), expected)
    }
    // A flood of distinct values: every cache stays within its bound, and hashes stay right.
    for (let i = 0; i < 3 * RECURRING_DIGEST_CACHE_SIZE; i++) {
      const c = { canister_id: Uint8Array.of(i & 0xff, i >> 8, 9), method_name: `m${i}`, ingress_expiry: BigInt(i) }
      const id = hashOfMap(c)
      if (i % 97 === 0) assert.deepEqual(id, referenceHash(c))
    }
    const sizes = recurringDigestCacheSizes()
    for (const n of Object.values(sizes)) assert.ok(n > 0 && n <= RECURRING_DIGEST_CACHE_SIZE, `cache size ${n}`)
  })

  it('a signed reply is written as encodeAnswer writes the same answer, and its signed hash is hash_of_map of the response', () => {
    const natural64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })
    fc.assert(fc.property(fc.uint8Array({ maxLength: 70_000 }), natural64, fc.uint8Array({ maxLength: 100 }), fc.uint8Array({ maxLength: 40 }), fc.uint8Array({ minLength: 32, maxLength: 32 }),
      (arg, timestamp, signature, identity, requestId) => {
        const expected = encodeAnswer({ status: 'replied', reply: { arg }, signatures: [{ timestamp, signature, identity }] })
        assert.deepEqual(encodeSignedReply(arg, timestamp, signature, identity), expected)
        const hash = referenceHash({ status: 'replied', reply: { arg }, timestamp, request_id: requestId } as unknown as HashableMap)
        assert.deepEqual(queryResponseMessage({ status: 'replied', reply: arg }, timestamp, requestId), concatBytes(RESPONSE_DOMAIN_SEPARATOR, hash))
      }), { numRuns: 200 })
    assert.throws(() => encodeSignedReply(new Uint8Array(), 1n << 64n, new Uint8Array(64), new Uint8Array(29)), RangeError)
  })

  it('LEB128 of naturals equals the bytewise definition, below and above 2^64', () => {
    const plainLeb = (v: bigint): number[] => {
      const out: number[] = []
      do { out.push(Number(v & 0x7fn) | (v >> 7n === 0n ? 0 : 0x80)); v >>= 7n } while (v !== 0n)
      return out
    }
    fc.assert(fc.property(fc.oneof(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.bigInt({ min: 0n, max: 1n << 80n }), fc.constantFrom(0n, 127n, 128n, (1n << 32n) - 1n, 1n << 32n, (1n << 63n) | 1n, (1n << 64n) - 1n, 1n << 64n)), v => {
      assert.deepEqual([...leb128(v)], plainLeb(v))
      if (v <= BigInt(Number.MAX_SAFE_INTEGER)) assert.deepEqual([...leb128(Number(v))], plainLeb(v))
    }), { numRuns: 500 })
    assert.deepEqual([...leb128(624485n)], [0xe5, 0x8e, 0x26])
    assert.throws(() => leb128(-1), RangeError)
    assert.throws(() => leb128(-1n), RangeError)
  })

  it('admission runs at once while slots are free, then in FIFO order, and refuses past the queue bound', async () => {
    const q = new AdmissionQueue(2, 3)
    const ran: number[] = []
    const releases: Array<() => void> = []
    for (let i = 0; i < 6; i++) {
      const admitted = q.tryRun(release => { ran.push(i); releases.push(release) })
      assert.equal(admitted, i < 5, `request ${i}`)
    }
    assert.deepEqual(ran, [0, 1])
    assert.deepEqual([q.active, q.queued], [2, 3])
    releases[0]!()
    releases[0]!() // idempotent: does not free a second slot
    await Promise.resolve()
    assert.deepEqual(ran, [0, 1, 2])
    releases[1]!()
    releases[2]!()
    await Promise.resolve()
    await Promise.resolve()
    assert.deepEqual(ran, [0, 1, 2, 3, 4])
    assert.deepEqual([q.active, q.queued], [2, 0])
    for (const r of releases) r()
    assert.deepEqual([q.active, q.queued], [0, 0])
    // Around the ring several times.
    for (let round = 0; round < 5; round++) {
      const order: number[] = []
      const held: Array<() => void> = []
      for (let i = 0; i < 5; i++) assert.ok(q.tryRun(release => { order.push(i); held.push(release) }))
      while (held.length > 0) { held.shift()!(); await Promise.resolve() }
      assert.deepEqual(order, [0, 1, 2, 3, 4])
    }
  })

  it('coarse deadlines fire once after their time and not when cancelled', async () => {
    const deadlines = new Deadlines(10)
    const fired: string[] = []
    const started = performance.now()
    const done = new Promise<number>(resolve => { deadlines.after(40, () => { fired.push('a'); resolve(performance.now() - started) }) })
    const cancelled = deadlines.after(20, () => { fired.push('b') })
    cancelled.cancel()
    cancelled.cancel()
    const elapsed = await done
    assert.ok(elapsed >= 40, `fired after ${elapsed} ms`)
    await new Promise(resolve => setTimeout(resolve, 50))
    assert.deepEqual(fired, ['a'])
    assert.equal(deadlines.size, 0)
    deadlines.after(10_000, () => { fired.push('c') })
    deadlines.clear()
    assert.equal(deadlines.size, 0)
  })

  it('a v3 call not certified within the wait answers 202, and the agent then polls its certified reply', async () => {
    const network = new ReferenceNetwork({ subnets: 1 })
    const subnet = network.root
    // The subnet executes and certifies as usual, but a v3 caller's wait for it never ends early: the wait times out.
    const slowToCertify: HttpBackend = {
      rootKeyDer: subnet.rootKeyDer,
      subnetId: subnet.subnetId,
      querySigner: subnet.querySigner,
      routeCanister: id => subnet.routeCanister(id),
      submitIngress: async m => await subnet.submitIngress(m),
      waitForCertifiedStatus: async (_requestId, signal) => await new Promise<void>((_resolve, reject) => {
        signal.addEventListener('abort', () => { reject(signal.reason as Error) }, { once: true })
      }),
      query: async r => await subnet.query(r),
      ingressOrigin: id => subnet.ingressOrigin(id),
      readState: async paths => await subnet.readState(paths),
      health: () => subnet.health()
    }
    const endpoint = httpEndpoint({ backend: slowToCertify, syncCallTimeoutMs: 300 })
    await endpoint.start()
    try {
      const agent = await agentFor(endpoint.url)
      const anyCanister = Principal.fromUint8Array(subnet.range[0].toUint8Array())
      const started = performance.now()
      const { requestId, response } = await agent.call(Principal.fromText('aaaaa-aa'), { methodName: 'provisional_create_canister_with_cycles', arg: encodeProvisionalCreateCanisterArgs(), effectiveCanisterId: anyCanister })
      assert.equal(response.status, 202)
      assert.ok(performance.now() - started >= 300, 'answered before the wait ran out')
      const { reply } = await pollForResponse(agent, anyCanister, requestId)
      const created = Principal.fromUint8Array(decodeCanisterIdResult(reply).toUint8Array())
      assert.equal(created.toText(), anyCanister.toText())
      // The node goes on serving v3 calls the same way.
      const install = await agent.call(Principal.fromText('aaaaa-aa'), { methodName: 'install_code', arg: encodeInstallCodeArgs({ mode: 'install', canisterId: created, wasmModule: Uint8Array.of(0, 97, 115, 109), arg: new Uint8Array() }), effectiveCanisterId: created })
      assert.equal(install.response.status, 202)
      const echoed = await agent.query(created, { methodName: 'echo', arg: IDL.encode([IDL.Text], ['after 202']) })
      assert.equal(echoed.status, 'replied')
    } finally {
      await endpoint.stop()
    }
  })

  it('a request whose client left while it waited for a slot gives the slot up at once', async () => {
    const network = new ReferenceNetwork({ subnets: 1 })
    // One slot, one waiting place, and a body limit far beyond the test's duration.
    const endpoint = httpEndpoint({ backend: network.root, maxConcurrent: 1, maxQueued: 1, bodyReadTimeoutMs: 120_000 })
    await endpoint.start()
    try {
      const path = '/api/v2/canister/aaaaa-aa/call'
      const open = (): ClientRequest => {
        const req = httpRequest({ host: '127.0.0.1', port: endpoint.address.port, path, method: 'POST', headers: { 'Content-Type': 'application/cbor', 'Content-Length': 10 } })
        req.on('error', () => {})
        req.write(Uint8Array.of(0xa1))
        req.flushHeaders()
        return req
      }
      const holder = open()
      const leaver = open()
      while (endpoint.queueDepth().call_v2 !== 1) await new Promise(resolve => setTimeout(resolve, 10))
      leaver.destroy()
      await new Promise(resolve => setTimeout(resolve, 50))
      // The holder finishes (an invalid body: 400); the leaver's turn ends at once, so a third request is served.
      const held = new Promise<number>(resolve => { holder.on('response', res => { res.resume(); resolve(res.statusCode ?? 0) }) })
      holder.end(new Uint8Array(9))
      assert.equal(await held, 400)
      const third = await fetch(`${endpoint.url}/api/v2/status`)
      assert.equal(third.status, 200)
      const call = await fetch(`${endpoint.url}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/cbor' }, body: Uint8Array.of(0xa0) })
      assert.equal(call.status, 400, 'the slot was free for the next call')
      assert.equal(endpoint.queueDepth().call_v2, 0)
    } finally {
      await endpoint.stop()
    }
  })

  it('answers written together at the end of a loop turn (batchWrites) each reach their own connection, as without batching', async () => {
    const network = new ReferenceNetwork({ subnets: 1 })
    const subnet = network.root
    for (const batchWrites of [true, false]) {
      const endpoint = httpEndpoint({ backend: subnet, batchWrites })
      await endpoint.start()
      const agent = new Agent({ keepAlive: true, maxSockets: 16 })
      try {
        assert.equal(endpoint.batchWrites, batchWrites)
        const canisterId = Principal.fromUint8Array(subnet.range[0].toUint8Array())
        if (batchWrites) {
          const client = await agentFor(endpoint.url)
          await client.call(Principal.fromText('aaaaa-aa'), { methodName: 'provisional_create_canister_with_cycles', arg: encodeProvisionalCreateCanisterArgs(), effectiveCanisterId: canisterId })
          await client.call(Principal.fromText('aaaaa-aa'), { methodName: 'install_code', arg: encodeInstallCodeArgs({ mode: 'install', canisterId, wasmModule: Uint8Array.of(0, 97, 115, 109), arg: new Uint8Array() }), effectiveCanisterId: canisterId })
        }
        // 16 sockets with a query each in flight, 8 rounds: every answer must carry its own request's argument.
        const ask = async (i: number): Promise<void> => {
          const arg = new Uint8Array(IDL.encode([IDL.Text], [`query ${i}`]))
          const body = encode(new Tagged(55799, { content: { request_type: 'query', canister_id: canisterId.toUint8Array(), method_name: 'echo', arg, sender: Uint8Array.of(4), ingress_expiry: BigInt(Date.now() + 60_000) * 1_000_000n } }))
          const { status, answer } = await new Promise<{ status: number, answer: Buffer }>((resolve, reject) => {
            const req = httpRequest({ host: '127.0.0.1', port: endpoint.address.port, path: `/api/v2/canister/${canisterId.toText()}/query`, method: 'POST', agent, headers: { 'Content-Type': 'application/cbor', 'Content-Length': body.length } }, res => {
              const chunks: Buffer[] = []
              res.on('data', (c: Buffer) => chunks.push(c))
              res.on('end', () => { resolve({ status: res.statusCode ?? 0, answer: Buffer.concat(chunks) }) })
            })
            req.on('error', reject)
            req.end(body)
          })
          assert.equal(status, 200)
          // Past the self-describe tag (3 bytes), as the first test of this file reads answers.
          const decoded = decode(answer.subarray(3)) as { status: string, reply: { arg: Uint8Array } }
          assert.equal(decoded.status, 'replied')
          assert.deepEqual(decoded.reply.arg, arg)
        }
        for (let round = 0; round < 8; round++) await Promise.all(Array.from({ length: 16 }, async (_, i) => { await ask(round * 16 + i) }))
      } finally {
        agent.destroy()
        await endpoint.stop()
      }
    }
  })

  it('the self-describe tag prefix is what cborg writes', () => {
    assert.deepEqual([...encodeAnswer({ a: 1 })], [...encode(new Tagged(55799, { a: 1 }))])
  })
})
