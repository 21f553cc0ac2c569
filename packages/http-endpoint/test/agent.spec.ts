/**
 * @dfinity/agent's HttpAgent against the endpoint, over loopback HTTP, with a
 * backend of real parts (state tree, threshold certificates, delegations).
 * Every certificate and query signature is checked by the agent itself.
 */
import assert from 'node:assert/strict'
import { Certificate, type HttpAgent, lookupResultToBuffer, pollForResponse, Actor, type ActorSubclass } from '@dfinity/agent'
import { IDL } from '@dfinity/candid'
import { Ed25519KeyIdentity } from '@dfinity/identity'
import { Secp256k1KeyIdentity } from '@dfinity/identity-secp256k1'
import { Principal } from '@dfinity/principal'
import {
  decodeCanisterIdResult, decodeCanisterStatusResult, encodeCanisterIdArgs, encodeInstallCodeArgs, encodeProvisionalCreateCanisterArgs
} from '../src/index.js'
import { agentFor, startTestnet, type Testnet } from './support.js'

const MANAGEMENT = Principal.fromText('aaaaa-aa')
const text = (b: Uint8Array | undefined): string => new TextDecoder().decode(b)

/** Creates and installs a canister on the node's subnet through the management canister, as a developer would. */
async function createAndInstall (agent: HttpAgent, url: string, anyCanisterOfSubnet: Principal): Promise<Principal> {
  const created = await agent.call(MANAGEMENT, { methodName: 'provisional_create_canister_with_cycles', arg: encodeProvisionalCreateCanisterArgs(), effectiveCanisterId: anyCanisterOfSubnet })
  assert.equal(created.response.status, 200, `v3 create answered ${created.response.status} at ${url}`)
  const reply = await certifiedReply(agent, created.response.body as { certificate: Uint8Array }, created.requestId, anyCanisterOfSubnet)
  const canisterId = Principal.fromUint8Array(decodeCanisterIdResult(reply).toUint8Array())
  const installed = await agent.call(MANAGEMENT, {
    methodName: 'install_code',
    arg: encodeInstallCodeArgs({ mode: 'install', canisterId, wasmModule: new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]), arg: new Uint8Array() }),
    effectiveCanisterId: canisterId
  })
  await certifiedReply(agent, installed.response.body as { certificate: Uint8Array }, installed.requestId, canisterId)
  return canisterId
}

async function certifiedReply (agent: HttpAgent, body: { certificate: Uint8Array }, requestId: Uint8Array, canisterId: Principal): Promise<Uint8Array> {
  const cert = await Certificate.create({ certificate: body.certificate, rootKey: agent.rootKey!, canisterId })
  const base = [new TextEncoder().encode('request_status'), requestId]
  const status = text(lookupResultToBuffer(cert.lookup_path([...base, 'status'])))
  assert.equal(status, 'replied', `status ${status}: ${text(lookupResultToBuffer(cert.lookup_path([...base, 'reject_message'])))}`)
  return lookupResultToBuffer(cert.lookup_path([...base, 'reply']))!
}

const counterIdl: IDL.InterfaceFactory = ({ IDL }) => IDL.Service({
  inc: IDL.Func([], [IDL.Nat], []),
  read: IDL.Func([], [IDL.Nat], ['query']),
  echo: IDL.Func([IDL.Text], [IDL.Text], ['query']),
  reject: IDL.Func([], [], [])
})
type Counter = ActorSubclass<{ inc: () => Promise<bigint>, read: () => Promise<bigint>, echo: (s: string) => Promise<string>, reject: () => Promise<void> }>

