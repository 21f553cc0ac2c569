/**
 * The v3 read_state and query routes: the same requests as v2 give the same
 * answers (certificates the agent verifies, with delegations on the non-root
 * subnet; node-signed query answers), under the same path rules.
 */
import assert from 'node:assert/strict'
import { createPublicKey, verify } from 'node:crypto'
import { Certificate, lookupResultToBuffer } from '@dfinity/agent'
import { IDL } from '@dfinity/candid'
import { Principal } from '@dfinity/principal'
import { decode, encode, Tagged } from 'cborg'
import { queryResponseMessage, requestIdOf, type QueryOutcome } from '../src/index.js'
import { agentFor, startTestnet, type Testnet } from './support.js'

const ANON = Uint8Array.of(4)
const utf8 = new TextEncoder()
const nowNs = (): bigint => BigInt(Date.now()) * 1_000_000n

function cbor (value: unknown): Uint8Array {
  return encode(new Tagged(55799, value))
}

/** An answer's CBOR, after the self-describe tag. */
function decodeAnswer<T> (bytes: Uint8Array): T {
  assert.deepEqual([...bytes.subarray(0, 3)], [0xd9, 0xd9, 0xf7])
  return decode(bytes.subarray(3)) as T
}

async function post (url: string, path: string, body: Uint8Array): Promise<{ status: number, body: Buffer }> {
  const res = await fetch(url + path, { method: 'POST', body, headers: { 'Content-Type': 'application/cbor' } })
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()) }
}

function readStateBody (paths: Uint8Array[][]): Uint8Array {
  return cbor({ content: { request_type: 'read_state', paths, sender: ANON, ingress_expiry: nowNs() + 60_000_000_000n } })
}

interface SignedAnswer {
  status: string
  reply?: { arg: Uint8Array }
  signatures: Array<{ timestamp: bigint, signature: Uint8Array, identity: Uint8Array }>
}

describe('v3 read_state and query routes', function () {
  this.timeout(60_000)
  let net: Testnet

  before(async () => { net = await startTestnet() })
  after(async () => { await net.stop() })

  for (const [name, subnetIndex] of [['the root subnet', 0], ['a delegated subnet', 1]] as const) {
    it(`canister and subnet read_state on ${name}: certificates the agent verifies, as at v2`, async () => {
      const url = net.endpoints[subnetIndex]!.url
      const agent = await agentFor(url)
      const subnet = net.network.subnets[subnetIndex]!
      const canisterId = Principal.fromUint8Array(subnet.range[0].toUint8Array())
      const subnetId = Principal.fromUint8Array(subnet.subnetId.toUint8Array())
      const time = [utf8.encode('time')]
      for (const version of ['v2', 'v3']) {
        const atCanister = await post(url, `/api/${version}/canister/${canisterId.toText()}/read_state`, readStateBody([time]))
        assert.equal(atCanister.status, 200, `${version} canister read_state`)
        const { certificate } = decodeAnswer<{ certificate: Uint8Array }>(atCanister.body)
        const cert = await Certificate.create({ certificate, rootKey: agent.rootKey!, canisterId })
        assert.ok(lookupResultToBuffer(cert.lookup_path(['time'])) !== undefined)

        const publicKey = [utf8.encode('subnet'), subnetId.toUint8Array(), utf8.encode('public_key')]
        const atSubnet = await post(url, `/api/${version}/subnet/${subnetId.toText()}/read_state`, readStateBody([publicKey]))
        assert.equal(atSubnet.status, 200, `${version} subnet read_state`)
        // (This agent verifies a delegation against a canister id: one of the subnet's.)
        const subnetCert = await Certificate.create({ certificate: decodeAnswer<{ certificate: Uint8Array }>(atSubnet.body).certificate, rootKey: agent.rootKey!, canisterId })
        assert.ok((lookupResultToBuffer(subnetCert.lookup_path(publicKey)) ?? new Uint8Array()).length > 0)
      }
    })
  }

  it('v3 read_state keeps the path rules: canister paths only at a canister, canister_ranges only at a subnet, other subnets refused', async () => {
    const url = net.endpoints[0]!.url
    const subnet = net.network.root
    const canister = subnet.range[0].toUint8Array()
    const canisterText = Principal.fromUint8Array(canister).toText()
    const subnetText = Principal.fromUint8Array(subnet.subnetId.toUint8Array()).toText()
    const moduleHash = [utf8.encode('canister'), canister, utf8.encode('module_hash')]
    const ranges = [utf8.encode('canister_ranges'), subnet.subnetId.toUint8Array()]
    assert.equal((await post(url, `/api/v3/subnet/${subnetText}/read_state`, readStateBody([moduleHash]))).status, 403)
    assert.equal((await post(url, `/api/v3/canister/${canisterText}/read_state`, readStateBody([ranges]))).status, 403)
    assert.equal((await post(url, `/api/v3/canister/${canisterText}/read_state`, readStateBody([[utf8.encode('no_such_root')]]))).status, 400)
    const otherSubnet = Principal.fromUint8Array(net.network.subnets[1]!.subnetId.toUint8Array()).toText()
    assert.equal((await post(url, `/api/v3/subnet/${otherSubnet}/read_state`, readStateBody([[utf8.encode('time')]]))).status, 400)
    // Not routes of the interface: a subnet query, a v3 subnet call.
    assert.equal((await post(url, `/api/v3/subnet/${subnetText}/query`, readStateBody([]))).status, 404)
    assert.equal((await post(url, `/api/v3/subnet/${subnetText}/call`, readStateBody([]))).status, 404)
  })

  it('a v3 query gets the answer of a v2 query, signed by the node over its request id', async () => {
    const url = net.endpoints[1]!.url
    const subnet = net.network.subnets[1]!
    // No canister is installed at the first id of the range: the answer is a signed rejection (IC0301).
    const canister = subnet.range[0].toUint8Array()
    const echo = new Uint8Array(IDL.encode([IDL.Text], ['v3']))
    const content = { request_type: 'query', canister_id: canister, method_name: 'echo', arg: echo, sender: ANON, ingress_expiry: nowNs() + 60_000_000_000n, nonce: Uint8Array.of(3) }
    const requestId = requestIdOf(content as never)
    const nodeKey = createPublicKey({ key: Buffer.from(subnet.querySigner.publicKeyDer), format: 'der', type: 'spki' })
    const answers: SignedAnswer[] = []
    for (const version of ['v2', 'v3']) {
      const res = await post(url, `/api/${version}/canister/${Principal.fromUint8Array(canister).toText()}/query`, cbor({ content }))
      assert.equal(res.status, 200, `${version} query`)
      const answer = decodeAnswer<SignedAnswer & { reject_code?: number, reject_message?: string, error_code?: string }>(res.body)
      assert.equal(answer.signatures.length, 1)
      const [{ timestamp, signature, identity }] = answer.signatures as [SignedAnswer['signatures'][0]]
      assert.deepEqual(identity, subnet.querySigner.nodeId)
      const outcome: QueryOutcome = answer.status === 'replied'
        ? { status: 'replied', reply: answer.reply!.arg }
        : { status: 'rejected', rejectCode: answer.reject_code!, rejectMessage: answer.reject_message!, ...(answer.error_code === undefined ? {} : { errorCode: answer.error_code }) }
      assert.ok(verify(null, queryResponseMessage(outcome, BigInt(timestamp), requestId), nodeKey, signature), `${version} signature`)
      answers.push(answer)
    }
    assert.equal(answers[1]!.status, answers[0]!.status)
    assert.deepEqual(answers[1]!.reply, answers[0]!.reply)
  })
})
