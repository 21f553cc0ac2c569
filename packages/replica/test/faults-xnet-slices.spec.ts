import '@icnet/types/polyfill'
import assert from 'node:assert/strict'
import { dealThresholdKeys } from '@icnet/crypto'
import { createTestNode, stopAll } from '@icnet/test-utils'
import { canisterIdFromU64, subnetIdFromPublicKeyDer, type Request, type RegistryView } from '@icnet/types'
import {
  CertificationError, CertifiedSlicePool, InMemoryCertifiedStreamStore, InvalidSliceError, StaticRegistryView,
  decodeAndVerifySlice, decodeCertifiedSlice, xnetStream, type CertifiedStreamStore, type XNetStreamService
} from '@icnet/xnet-stream'
import { MaliciousSliceStore, PromMetrics, corruptSlice, type SliceCorruption } from '../src/index.js'
import type { Libp2p } from '@libp2p/interface'

let seed = 0
function subnet (): { id: ReturnType<typeof subnetIdFromPublicKeyDer>, store: InMemoryCertifiedStreamStore, record: (nodes: string[]) => { id: ReturnType<typeof subnetIdFromPublicKeyDer>, type: 'application', nodes: string[], publicKey: Uint8Array, publicKeyDer: Uint8Array } } {
  const keys = dealThresholdKeys({ n: 4, t: 3, seed: new TextEncoder().encode(`faults-xnet-${seed++}`) })
  const id = subnetIdFromPublicKeyDer(keys.publicKeyDer)
  return {
    id,
    store: new InMemoryCertifiedStreamStore({ subnetId: id, shares: keys.shares, threshold: 3 }),
    record: nodes => ({ id, type: 'application', nodes, publicKey: keys.publicKey, publicKeyDer: keys.publicKeyDer })
  }
}

function request (seq: number): Request {
  return { kind: 'request', receiver: canisterIdFromU64(1000), sender: canisterIdFromU64(7), methodName: 'ping', methodPayload: new Uint8Array(64).fill(seq), senderReplyCallback: seq }
}

const CORRUPTIONS: SliceCorruption[] = ['alter-payload', 'alter-hash', 'bad-signature']

describe('faults: malicious XNet slices', () => {
  const a = subnet()
  const b = subnet()
  const registry = new StaticRegistryView({ subnets: [a.record([]), b.record([])] })
  const ctx = { ourSubnet: b.id, sourceSubnet: a.id, registry }
  before(() => {
    for (let k = 0; k < 20; k++) a.store.stream(b.id).push(request(k))
    a.store.stream(b.id).pushAcceptSignal()
    a.store.certify()
  })

  for (const how of CORRUPTIONS) {
    it(`${how}: a well-formed slice that xnet-stream refuses with CertificationError (a slice with messages, and a signals-only one)`, () => {
      for (const msgBegin of [0, 20]) {
        const honest = a.store.encodeSlice(b.id, { msgBegin })
        assert.ok(honest.ok)
        decodeAndVerifySlice(honest.bytes, ctx) // the control: the honest slice verifies
        const { bytes, applied } = corruptSlice(honest.bytes, how)
        assert.equal(applied, how)
        assert.notDeepEqual(bytes, honest.bytes)
        assert.throws(() => decodeAndVerifySlice(bytes, ctx), (e: unknown) => e instanceof CertificationError && e.reason === 'certification')
        // The pool a receiver fills refuses it the same way, and stays empty.
        const pool = new CertifiedSlicePool({ ourSubnet: b.id, registry })
        assert.throws(() => pool.put(a.id, decodeCertifiedSlice(bytes)), CertificationError)
        assert.equal(pool.size, 0)
      }
    })
  }

  it('rotate cycles through the three, one per slice served; errors pass through', async () => {
    const applied: SliceCorruption[] = []
    const store = new MaliciousSliceStore(a.store, 'rotate', x => { applied.push(x) })
    for (let i = 0; i < 6; i++) {
      const r = await store.encodeSlice(b.id, { msgBegin: i })
      assert.ok(r.ok)
      assert.throws(() => decodeAndVerifySlice(r.bytes, ctx), CertificationError)
    }
    assert.deepEqual(applied, ['alter-hash', 'alter-payload', 'bad-signature', 'alter-hash', 'alter-payload', 'bad-signature'])
    assert.deepEqual(await store.encodeSlice(b.id, { msgBegin: 99 }), { ok: false, code: 'BAD_BEGIN' })
    assert.equal(applied.length, 6)
  })

  describe('over the wire', function () {
    this.timeout(60_000)
    let server: Libp2p<{ xnet: XNetStreamService }>
    let client: Libp2p<{ xnet: XNetStreamService }>
    let view: RegistryView
    let store: CertifiedStreamStore = a.store
    const metrics = new PromMetrics({ processMetrics: false })
    const pool = new CertifiedSlicePool({ ourSubnet: b.id, registry: () => view })

    before(async () => {
      server = await createTestNode({ services: { xnet: xnetStream({ subnetId: a.id, registry: () => view, store: { encodeSlice: (d, q) => store.encodeSlice(d, q) } }) } }) as unknown as typeof server
      client = await createTestNode({
        services: {
          xnet: xnetStream({ subnetId: b.id, registry: () => view, pool, expectedIndices: () => ({ message: 0, signal: 0 }), backgroundRefill: false, maliciousPenaltyMs: 1, backoffBaseMs: 1, metrics })
        }
      }) as unknown as typeof client
      view = new StaticRegistryView({
        subnets: [a.record([server.peerId.toString()]), b.record([client.peerId.toString()])],
        nodes: [{ id: server.peerId.toString(), subnetId: a.id, p2pAddresses: server.getMultiaddrs().map(x => x.toString()), blsPublicKey: new Uint8Array(48) }]
      })
    })
    after(async () => { await stopAll([client, server]) })

    it('a client pulling from a node with xnetSlices=rotate gets only typed refusals, counted by reason; nothing enters its pool', async () => {
      store = new MaliciousSliceStore(a.store, 'rotate')
      for (let i = 0; i < 3; i++) {
        await assert.rejects(client.services.xnet.pull(a.id, { msgBegin: 0 }, s => pool.put(a.id, s)), (e: unknown) => e instanceof InvalidSliceError && e.reason === 'certification')
      }
      assert.equal(pool.size, 0)
      const text = (await metrics.exposition()).body
      const refused = Number(/xnet_slice_invalid_total\{reason="certification"\} (\d+)/.exec(text)?.[1] ?? 0)
      assert.ok(refused >= 3, text)
      // The control: the same node serving honestly is accepted.
      store = a.store
      await new Promise(resolve => setTimeout(resolve, 10)) // past the (shortened) penalty
      assert.ok(await client.services.xnet.pull(a.id, { msgBegin: 0 }, s => pool.put(a.id, s)) > 0)
      assert.equal(pool.size, 1)
    })
  })
})