describe('@dfinity/agent against the HTTP endpoint', function () {
  this.timeout(60_000)
  let net: Testnet

  before(async () => { net = await startTestnet() })
  after(async () => { await net.stop() })

  for (const [name, subnetIndex] of [['the root subnet', 0], ['a delegated subnet', 1]] as const) {
    describe(`a canister on ${name}`, () => {
      let agent: HttpAgent
      let canisterId: Principal
      let url: string

      before(async () => {
        url = net.endpoints[subnetIndex]!.url
        agent = await agentFor(url, Ed25519KeyIdentity.generate())
        const anyId = Principal.fromUint8Array(net.network.subnets[subnetIndex]!.range[0].toUint8Array())
        canisterId = await createAndInstall(agent, url, anyId)
      })

      it('fetchRootKey gives the root subnet key in DER form', () => {
        assert.deepEqual(new Uint8Array(agent.rootKey!), net.network.root.rootKeyDer)
      })

      it('update calls through an actor (v3, certified) and queries (signed by the node, verified)', async () => {
        const actor: Counter = Actor.createActor(counterIdl, { agent, canisterId })
        assert.equal(await actor.inc(), 1n)
        assert.equal(await actor.inc(), 2n)
        assert.equal(await actor.read(), 2n)
        assert.equal(await actor.echo('hello icnet'), 'hello icnet')
      })

      it('v2 async call, then polling read_state of the request status', async () => {
        const { requestId, response } = await agent.call(canisterId, { methodName: 'inc', arg: IDL.encode([], []), callSync: false })
        assert.equal(response.status, 202)
        const { reply, certificate } = await pollForResponse(agent, canisterId, requestId)
        assert.ok((IDL.decode([IDL.Nat], reply)[0] as bigint) >= 1n)
        assert.ok(lookupResultToBuffer(certificate.lookup_path(['time'])) !== undefined)
      })

      it('concurrent queries all verify (signed inline or, on a busy loop, in the signing thread)', async () => {
        const actor: Counter = Actor.createActor(counterIdl, { agent, canisterId })
        const texts = Array.from({ length: 24 }, (_, i) => `concurrent ${i}`)
        assert.deepEqual(await Promise.all(texts.map(async t => await actor.echo(t))), texts)
      })

      it('readState of time and module hash', async () => {
        const paths = [[new TextEncoder().encode('time')], [new TextEncoder().encode('canister'), canisterId.toUint8Array(), new TextEncoder().encode('module_hash')]]
        const state = await agent.readState(canisterId, { paths })
        const cert = await Certificate.create({ certificate: state.certificate, rootKey: agent.rootKey!, canisterId })
        assert.equal(lookupResultToBuffer(cert.lookup_path(paths[1]!))?.length, 32)
        assert.ok(lookupResultToBuffer(cert.lookup_path(['time'])) !== undefined)
      })

      it('a canister reject is certified and surfaces as a reject error', async () => {
        const actor: Counter = Actor.createActor(counterIdl, { agent, canisterId })
        await assert.rejects(actor.reject(), (err: Error) => /rejected on request/.test(err.message))
      })

      it('canister_status through the management canister, by its controller', async () => {
        const { requestId, response } = await agent.call(MANAGEMENT, { methodName: 'canister_status', arg: encodeCanisterIdArgs(canisterId), effectiveCanisterId: canisterId })
        const reply = await certifiedReply(agent, response.body as { certificate: Uint8Array }, requestId, canisterId)
        const status = decodeCanisterStatusResult(reply)
        assert.equal(status.status, 'running')
        assert.equal(status.moduleHash?.length, 32)
      })
    })
  }

  it('a secp256k1 identity creates, installs and calls', async () => {
    const agent = await agentFor(net.endpoints[0]!.url, Secp256k1KeyIdentity.generate())
    const canisterId = await createAndInstall(agent, net.endpoints[0]!.url, Principal.fromUint8Array(net.network.root.range[0].toUint8Array()))
    const actor: Counter = Actor.createActor(counterIdl, { agent, canisterId })
    assert.equal(await actor.inc(), 1n)
  })

  it('a tampered certificate is refused by the agent', async () => {
    const agent = await agentFor(net.endpoints[1]!.url)
    const canisterId = Principal.fromUint8Array(net.network.subnets[1]!.range[0].toUint8Array())
    const state = await agent.readState(canisterId, { paths: [[new TextEncoder().encode('time')]] })
    const tampered = new Uint8Array(state.certificate)
    // Flip a bit in the signature (the 48 bytes before the delegation map).
    const sigAt = findSubarray(tampered, new TextEncoder().encode('signature')) + 'signature'.length + 2
    tampered[sigAt + 5]! ^= 0x01
    await Certificate.create({ certificate: state.certificate, rootKey: agent.rootKey!, canisterId })
    await assert.rejects(Certificate.create({ certificate: tampered, rootKey: agent.rootKey!, canisterId }))
  })

  it('a delegated certificate does not vouch for a canister outside its subnet', async () => {
    const agent = await agentFor(net.endpoints[1]!.url)
    const appCanister = Principal.fromUint8Array(net.network.subnets[1]!.range[0].toUint8Array())
    const rootCanister = Principal.fromUint8Array(net.network.root.range[0].toUint8Array())
    const state = await agent.readState(appCanister, { paths: [[new TextEncoder().encode('time')]] })
    await assert.rejects(Certificate.create({ certificate: state.certificate, rootKey: agent.rootKey!, canisterId: rootCanister }))
  })
})

function findSubarray (hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer
    return i
  }
  throw new Error('not found')
}
