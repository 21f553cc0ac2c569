import assert from 'node:assert/strict'
import { RejectCode } from '@icnet/types'
import { DONE_RETENTION_MS, IngressValidationError, type IngressRejectCode } from '../src/index.js'
import { Network, canisterOf, ingress } from './harness.js'

const COUNTER = canisterOf(0, 1)
const u64 = (b: Uint8Array): bigint => new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(0, true)

async function counterNet (limits = {}): Promise<Network> {
  const net = await Network.create({ subnets: 2, sandbox: 'js', limits })
  await net.nodes[0]!.mr.installCanister({ canisterId: COUNTER, module: new TextEncoder().encode('counter'), controllers: [] })
  return net
}

function refused (fn: () => void, reason: IngressRejectCode): void {
  assert.throws(fn, (err: unknown) => err instanceof IngressValidationError && err.reason === reason && err.code === `ERR_INGRESS_${reason}`)
}

describe('ingress', function () {
  this.timeout(60_000)

  it('goes received → replied → done → gone, certified under /request_status', async () => {
    const net = await counterNet()
    try {
      const mr = net.nodes[0]!.mr
      const msg = ingress(COUNTER, 'inc', new Uint8Array(0), net.time + 60_000)
      mr.validateIngress(msg, net.time)
      net.pendingIngress[0]!.push(msg)
      await net.round()
      const st = mr.ingressStatus(msg.requestId)
      assert.equal(st?.status, 'replied')
      assert.equal(st.status === 'replied' && u64(st.reply), 1n)
      refused(() => mr.validateIngress(msg, net.time), 'DUPLICATE')
      // The same message in a later batch is not executed twice.
      net.pendingIngress[0]!.push(msg)
      await net.round()
      const out = await mr.query(COUNTER, 'get', new Uint8Array(0), msg.sender)
      assert.ok(out.kind === 'reply' && u64(out.data) === 1n)
      const cert = mr.latestCertifiedState()!
      assert.equal(new TextDecoder().decode((cert.tree.lookup(['request_status', msg.requestId, 'status']) as { value: Uint8Array }).value), 'replied')
      assert.equal(cert.tree.lookup(['request_status', msg.requestId, 'reply']).status, 'found')
      // After its expiry the answer is dropped and the status is `done`...
      net.time += 61_000
      await net.round()
      assert.equal(mr.ingressStatus(msg.requestId)?.status, 'done')
      assert.equal(mr.latestCertifiedState()!.tree.lookup(['request_status', msg.requestId, 'reply']).status, 'absent')
      // ...and after the retention period the entry is gone.
      net.time += DONE_RETENTION_MS
      await net.round()
      assert.equal(mr.ingressStatus(msg.requestId), undefined)
      assert.equal(mr.latestCertifiedState()!.tree.lookup(['request_status', msg.requestId, 'status']).status, 'absent')
      assert.equal(mr.stats().ingressHistory, 0)
    } finally {
      await net.close()
    }
  })

  it('validates before acceptance, and records rejects deterministically at induction', async () => {
    const net = await counterNet({ ingressQueueCapacity: 2, roundInstructions: 1n })
    try {
      const mr = net.nodes[0]!.mr
      const now = net.time
      refused(() => mr.validateIngress({ ...ingress(COUNTER, 'inc', new Uint8Array(0), now + 1000), requestId: new Uint8Array(31) }, now), 'MALFORMED')
      refused(() => mr.validateIngress(ingress(canisterOf(0, 7), 'inc', new Uint8Array(0), now + 1000), now), 'CANISTER_NOT_FOUND')
      refused(() => mr.validateIngress(ingress(canisterOf(1, 0), 'inc', new Uint8Array(0), now + 1000), now), 'CANISTER_NOT_FOUND')
      refused(() => mr.validateIngress(ingress(COUNTER, 'inc', new Uint8Array(0), now - 1), now), 'EXPIRED')
      refused(() => mr.validateIngress(ingress(COUNTER, 'inc', new Uint8Array(0), now + 600_000), now), 'EXPIRY_TOO_FAR')
      refused(() => mr.validateIngress(ingress(COUNTER, 'x'.repeat(30_000), new Uint8Array(0), now + 1000), now), 'TOO_LARGE')

      const ok = [0, 1, 2, 3].map(() => ingress(COUNTER, 'inc', new Uint8Array(0), now + 60_000))
      const expired = ingress(COUNTER, 'inc', new Uint8Array(0), now - 5)
      const missing = ingress(COUNTER, 'no_such_method', new Uint8Array(0), now + 60_000)
      const elsewhere = ingress(canisterOf(0, 9), 'inc', new Uint8Array(0), now + 60_000)
      net.pendingIngress[0]!.push(...ok, expired, elsewhere)
      await net.round()
      // Capacity 2 and one message per round: two queued (one already ran), two refused as QueueFull.
      assert.equal(mr.ingressStatus(ok[0]!.requestId)?.status, 'replied')
      assert.equal(mr.ingressStatus(ok[1]!.requestId)?.status, 'received')
      for (const m of ok.slice(2)) {
        const st = mr.ingressStatus(m.requestId)
        assert.ok(st?.status === 'rejected' && st.code === RejectCode.SysTransient)
      }
      assert.equal(mr.ingressStatus(expired.requestId), undefined, 'expired ingress is dropped')
      const st = mr.ingressStatus(elsewhere.requestId)
      assert.ok(st?.status === 'rejected' && st.code === RejectCode.DestinationInvalid)
      net.pendingIngress[0]!.push(missing)
      await net.round()
      await net.round()
      assert.equal(mr.ingressStatus(ok[1]!.requestId)?.status, 'replied')
      const m = mr.ingressStatus(missing.requestId)
      assert.ok(m?.status === 'rejected' && m.code === RejectCode.DestinationInvalid, 'a missing method is rejected')
    } finally {
      await net.close()
    }
  })
})
