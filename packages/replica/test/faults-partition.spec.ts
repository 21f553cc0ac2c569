import '@icnet/types/polyfill'
import assert from 'node:assert/strict'
import { createTestNode, stopAll, waitFor } from '@icnet/test-utils'
import { FaultInjector, InvalidRequestError, MAX_PARTITION_PEERS, Partition, ReplicaHttpServer, createLog, partitionGater } from '../src/index.js'
import type { ReplicaHttpHandlers } from '../src/http.js'
import type { Libp2p } from '@libp2p/interface'

const quiet = createLog({ level: 'error', write: () => {} })

function connected (a: Libp2p, b: Libp2p): boolean {
  return a.getConnections(b.peerId).some(c => c.status === 'open')
}

describe('faults: partition', () => {
  let a: Libp2p, b: Libp2p, c: Libp2p
  let faults: FaultInjector

  beforeEach(async () => {
    faults = new FaultInjector({ faults: { admin: true }, log: quiet })
    a = await createTestNode({ connectionGater: faults.gater({ denyDialMultiaddr: () => false }) })
    b = await createTestNode()
    c = await createTestNode()
    faults.attach(a)
    await a.dial(b.getMultiaddrs())
    await a.dial(c.getMultiaddrs())
  })
  afterEach(async () => { await stopAll([a, b, c]) })

  it('closes the denied peer\'s connections and refuses it both ways; the others stay; lifting lets it back', async () => {
    await faults.admin!.partition({ deny: [b.peerId.toString()] })
    await waitFor(() => !connected(a, b) && !connected(b, a), { what: 'a and b disconnected' })
    assert.ok(connected(a, c))
    await assert.rejects(a.dial(b.getMultiaddrs(), { signal: AbortSignal.timeout(5_000) }))
    // b may complete its side of the handshake before a refuses it: what counts is that no connection lasts.
    await b.dial(a.getMultiaddrs(), { signal: AbortSignal.timeout(5_000) }).catch(() => {})
    await waitFor(() => !connected(a, b) && !connected(b, a), { what: 'inbound from b refused' })
    await faults.admin!.heal()
    await a.dial(b.getMultiaddrs(), { signal: AbortSignal.timeout(5_000) })
    assert.ok(connected(a, b))
  })

  it('refuses malformed requests with a typed error and bounds the set', async () => {
    for (const body of [null, {}, { deny: 'x' }, { deny: [1] }, { deny: ['not-a-peer-id'] }]) {
      await assert.rejects(faults.admin!.partition(body), InvalidRequestError)
    }
    const p = new Partition()
    assert.throws(() => { p.deny(new Array(MAX_PARTITION_PEERS + 1).fill(a.peerId.toString())) }, InvalidRequestError)
    assert.equal(p.size, 0)
  })

  it('is not installed without admin: the gater is the one given', () => {
    const inner = { denyDialMultiaddr: () => false }
    assert.equal(new FaultInjector({ faults: { xnetSlices: 'rotate' }, log: quiet }).gater(inner), inner)
    assert.equal(new FaultInjector({ log: quiet }).admin, undefined)
    const g = partitionGater(inner, new Partition())
    assert.equal(g.denyDialPeer?.(a.peerId), false)
  })
})

describe('faults: admin HTTP routes', () => {
  const stub = (): never => { throw new Error('not used') }
  const handlers = (extra: Partial<ReplicaHttpHandlers>): ReplicaHttpHandlers => ({
    health: stub, metrics: stub, load: stub, stateRoot: stub, submitIngress: stub, ingressStatus: stub, ...extra
  })

  async function withServer (h: ReplicaHttpHandlers, run: (base: string) => Promise<void>): Promise<void> {
    const server = new ReplicaHttpServer(h)
    const addr = await server.listen('127.0.0.1', 0)
    try { await run(`http://127.0.0.1:${addr.port}`) } finally { await server.close() }
  }

  it('answers 204 to POST and DELETE /api/faults/partition on an admin node, 400 to a bad body', async () => {
    const calls: unknown[] = []
    const faults = new FaultInjector({ faults: { admin: true }, log: quiet })
    const admin = {
      partition: async (body: unknown) => { calls.push(body); await faults.admin!.partition(body) },
      heal: async () => { calls.push('heal'); await faults.admin!.heal() }
    }
    await withServer(handlers({ faultsAdmin: admin }), async base => {
      const peer = '12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo'
      let res = await fetch(`${base}/api/faults/partition`, { method: 'POST', body: JSON.stringify({ deny: [peer] }) })
      assert.equal(res.status, 204)
      res = await fetch(`${base}/api/faults/partition`, { method: 'DELETE' })
      assert.equal(res.status, 204)
      assert.deepEqual(calls, [{ deny: [peer] }, 'heal'])
      res = await fetch(`${base}/api/faults/partition`, { method: 'POST', body: '{"deny": "everyone"}' })
      assert.equal(res.status, 400)
      assert.equal((await res.json() as { code: string }).code, 'ERR_FAULTS_BAD_REQUEST')
      res = await fetch(`${base}/api/faults/partition`, { method: 'POST', body: 'not json' })
      assert.equal(res.status, 400)
      res = await fetch(`${base}/api/faults/partition`, { method: 'PUT', body: '{}' })
      assert.equal(res.status, 405)
    })
  })

  it('answers 404 on a node without the admin routes', async () => {
    await withServer(handlers({}), async base => {
      for (const method of ['POST', 'DELETE']) {
        const res = await fetch(`${base}/api/faults/partition`, { method, ...(method === 'POST' ? { body: '{"deny":[]}' } : {}) })
        assert.equal(res.status, 404)
      }
    })
  })
})
