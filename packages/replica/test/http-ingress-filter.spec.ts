/**
 * The call endpoint's ingress filter on a real message routing state (wasm
 * sandbox, one subnet, batches executed in process): calls to a stopping,
 * stopped or empty canister are refused at submission and never reach the ingress pool,
 * management calls about them pass, and a started canister takes calls again.
 */
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { dealThresholdKeys, type ThresholdKeySet } from '@icnet/crypto'
import { WasmSandbox, encodeXnetLoadConfig } from '@icnet/execution'
import { loadTestCanister } from '@icnet/execution/canisters'
import { decodeCanisterIdResult, encodeCanisterIdArgs, encodeProvisionalCreateCanisterArgs, type IngressMessage, type SubmitOutcome } from '@icnet/http-endpoint'
import { MessageRouting } from '@icnet/message-routing'
import { MANAGEMENT_CANISTER_ID, Principal, RoutingTable, canisterIdFromU64, subnetIdFromPublicKeyDer, toHex, type CanisterId } from '@icnet/types'
import { StaticRegistryView } from '@icnet/xnet-stream'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { ReplicaHttpBackend } from '../src/http/index.js'
import { IngressPool } from '../src/ingress.js'

const utf8 = new TextEncoder()

describe('the ingress filter at submission (replica HTTP backend on message routing)', function () {
  this.timeout(60_000)
  const [keys, otherKeys] = ['ingress-filter', 'ingress-filter-other'].map(seed => dealThresholdKeys({ n: 4, t: 3, seed: utf8.encode(seed) })) as [ThresholdKeySet, ThresholdKeySet]
  const subnetId = subnetIdFromPublicKeyDer(keys.publicKeyDer)
  // A second subnet that never executes here: calls to it stay unanswered.
  const otherSubnet = subnetIdFromPublicKeyDer(otherKeys.publicKeyDer)
  const registry = new StaticRegistryView({
    subnets: [keys, otherKeys].map(k => ({ id: subnetIdFromPublicKeyDer(k.publicKeyDer), type: 'application' as const, nodes: [], publicKey: k.publicKey, publicKeyDer: k.publicKeyDer })),
    routingTable: new RoutingTable([
      { subnetId, range: { start: canisterIdFromU64(0), end: canisterIdFromU64(999) } },
      { subnetId: otherSubnet, range: { start: canisterIdFromU64(1000), end: canisterIdFromU64(1999) } }
    ])
  })
  const canister = canisterIdFromU64(0)
  let dir: string
  let sandbox: WasmSandbox
  let mr: MessageRouting
  let pool: IngressPool
  let backend: ReplicaHttpBackend
  let counter = 0

  const message = (canisterId: Principal, methodName: string, arg: Uint8Array, effectiveCanisterId: Principal = canisterId): IngressMessage => ({
    requestId: new Uint8Array(createHash('sha256').update(`filter-${counter++}`).digest()),
    sender: Principal.anonymous(),
    canisterId,
    effectiveCanisterId,
    methodName,
    arg,
    ingressExpiry: BigInt(Date.now() + 120_000) * 1_000_000n
  })
  const call = (id: CanisterId): IngressMessage => message(id, 'configure', new Uint8Array())
  const manage = (method: string, id: CanisterId, arg = encodeCanisterIdArgs(id)): IngressMessage => message(MANAGEMENT_CANISTER_ID, method, arg, id)

  /** Executes one batch carrying `msgs`; returns their replies. */
  async function execute (...msgs: IngressMessage[]): Promise<Uint8Array[]> {
    await executeOnly(...msgs)
    return msgs.map(m => {
      const st = mr.ingressStatus(m.requestId)
      assert.equal(st?.status, 'replied', `${m.methodName}: ${JSON.stringify(st)}`)
      return (st as { reply: Uint8Array }).reply
    })
  }

  async function executeOnly (...msgs: IngressMessage[]): Promise<void> {
    await mr.executeBatch({
      height: mr.height + 1,
      time: Date.now(),
      ingress: msgs.map(m => ({ requestId: m.requestId, sender: m.sender, canisterId: m.canisterId, methodName: m.methodName, arg: m.arg, expiry: Number(m.ingressExpiry / 1_000_000n) })),
      xnetSlices: new Map()
    })
  }

  /** Submits `m` and checks whether it reached the pool. */
  async function submit (m: IngressMessage): Promise<SubmitOutcome> {
    const before = pool.length
    const out = await backend.submitIngress(m)
    assert.equal(pool.length, before + (out.accepted ? 1 : 0), 'only accepted calls are pooled')
    return out
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'icnet-ingress-filter-'))
    sandbox = new WasmSandbox()
    mr = await MessageRouting.open({ subnetId, registry, sandbox, dataDir: dir, checkpointInterval: 1_000_000 })
    await mr.installCanister({ canisterId: canister, module: await loadTestCanister('xnet_load'), controllers: [Principal.anonymous()] })
    pool = new IngressPool()
    const key = await generateKeyPair('Ed25519')
    backend = new ReplicaHttpBackend({ subnetId, libp2pPrivateKey: toHex(privateKeyToProtobuf(key)), registry: () => registry, state: () => mr, pool, running: () => true })
  })

  after(async () => {
    backend?.close()
    await mr?.close()
    await sandbox?.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('a running canister with a module takes the call', async () => {
    assert.deepEqual(await submit(call(canister)), { accepted: true })
  })

  it('a stopped canister refuses it with reject 5, IC0508 (one already taken is rejected at induction); management calls about it pass; started, it takes calls again', async () => {
    // Taken while running, inducted after the stop (the management canister runs first in a batch): rejected at induction.
    const early = call(canister)
    assert.deepEqual(await submit(early), { accepted: true })
    const stop = manage('stop_canister', canister)
    await executeOnly(stop, early)
    assert.equal(mr.ingressStatus(stop.requestId)?.status, 'replied')
    assert.deepEqual(mr.ingressStatus(early.requestId), { status: 'rejected', code: 5, message: `Canister ${canister.toText()} is stopped`, expiry: Number(early.ingressExpiry / 1_000_000n) })
    assert.deepEqual(mr.canisterStatusOf(canister), { status: 'stopped', hasModule: true })
    assert.deepEqual(await submit(call(canister)), {
      accepted: false,
      rejection: { rejectCode: 5, rejectMessage: `Canister ${canister.toText()} is stopped`, errorCode: 'IC0508' }
    })
    for (const method of ['canister_status', 'start_canister']) assert.deepEqual(await submit(manage(method, canister)), { accepted: true })

    await execute(manage('start_canister', canister))
    assert.deepEqual(await submit(call(canister)), { accepted: true })
  })

  it('a stopping canister (its calls to another subnet unanswered) refuses it with reject 5, IC0509', async () => {
    const target = canisterIdFromU64(1000)
    await execute(message(canister, 'configure', encodeXnetLoadConfig({ rate: 1, payloadSize: 64, seed: 7n, targets: [target] })))
    await executeOnly()
    const stop = manage('stop_canister', canister)
    await executeOnly(stop)
    assert.equal(mr.ingressStatus(stop.requestId)?.status, 'processing', 'the stop waits for the open calls')
    assert.deepEqual(mr.canisterStatusOf(canister), { status: 'stopping', hasModule: true })
    assert.deepEqual(await submit(call(canister)), {
      accepted: false,
      rejection: { rejectCode: 5, rejectMessage: `Canister ${canister.toText()} is stopping`, errorCode: 'IC0509' }
    })
    await execute(manage('start_canister', canister))
    assert.deepEqual(await submit(call(canister)), { accepted: true })
  })

  it('a created canister without a module refuses it with reject 5, IC0537', async () => {
    const [reply] = await execute(manage('provisional_create_canister_with_cycles', canister, encodeProvisionalCreateCanisterArgs()))
    const created = decodeCanisterIdResult(reply!)
    assert.deepEqual(mr.canisterStatusOf(created), { status: 'running', hasModule: false })
    assert.deepEqual(await submit(call(created)), {
      accepted: false,
      rejection: { rejectCode: 5, rejectMessage: `Canister ${created.toText()} has no wasm module`, errorCode: 'IC0537' }
    })
  })

  it('a canister this subnet does not have is "not found" (3, IC0301), as before', async () => {
    const absent = canisterIdFromU64(500)
    assert.equal(mr.canisterStatusOf(absent), undefined)
    assert.deepEqual(await submit(call(absent)), {
      accepted: false,
      rejection: { rejectCode: 3, rejectMessage: `Canister ${absent.toText()} not found`, errorCode: 'IC0301' }
    })
  })
})
