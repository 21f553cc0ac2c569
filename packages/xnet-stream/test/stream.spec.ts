import assert from 'node:assert/strict'
import fc from 'fast-check'
import { RejectReason, messageByteSize } from '@icnet/types'
import { InvalidSignalsError, StreamFullError } from '../src/errors.js'
import { decodeStreamHeader, encodeStreamHeader } from '../src/header-codec.js'
import { Stream, streamLimitsFor, type RejectSignal } from '../src/stream.js'
import { request, seqOf } from './fixtures.js'

/** One step of a random stream life: push, signal (accept or reject), or GC from the remote's signals. */
type Op =
  | { op: 'push', size: number }
  | { op: 'accept' }
  | { op: 'reject', reason: RejectReason }
  | { op: 'gc', upTo: number, rejectEvery: number }

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('push' as const), size: fc.integer({ min: 0, max: 300 }) }),
  fc.record({ op: fc.constant('accept' as const) }),
  fc.record({ op: fc.constant('reject' as const), reason: fc.integer({ min: 1, max: 7 }) as fc.Arbitrary<RejectReason> }),
  fc.record({ op: fc.constant('gc' as const), upTo: fc.nat(40), rejectEvery: fc.integer({ min: 0, max: 4 }) })
)

describe('Stream', () => {
  it('keeps its index, signal and byte invariants under any sequence of push, signal and GC', () => {
    fc.assert(fc.property(fc.array(opArb, { maxLength: 120 }), ops => {
      const s = new Stream({ limits: { maxMessages: 25, maxBytes: 4000 } })
      const held = new Map<number, number>() // index -> seq of every message pushed and not yet collected
      let seq = 0
      for (const o of ops) {
        if (o.op === 'push') {
          const m = request(seq++, o.size)
          const can = s.canAccept(m)
          const before = s.end
          try {
            const i = s.push(m)
            assert.ok(can)
            assert.equal(i, before)
            held.set(i, seqOf(m))
          } catch (err) {
            assert.ok(!can)
            assert.ok(err instanceof StreamFullError)
            assert.equal(s.end, before) // refused: nothing taken
          }
        } else if (o.op === 'accept') {
          s.pushAcceptSignal()
        } else if (o.op === 'reject') {
          s.pushRejectSignal(o.reason)
        } else {
          const upTo = Math.min(s.end, s.begin + o.upTo)
          const signals: RejectSignal[] = []
          if (o.rejectEvery > 0) for (let i = s.begin; i < upTo; i += o.rejectEvery) signals.push({ index: i, reason: RejectReason.QueueFull })
          const beforeBegin = s.begin
          const rejected = s.discardMessagesBefore(upTo, signals)
          // Exactly the rejected messages come back, with their reasons; the rest were accepted.
          assert.deepEqual(rejected.map(r => r.index), signals.filter(x => x.index >= beforeBegin).map(x => x.index))
          for (const r of rejected) assert.equal(seqOf(r.message), held.get(r.index))
          for (let i = beforeBegin; i < upTo; i++) held.delete(i)
        }
        // Index invariants.
        assert.ok(s.begin <= s.end)
        assert.equal(s.end - s.begin, s.length)
        assert.ok(s.length <= s.limits.maxMessages)
        // GC never dropped an unsignalled message: everything pushed and not collected is still there.
        assert.equal(held.size, s.length)
        for (const [i, sq] of held) assert.equal(seqOf(s.get(i)!), sq)
        // Reject signals strictly increasing and below signals_end.
        const rs = s.rejectSignals
        for (let k = 0; k < rs.length; k++) {
          assert.ok(rs[k]!.index < s.signalsEnd)
          if (k > 0) assert.ok(rs[k]!.index > rs[k - 1]!.index)
        }
        // Byte counting exact.
        let bytes = 0
        for (const [, m] of s.messages()) bytes += messageByteSize(m)
        assert.equal(s.byteSize, bytes)
        assert.equal(s.countBytes(), bytes + rs.length)
      }
    }), { numRuns: 300 })
  })

  it('refuses beyond its limits and accepts again after GC (outputs wait, nothing is dropped)', () => {
    const s = new Stream({ limits: streamLimitsFor('system') })
    let n = 0
    while (s.tryPush(request(n))) n++
    assert.equal(n, 100)
    assert.throws(() => s.push(request(n)), (e: Error) => e instanceof StreamFullError && e.limit === 'messages')
    s.discardMessagesBefore(10, [])
    assert.ok(s.tryPush(request(n)))
    const big = new Stream({ limits: { maxMessages: 10_000, maxBytes: 1000 } })
    assert.ok(big.tryPush(request(0, 2000))) // an empty stream always takes one message
    assert.throws(() => big.push(request(1, 10)), (e: Error) => e instanceof StreamFullError && e.limit === 'bytes')
  })

  it('drops its own reject signals once the reverse stream moved past them', () => {
    const s = new Stream()
    s.pushAcceptSignal(); s.pushRejectSignal(RejectReason.CanisterNotFound); s.pushAcceptSignal(); s.pushRejectSignal(RejectReason.QueueFull)
    assert.deepEqual(s.rejectSignals.map(r => r.index), [1, 3])
    assert.equal(s.signalCount, 4)
    s.discardSignalsBefore(2)
    assert.deepEqual(s.rejectSignals.map(r => r.index), [3])
    assert.equal(s.signalCount, 2)
    assert.throws(() => s.discardSignalsBefore(5), InvalidSignalsError)
  })

  it('refuses signals that break the invariants and changes nothing', () => {
    const s = new Stream()
    for (let i = 0; i < 5; i++) s.push(request(i))
    assert.throws(() => s.discardMessagesBefore(6, []), InvalidSignalsError)
    assert.throws(() => s.discardMessagesBefore(3, [{ index: 2, reason: 5 }, { index: 1, reason: 5 }]), InvalidSignalsError)
    assert.throws(() => s.discardMessagesBefore(3, [{ index: 3, reason: 5 }]), InvalidSignalsError)
    assert.throws(() => s.discardMessagesBefore(3, [{ index: 1, reason: 9 as RejectReason }]), InvalidSignalsError)
    assert.equal(s.begin, 0)
    assert.equal(s.length, 5)
  })

  it('header codec round-trips any valid header and is canonical', () => {
    const headerArb = fc.record({
      begin: fc.nat(1_000_000),
      len: fc.nat(10_000),
      signalsEnd: fc.nat(1_000_000),
      rejects: fc.uniqueArray(fc.nat(1_000_000), { maxLength: 40 }),
      responsesOnly: fc.boolean()
    })
    fc.assert(fc.property(headerArb, h => {
      const idx = h.rejects.filter(i => i < h.signalsEnd && h.signalsEnd - i <= 20_000).sort((a, b) => a - b)
      const header = {
        begin: h.begin,
        end: h.begin + h.len,
        signalsEnd: h.signalsEnd,
        rejectSignals: idx.map((index, k) => ({ index, reason: ((k % 7) + 1) as RejectReason })),
        flags: { responsesOnly: h.responsesOnly }
      }
      const bytes = encodeStreamHeader(header)
      assert.deepEqual(decodeStreamHeader(bytes), header)
      assert.deepEqual(encodeStreamHeader(decodeStreamHeader(bytes)), bytes)
    }))
  })
})
