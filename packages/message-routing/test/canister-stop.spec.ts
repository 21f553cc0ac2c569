import assert from 'node:assert/strict'
import { cp, rm } from 'node:fs/promises'
import { IDL } from '@dfinity/candid'
import { MANAGEMENT_CANISTER_ID, RejectCode, RejectReason, toHex, type CanisterId } from '@icnet/types'
import { MAX_PENDING_STOP_CALLS, type IngressStatus } from '../src/index.js'
import { Network, canisterOf, configureArg, ingress, loadMetrics, tempDir, type Node } from './harness.js'

const CanisterIdRecord = IDL.Record({ canister_id: IDL.Principal })
const StatusRecord = IDL.Record({ status: IDL.Variant({ running: IDL.Null, stopping: IDL.Null, stopped: IDL.Null }) })
const idArg = (id: CanisterId): Uint8Array => new Uint8Array(IDL.encode([CanisterIdRecord], [{ canister_id: id }]))

/** Puts an ingress message into the next batch of `subnet` and returns its request id. */
function submit (net: Network, subnet: number, canister: CanisterId, method: string, arg: Uint8Array): Uint8Array {
  const msg = ingress(canister, method, arg, net.time + 240_000)
  net.pendingIngress[subnet]!.push(msg)
  return msg.requestId
}
const manage = (net: Network, subnet: number, method: string, id: CanisterId): Uint8Array => submit(net, subnet, MANAGEMENT_CANISTER_ID, method, idArg(id))
const statusOf = (net: Network, subnet: number, requestId: Uint8Array): IngressStatus => {
  const st = net.nodes[subnet]!.mr.ingressStatus(requestId)
  assert.ok(st !== undefined, 'the request is in the ingress history')
  return st
}
const outstandingCalls = (net: Network, subnet: number, id: CanisterId): number =>
  net.nodes[subnet]!.mr.stats().canisters.find(c => c.canisterId === id.toText())!.outstandingCalls

/** `canister_status` of `id`, through the management canister of `subnet` (takes a round of the active subnets). */
async function runStatus (net: Network, subnet: number, id: CanisterId, active?: number[]): Promise<string> {
  const req = manage(net, subnet, 'canister_status', id)
  await net.round(active)
  const st = statusOf(net, subnet, req)
  assert.equal(st.status, 'replied', JSON.stringify(st))
  const [v] = IDL.decode([StatusRecord], (st as { reply: Uint8Array }).reply) as unknown as [{ status: Record<string, null> }]
  return Object.keys(v.status)[0]!
}

/**
 * Subnet 0's canister `a` calls b on subnet 1 for two rounds, then gets a
 * stop_canister in a round of subnet 0 alone: `a` is left stopping, with calls
 * out, and the stop pending.
 */
async function stopWhileCalling (net: Network): Promise<{ a: CanisterId, stop: Uint8Array }> {
  await net.installLoad(0)
  const [a, b] = [canisterOf(0, 0), canisterOf(1, 0)]
  net.configure(0, 0, 1, [b])
  await net.rounds(2)
  const stop = manage(net, 0, 'stop_canister', a)
  await net.round([0])
  return { a, stop }
}

function assertRejected (st: IngressStatus, code: RejectCode, text: string): void {
  assert.equal(st.status, 'rejected', JSON.stringify(st))
  const r = st as { code: RejectCode, message: string }
  assert.equal(r.code, code)
  assert.match(r.message, new RegExp(text))
}

