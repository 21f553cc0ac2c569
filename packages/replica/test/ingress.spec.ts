import assert from 'node:assert/strict'
import { InvalidEncodingError, Principal, QueueFullError, canisterIdFromU64 } from '@icnet/types'
import type { IngressMessage } from '@icnet/message-routing'
import fc from 'fast-check'
import { IngressPool, decodeIngressPayload, encodeIngressPayload, ingressPayloadSection, ingressRequestId, MAX_POOL_MESSAGES } from '../src/ingress.js'

const MAX = 4 * 1024 * 1024

function message (i: number, expiry = 1_000_000): IngressMessage {
  const fields = { sender: Principal.anonymous(), canisterId: canisterIdFromU64(BigInt(i % 7)), methodName: `m${i}`, arg: new Uint8Array([i & 255, 1, 2]), expiry }
  return { requestId: ingressRequestId({ ...fields, nonce: new Uint8Array([i >> 8, i & 255]) }), ...fields }
}

const ctx = (pastPayloads: Uint8Array[] = [], time = 0) => ({ height: 5, time, parentHash: new Uint8Array(32), pastPayloads, finalizedHeight: 3 })

describe('ingress section', () => {
  it('round-trips any messages through the block encoding', () => {
    fc.assert(fc.property(fc.array(fc.record({
      arg: fc.uint8Array({ maxLength: 300 }), method: fc.string({ maxLength: 40 }), id: fc.nat(1000), expiry: fc.nat({ max: Number.MAX_SAFE_INTEGER })
    }), { maxLength: 20 }), xs => {
      const msgs = xs.map(x => ({ ...message(x.id, x.expiry), methodName: x.method, arg: x.arg }))
      const back = decodeIngressPayload(encodeIngressPayload(msgs), MAX)
      assert.equal(back.length, msgs.length)
      back.forEach((m, i) => {
        assert.deepEqual(m.requestId, msgs[i]!.requestId)
        assert.equal(m.canisterId.toText(), msgs[i]!.canisterId.toText())
        assert.equal(m.methodName, msgs[i]!.methodName)
        assert.deepEqual(m.arg, msgs[i]!.arg)
        assert.equal(m.expiry, msgs[i]!.expiry)
      })
    }))
  })

  it('refuses truncated, oversized and trailing input with InvalidEncodingError', () => {
    const bytes = encodeIngressPayload([message(1), message(2)])
    for (let cut = 1; cut < bytes.length; cut += 7) assert.throws(() => decodeIngressPayload(bytes.subarray(0, cut), MAX), InvalidEncodingError)
    assert.throws(() => decodeIngressPayload(new Uint8Array([...bytes, 0]), MAX), InvalidEncodingError)
    assert.throws(() => decodeIngressPayload(bytes, bytes.length - 1), InvalidEncodingError)
    const huge = new Uint8Array(4)
    new DataView(huge.buffer).setUint32(0, 0xffffffff)
    assert.throws(() => decodeIngressPayload(huge, MAX), InvalidEncodingError)
  })

  it('gives the same request id to the same submission, a different one with another nonce', () => {
    const f = { sender: Principal.anonymous(), canisterId: canisterIdFromU64(1n), methodName: 'configure', arg: new Uint8Array([1]), expiry: 5 }
    assert.deepEqual(ingressRequestId(f), ingressRequestId({ ...f }))
    assert.notDeepEqual(ingressRequestId({ ...f, nonce: new Uint8Array([1]) }), ingressRequestId(f))
  })

  it('builds from the pool, skipping what ancestors or the state already carry and what expired', async () => {
    const pool = new IngressPool()
    const known = new Set<string>()
    const a = message(1); const b = message(2); const c = message(3, 10); const d = message(4)
    for (const m of [a, b, c, d]) assert.equal(pool.add(m), true)
    assert.equal(pool.add(a), false, 'a duplicate is not pooled twice')
    known.add(Buffer.from(d.requestId).toString('hex'))
    const section = ingressPayloadSection({ pool, maxBlockPayloadBytes: MAX, known: id => known.has(Buffer.from(id).toString('hex')) })
    const past = encodeIngressPayload([a])
    const built = decodeIngressPayload(await section.build(5, ctx([past], 100), MAX), MAX)
    assert.deepEqual(built.map(m => m.methodName), ['m2'], 'a is in an ancestor, c expired, d is known')
    assert.equal(await section.validate(encodeIngressPayload(built), ctx()), true)
    await assert.rejects(async () => await section.validate(new Uint8Array([0, 0, 0, 1]), ctx()), InvalidEncodingError)
    pool.purge(id => known.has(Buffer.from(id).toString('hex')) || Buffer.from(id).equals(Buffer.from(b.requestId)), 100)
    assert.equal(pool.length, 1, 'b executed, c expired, d known: a stays until executed')
  })

  it('refuses new messages when full instead of evicting', () => {
    const pool = new IngressPool()
    for (let i = 0; i < MAX_POOL_MESSAGES; i++) pool.add(message(i))
    assert.throws(() => pool.add(message(MAX_POOL_MESSAGES + 1)), QueueFullError)
    assert.equal(pool.length, MAX_POOL_MESSAGES)
  })
})
