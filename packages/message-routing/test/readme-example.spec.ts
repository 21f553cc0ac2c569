import assert from 'node:assert/strict'
import { rm } from 'node:fs/promises'
// ---- README example starts here (keep in sync with README.md) ----
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { certificateMessage, dealThresholdKeys, thresholdSigner } from '@icnet/crypto'
import { JS_TEST_CANISTERS, JsSandbox } from '@icnet/execution'
import { Principal, RoutingTable, canisterIdFromU64, subnetIdFromPublicKeyDer } from '@icnet/types'
import { StaticRegistryView } from '@icnet/xnet-stream'
import { MessageRouting } from '../src/index.js'

describe('README example', () => {
  it('runs', async () => {
    // A subnet with a dealt 1-of-1 threshold key, hosting canisters 0..99.
    const keys = dealThresholdKeys({ n: 1, t: 1 })
    const subnetId = subnetIdFromPublicKeyDer(keys.publicKeyDer)
    const registry = new StaticRegistryView({
      subnets: [{ id: subnetId, type: 'application', nodes: [], publicKey: keys.publicKey, publicKeyDer: keys.publicKeyDer }],
      routingTable: new RoutingTable([{ subnetId, range: { start: canisterIdFromU64(0), end: canisterIdFromU64(99) } }])
    })
    const sign = thresholdSigner({ shares: keys.shares, threshold: 1 })

    const dataDir = await mkdtemp(join(tmpdir(), 'icnet-mr-'))
    const sandbox = new JsSandbox({ canisters: JS_TEST_CANISTERS })
    const mr = await MessageRouting.open({ subnetId, registry, sandbox, dataDir, checkpointInterval: 2 })

    // Genesis: install the JS counter canister (a wasm module with the wasm sandbox).
    const counter = canisterIdFromU64(1)
    await mr.installCanister({ canisterId: counter, module: new TextEncoder().encode('counter') })

    // An ingress message, checked as the HTTP layer would, then executed in batch 1.
    const now = 1_700_000_000_000
    const msg = {
      requestId: new Uint8Array(32).fill(7), sender: Principal.anonymous(), canisterId: counter,
      methodName: 'inc', arg: new Uint8Array(0), expiry: now + 60_000
    }
    mr.validateIngress(msg, now)
    const r1 = await mr.executeBatch({ height: 1, time: now, ingress: [msg] })
    // Consensus certifies the root; here we sign it ourselves.
    mr.setCertification(r1.height, sign(certificateMessage(r1.stateRoot)))
    console.log(mr.ingressStatus(msg.requestId)?.status) // 'replied'
    const certificate = mr.readStateCertificate([['request_status', msg.requestId]]) // CBOR, for read_state

    // Every `checkpointInterval` heights a checkpoint is written; its hash goes into a CUP.
    const r2 = await mr.executeBatch({ height: 2, time: now + 1000 })
    console.log(r2.checkpoint?.height) // 2
    // ---- README example ends here ----

    assert.equal(mr.ingressStatus(msg.requestId)?.status, 'replied')
    assert.ok(certificate !== undefined && certificate.length > 0)
    assert.equal(r2.checkpoint?.height, 2)
    assert.equal(r2.checkpoint?.stateHash.length, 32)
    // Reopening loads the checkpoint: nothing to replay.
    const sandbox2 = new JsSandbox({ canisters: JS_TEST_CANISTERS })
    const again = await MessageRouting.open({ subnetId, registry, sandbox: sandbox2, dataDir, checkpointInterval: 2 })
    assert.equal(again.height, 2)
    assert.deepEqual(again.stateRoot, r2.stateRoot)
    await mr.close()
    await again.close()
    await rm(dataDir, { recursive: true, force: true })
  })
})