describe('stop_canister: the stopping phase', function () {
  this.timeout(60_000)
  let net: Network | undefined
  afterEach(async () => { await net?.close(); net = undefined })

  it('a canister without open call contexts stops in the round of the call; its queued, new and local calls are rejected', async () => {
    net = await Network.create({ subnets: 1, sandbox: 'js' })
    await net.installLoad(0)
    await net.installLoad(1)
    const a = canisterOf(0, 0)
    const d = canisterOf(0, 1)
    // A message to `a` ahead of the stop in the same batch: the management canister runs first, so it finds `a` stopped.
    const early = submit(net, 0, a, 'configure', configureArg(1, [d]))
    const stop = manage(net, 0, 'stop_canister', a)
    await net.round()
    assert.equal(statusOf(net, 0, stop).status, 'replied')
    assertRejected(statusOf(net, 0, early), RejectCode.CanisterError, 'is stopped')
    assert.equal(await runStatus(net, 0, a), 'stopped')

    // A canister of the same subnet calling the stopped one gets CanisterError rejects, never replies.
    net.configure(0, 1, 2, [a])
    await net.rounds(4)
    const m = await loadMetrics(net.nodes[0]!.mr, d)
    assert.ok(m.sent > 0n)
    assert.equal(m.rejected, m.sent)
    assert.equal(m.replied, 0n)
    assert.equal((await loadMetrics(net.nodes[0]!.mr, a)).received, 0n, 'the stopped canister executed none of them')

    // Started again, it takes the calls (and answers them).
    const start = manage(net, 0, 'start_canister', a)
    await net.rounds(3)
    assert.equal(statusOf(net, 0, start).status, 'replied')
    assert.equal(await runStatus(net, 0, a), 'running')
    assert.ok((await loadMetrics(net.nodes[0]!.mr, d)).replied > 0n)
  })

  for (const sandbox of ['js', 'wasm'] as const) {
    it(`waits for the responses to its XNet calls, rejects calls meanwhile with CanisterStopping, then replies every pending stop (${sandbox} sandbox)`, async () => {
      // Subnet 0 hosts `a`, which calls `b` on subnet 1; `c` on subnet 2 calls `a` once a round.
      net = await Network.create({ subnets: 3, sandbox })
      await net.installLoad(0)
      const [a, b, c] = [canisterOf(0, 0), canisterOf(1, 0), canisterOf(2, 0)]
      net.configure(0, 0, 2, [b])
      net.configure(2, 0, 1, [a])
      await net.rounds(3)
      assert.ok(outstandingCalls(net, 0, a) > 0, 'a has calls in flight to b')
      const before = await loadMetrics(net.nodes[0]!.mr, a)
      assert.ok(before.received > 0n, 'a has answered c while running')

      // Subnet 1 stalls: the responses to a's calls cannot come back.
      const stalled = [0, 2]
      const stops = [manage(net, 0, 'stop_canister', a)]
      await net.round(stalled)
      assert.equal(statusOf(net, 0, stops[0]!).status, 'processing', 'the stop call stays open')
      assert.equal(await runStatus(net, 0, a, stalled), 'stopping')
      for (let i = 1; i < MAX_PENDING_STOP_CALLS; i++) stops.push(manage(net, 0, 'stop_canister', a))
      const excess = manage(net, 0, 'stop_canister', a)
      const userCall = submit(net, 0, a, 'configure', configureArg(1, [b]))
      for (let i = 0; i < 5; i++) await net.round(stalled)
      for (const s of stops) assert.equal(statusOf(net, 0, s).status, 'processing')
      assertRejected(statusOf(net, 0, excess), RejectCode.SysTransient, 'stop_canister calls waiting')
      assertRejected(statusOf(net, 0, userCall), RejectCode.CanisterError, 'is stopping')
      assert.equal(await runStatus(net, 0, a, stalled), 'stopping')
      const during = await loadMetrics(net.nodes[0]!.mr, a)
      assert.equal(during.sent, before.sent, 'a stopping canister starts no new work (no heartbeat)')
      assert.equal(during.received, before.received, 'nor executes new calls')

      // c's request already queued when the stop began was answered with a reject response...
      const responses = [...(net.rejectResponses.get('0->2') ?? new Map()).values()]
      assert.equal(responses.length, 1, JSON.stringify(responses))
      assert.equal(responses[0].code, RejectCode.CanisterError)
      assert.match(responses[0].message, /is stopping/)
      // ...and the later ones were refused by reject signals with reason 4; c got a reject for each.
      const signals = [...(net.rejectSignals.get('0->2') ?? new Map()).values()]
      assert.ok(signals.length > 0 && signals.every(r => r === RejectReason.CanisterStopping), `signals ${JSON.stringify(signals)}`)
      const cm = await loadMetrics(net.nodes[2]!.mr, c)
      assert.ok(cm.rejected >= 2n, `c saw ${cm.rejected} rejects`)
      assert.equal(cm.replied, during.received, 'c got replies only for the calls a executed while running')

      // Subnet 1 resumes: the responses arrive, a executes them, stops, and every pending stop is replied at once.
      let rounds = 0
      while (statusOf(net, 0, stops[0]!).status === 'processing') {
        assert.ok(++rounds <= 10, 'the stop completes once the responses are in')
        await net.round()
      }
      for (const s of stops) assert.equal(statusOf(net, 0, s).status, 'replied')
      const am = await loadMetrics(net.nodes[0]!.mr, a)
      assert.equal(am.replied, am.sent, 'every outstanding response was delivered and executed')
      assert.equal(am.rejected, 0n)
      assert.equal(outstandingCalls(net, 0, a), 0)
      assert.equal(await runStatus(net, 0, a), 'stopped')

      // Now stopped: new calls from c get reason 3.
      const seen = new Map(net.rejectSignals.get('0->2'))
      await net.rounds(3)
      const after = [...net.rejectSignals.get('0->2')!].filter(([index]) => !seen.has(index)).map(([, reason]) => reason)
      assert.ok(after.length > 0 && after.every(r => r === RejectReason.CanisterStopped), `signals ${JSON.stringify(after)}`)
      assert.equal(net.nodes[0]!.mr.stats().criticalErrors, 0)
    })
  }

  it('start_canister while stopping rejects the pending stop calls and the canister runs again', async () => {
    net = await Network.create({ subnets: 2, sandbox: 'js' })
    const { a, stop } = await stopWhileCalling(net)
    assert.equal(statusOf(net, 0, stop).status, 'processing')
    const start = manage(net, 0, 'start_canister', a)
    await net.round([0])
    assert.equal(statusOf(net, 0, start).status, 'replied')
    assertRejected(statusOf(net, 0, stop), RejectCode.CanisterError, 'started before it stopped')
    assert.equal(await runStatus(net, 0, a, [0]), 'running')
    const sent = (await loadMetrics(net.nodes[0]!.mr, a)).sent
    await net.rounds(3)
    const m = await loadMetrics(net.nodes[0]!.mr, a)
    assert.ok(m.sent > sent, 'its heartbeat calls again')
    assert.ok(m.replied > 0n)
  })

  it('a node restored from a checkpoint taken while stopping reaches the same roots and checkpoint hash, and completes the stop', async () => {
    net = await Network.create({ subnets: 2, sandbox: 'js', checkpointInterval: 4 })
    const { stop } = await stopWhileCalling(net)
    await net.round([0]) // height 4: the checkpoint holds a stopping canister and its pending stop
    const live = net.nodes[0]!
    assert.equal(live.mr.height, 4)
    assert.ok(net.checkpoints[0]!.has(4))
    assert.equal(statusOf(net, 0, stop).status, 'processing')

    const copy = await tempDir()
    let restored: Node | undefined
    try {
      await cp(live.dataDir, copy, { recursive: true })
      restored = await net.openNode(0, copy)
      assert.equal(restored.mr.height, 4)
      assert.equal(toHex(restored.mr.stateRoot), toHex(live.mr.stateRoot))
      assert.equal(restored.mr.ingressStatus(stop)?.status, 'processing')

      while (live.mr.height < 8) {
        await net.round()
        const batch = net.batches[0]![live.mr.height - 1]!
        const r = await restored.mr.executeBatch(batch)
        assert.equal(toHex(r.stateRoot), toHex(live.mr.stateRoot), `root at height ${r.height}`)
        if (r.checkpoint !== undefined) assert.equal(toHex(r.checkpoint.stateHash), toHex(net.checkpoints[0]!.get(r.height)!), `checkpoint hash at ${r.height}`)
      }
      assert.equal(restored.mr.latestCheckpoint?.height, 8)
      assert.equal(restored.mr.ingressStatus(stop)?.status, 'replied', 'the restored node finished the stop')
      assert.equal(statusOf(net, 0, stop).status, 'replied')
    } finally {
      if (restored !== undefined) { await restored.mr.close(); await restored.sandbox.close() }
      await rm(copy, { recursive: true, force: true })
    }
  })
})
