import assert from 'node:assert/strict'
import { IDL } from '@dfinity/candid'
import { loadTestCanister } from '@icnet/execution/canisters'
import { MANAGEMENT_CANISTER_ID, Principal, RejectCode, type CanisterId } from '@icnet/types'
import type { IngressStatus } from '../src/index.js'
import { EMPTY_MODULE } from '../src/management.js'
import { Network, canisterOf, ingress } from './harness.js'

const CanisterIdRecord = IDL.Record({ canister_id: IDL.Principal })
const createArg = (): Uint8Array => new Uint8Array(IDL.encode([IDL.Record({ settings: IDL.Opt(IDL.Record({ controllers: IDL.Opt(IDL.Vec(IDL.Principal)) })) })], [{ settings: [] }]))
const idArg = (id: CanisterId): Uint8Array => new Uint8Array(IDL.encode([CanisterIdRecord], [{ canister_id: id }]))
const installArg = (mode: 'install' | 'reinstall' | 'upgrade', id: CanisterId, wasm: Uint8Array, arg = new Uint8Array(0)): Uint8Array => new Uint8Array(IDL.encode(
  [IDL.Record({ mode: IDL.Variant({ install: IDL.Null, reinstall: IDL.Null, upgrade: IDL.Opt(IDL.Record({ skip_pre_upgrade: IDL.Opt(IDL.Bool) })) }), canister_id: IDL.Principal, wasm_module: IDL.Vec(IDL.Nat8), arg: IDL.Vec(IDL.Nat8) })],
  [{ mode: mode === 'upgrade' ? { upgrade: [] } : { [mode]: null }, canister_id: id, wasm_module: wasm, arg }]))
const u64 = (b: Uint8Array): bigint => new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(0, true)

describe('management canister', function () {
  this.timeout(60_000)

  async function call (net: Network, canister: Principal, method: string, arg: Uint8Array): Promise<IngressStatus> {
    const msg = ingress(canister, method, arg, net.time + 60_000)
    net.pendingIngress[0]!.push(msg)
    await net.round()
    const st = net.nodes[0]!.mr.ingressStatus(msg.requestId)
    assert.ok(st !== undefined)
    return st
  }
  const replied = (st: IngressStatus): Uint8Array => { assert.equal(st.status, 'replied', JSON.stringify(st)); return (st as { reply: Uint8Array }).reply }

  it('creates, installs, stops, starts, upgrades and deletes canisters deterministically, across a checkpoint', async () => {
    const net = await Network.create({ subnets: 1, sandbox: 'wasm', checkpointInterval: 4 })
    const counter = await loadTestCanister('counter')
    try {
      const mr = net.nodes[0]!.mr
      const created = IDL.decode([CanisterIdRecord], replied(await call(net, MANAGEMENT_CANISTER_ID, 'provisional_create_canister_with_cycles', createArg())))[0] as unknown as { canister_id: Principal }
      const id = created.canister_id
      assert.equal(id.toText(), canisterOf(0, 0).toText(), 'the first id of the subnet range')
      const tree = () => mr.latestCertifiedState()!.tree.lookup(['canister', id.toUint8Array(), 'module_hash'])
      assert.equal(tree().status, 'absent', 'no module_hash before install')
      assert.equal(mr.latestCertifiedState()!.tree.lookup(['canister', id.toUint8Array(), 'controllers']).status, 'found')
      const empty = await call(net, id, 'inc', new Uint8Array(0))
      assert.ok(empty.status === 'rejected' && empty.code === RejectCode.CanisterError)

      replied(await call(net, MANAGEMENT_CANISTER_ID, 'install_code', installArg('install', id, counter)))
      assert.equal(tree().status, 'found')
      assert.equal(u64(replied(await call(net, id, 'inc', new Uint8Array(0)))), 1n)
      const again = await call(net, MANAGEMENT_CANISTER_ID, 'install_code', installArg('install', id, counter))
      assert.equal(again.status, 'rejected', 'install over a module is refused')

      replied(await call(net, MANAGEMENT_CANISTER_ID, 'stop_canister', idArg(id)))
      const stopped = await call(net, id, 'inc', new Uint8Array(0))
      assert.ok(stopped.status === 'rejected' && stopped.code === RejectCode.CanisterError)
      const status = IDL.decode([IDL.Record({ status: IDL.Variant({ running: IDL.Null, stopping: IDL.Null, stopped: IDL.Null }) })], replied(await call(net, MANAGEMENT_CANISTER_ID, 'canister_status', idArg(id))))[0] as unknown as { status: Record<string, null> }
      assert.deepEqual(Object.keys(status.status), ['stopped'])
      replied(await call(net, MANAGEMENT_CANISTER_ID, 'start_canister', idArg(id)))
      replied(await call(net, MANAGEMENT_CANISTER_ID, 'install_code', installArg('upgrade', id, counter)))
      assert.equal(u64(replied(await call(net, id, 'inc', new Uint8Array(0)))), 2n, 'upgrade keeps the count (stable memory)')

      // A node reopened from the latest checkpoint and replaying the later batches has the same state root.
      const h = net.height
      const reopened = await net.openNode(0, net.nodes[0]!.dataDir)
      for (const b of net.batches[0]!.filter(b => b.height > reopened.mr.height)) await reopened.mr.executeBatch(b)
      assert.equal(reopened.mr.height, h)
      assert.deepEqual(reopened.mr.stateRoot, mr.stateRoot)
      await reopened.mr.close()

      const notStopped = await call(net, MANAGEMENT_CANISTER_ID, 'delete_canister', idArg(id))
      assert.equal(notStopped.status, 'rejected', 'a running canister is not deleted')
      replied(await call(net, MANAGEMENT_CANISTER_ID, 'stop_canister', idArg(id)))
      replied(await call(net, MANAGEMENT_CANISTER_ID, 'delete_canister', idArg(id)))
      assert.equal(mr.latestCertifiedState()!.tree.lookup(['canister', id.toUint8Array()]).status, 'absent')
      const gone = await call(net, id, 'inc', new Uint8Array(0))
      assert.ok(gone.status === 'rejected' && gone.code === RejectCode.DestinationInvalid)
    } finally {
      for (const n of net.nodes) await n.mr.close()
    }
  })

  it('refuses callers that are not controllers and arguments that are not Candid', async () => {
    const net = await Network.create({ subnets: 1, sandbox: 'wasm' })
    try {
      const id = (IDL.decode([CanisterIdRecord], replied(await call(net, MANAGEMENT_CANISTER_ID, 'create_canister', createArg())))[0] as unknown as { canister_id: Principal }).canister_id
      const msg = { ...ingress(MANAGEMENT_CANISTER_ID, 'stop_canister', idArg(id), net.time + 60_000), sender: Principal.fromUint8Array(Uint8Array.of(1, 2, 3)) }
      net.pendingIngress[0]!.push(msg)
      await net.round()
      assert.equal(net.nodes[0]!.mr.ingressStatus(msg.requestId)?.status, 'rejected')
      assert.equal((await call(net, MANAGEMENT_CANISTER_ID, 'install_code', Uint8Array.of(1, 2, 3))).status, 'rejected')
      assert.equal((await call(net, MANAGEMENT_CANISTER_ID, 'no_such_method', new Uint8Array(0))).status, 'rejected')
      assert.equal(EMPTY_MODULE.length, 8)
    } finally {
      for (const n of net.nodes) await n.mr.close()
    }
  })
})
