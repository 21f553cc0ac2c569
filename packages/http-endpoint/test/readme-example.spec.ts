// The README's example, run as a test.
import assert from 'node:assert/strict'
import { Actor, HttpAgent } from '@dfinity/agent'
import { Principal } from '@dfinity/principal'
import { decodeCanisterIdResult, encodeInstallCodeArgs, encodeProvisionalCreateCanisterArgs, httpEndpoint, ReferenceNetwork } from '../src/index.js'

describe('README example', function () {
  this.timeout(60_000)
  it('runs', async () => {
    // Two subnets with real threshold certificates; subnet 1 is delegated by the root subnet.
    const network = new ReferenceNetwork({ subnets: 2 })
    const endpoint = httpEndpoint({ backend: network.subnets[1]! })
    await endpoint.start()

    const agent = await HttpAgent.create({ host: endpoint.url, shouldFetchRootKey: true })
    const management = Principal.fromText('aaaaa-aa')
    const anyIdOfSubnet = Principal.fromUint8Array(network.subnets[1]!.range[0].toUint8Array())
    const { Certificate, lookupResultToBuffer } = await import('@dfinity/agent')

    const created = await agent.call(management, { methodName: 'provisional_create_canister_with_cycles', arg: encodeProvisionalCreateCanisterArgs(), effectiveCanisterId: anyIdOfSubnet })
    const cert = await Certificate.create({ certificate: (created.response.body as { certificate: Uint8Array }).certificate, rootKey: agent.rootKey!, canisterId: anyIdOfSubnet })
    const reply = lookupResultToBuffer(cert.lookup_path(['request_status', created.requestId, 'reply']))!
    const canisterId = Principal.fromUint8Array(decodeCanisterIdResult(reply).toUint8Array())

    await agent.call(management, { methodName: 'install_code', arg: encodeInstallCodeArgs({ mode: 'install', canisterId, wasmModule: Uint8Array.of(0, 97, 115, 109), arg: new Uint8Array() }), effectiveCanisterId: canisterId })

    const counter = Actor.createActor<{ inc: () => Promise<bigint>, read: () => Promise<bigint> }>(
      ({ IDL }) => IDL.Service({ inc: IDL.Func([], [IDL.Nat], []), read: IDL.Func([], [IDL.Nat], ['query']) }),
      { agent, canisterId })
    assert.equal(await counter.inc(), 1n) // certified through the root delegation, verified by the agent
    assert.equal(await counter.read(), 1n) // signed by the node, verified by the agent

    await endpoint.stop()
  })
})
