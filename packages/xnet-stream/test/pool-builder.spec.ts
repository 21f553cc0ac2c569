import assert from 'node:assert/strict'
import { equalBytes, type SubnetId } from '@icnet/types'
import {
  EmptySliceError,
  InvalidSliceError,
  SliceGapError,
  SliceTooLargeError,
  StaleSliceError,
  WrongSubnetError
} from '../src/errors.js'
import { XNetPayloadBuilder, expectedIndices, type OwnStreamPosition, type PayloadContext, type XNetPayload } from '../src/payload-builder.js'
import { CertifiedSlicePool } from '../src/slice-pool.js'
import { decodeCertifiedSlice, encodeCertifiedSlice, sliceByteSize, sliceMessagesBegin, sliceMessagesEnd, sliceRootHash, type CertifiedStreamSlice } from '../src/slice.js'
import { StaticRegistryView } from '../src/static-registry.js'
import { request, threeSubnets } from './fixtures.js'

describe('certified slice pool and payload builder', function () {
  this.timeout(60_000)
  // B receives: 40 messages from A; from C only signals (C inducted 5 of B's messages).
  const { a, b, c, registry } = threeSubnets()
  const toB = a.store.stream(b.id)
  for (let i = 0; i < 40; i++) toB.push(request(i, 200))
  a.store.certify()
  const cToB = c.store.stream(b.id)
  for (let i = 0; i < 5; i++) cToB.pushAcceptSignal()
  c.store.certify()
  const slice = (store: typeof a.store, q: { msgBegin: number, witnessBegin?: number, msgLimit?: number }): CertifiedStreamSlice =>
    store.slice(b.id, q) as CertifiedStreamSlice
  const newPool = (maxBytes?: number): CertifiedSlicePool => new CertifiedSlicePool({ ourSubnet: b.id, registry, maxBytes })
  // B's own streams: 5 messages towards C (C signalled all of them), nothing towards A yet.
  const own = (remote: SubnetId): OwnStreamPosition | undefined =>
    remote.toText() === c.id.toText() ? { begin: 0, end: 5, signalsEnd: 0 } : { begin: 0, end: 0, signalsEnd: 0 }
  const context = (pastPayloads: XNetPayload[] = [], byteLimit = 1 << 20): PayloadContext => ({ ownStream: own, pastPayloads, byteLimit })

  describe('CertifiedSlicePool', () => {
    it('stays within its byte bound, trimming a slice to a verified prefix', () => {
      const pool = newPool(3000)
      pool.put(a.id, slice(a.store, { msgBegin: 0 }))
      assert.ok(pool.byteSize <= 3000)
      const pooled = pool.peek(a.id)!
      assert.ok(pooled.messages.length > 0 && pooled.messages.length < 40)
      assert.equal(sliceByteSize(pooled), pool.byteSize)
      assert.equal(sliceMessagesBegin(pooled), 0)
    })

    it('garbage-collects by expected indices: consumed messages go, a slice with nothing new goes', () => {
      const pool = newPool()
      pool.put(a.id, slice(a.store, { msgBegin: 0 }))
      pool.garbageCollect(a.id, { message: 25, signal: 0 })
      assert.equal(sliceMessagesBegin(pool.peek(a.id)!), 25)
      assert.equal(sliceMessagesEnd(pool.peek(a.id)!), 40)
      assert.ok(pool.byteSize < sliceByteSize(slice(a.store, { msgBegin: 0 })))
      pool.garbageCollect(a.id, { message: 40, signal: 0 }) // all consumed, no signals news
      assert.equal(pool.peek(a.id), undefined)
      assert.equal(pool.byteSize, 0)

      pool.put(c.id, slice(c.store, { msgBegin: 0 })) // signals only: signals_end 5
      pool.garbageCollect(c.id, { message: 0, signal: 3 })
      assert.ok(pool.peek(c.id) !== undefined, 'new signals keep a signals-only slice')
      pool.garbageCollect(c.id, { message: 0, signal: 5 })
      assert.equal(pool.peek(c.id), undefined)
    })

    it('merges a suffix pulled with witness_begin into the pooled prefix; the merge verifies and equals the full slice', () => {
      const pool = newPool()
      const expected = { message: 0, signal: 0 }
      pool.put(a.id, slice(a.store, { msgBegin: 0, msgLimit: 15 }), expected)
      const q = pool.nextQuery(a.id, expected)
      assert.deepEqual({ msgBegin: q.msgBegin, witnessBegin: q.witnessBegin }, { msgBegin: 15, witnessBegin: 0 })
      // Off the wire, as a client gets it.
      const suffix = decodeAgain(slice(a.store, { msgBegin: q.msgBegin, witnessBegin: q.witnessBegin }))
      assert.equal(pool.put(a.id, suffix, expected), 25)
      const merged = pool.peek(a.id)!
      const full = slice(a.store, { msgBegin: 0 })
      assert.deepEqual(merged.messages.map(m => m.index), full.messages.map(m => m.index))
      assert.ok(equalBytes(sliceRootHash(merged), sliceRootHash(full)))
    })

    it('keeps pooled messages when a signals-only slice arrives after them', () => {
      const pool = newPool()
      pool.put(a.id, slice(a.store, { msgBegin: 0 }))
      // The refill's next pull starts at the pooled end and finds nothing new yet.
      const after = slice(a.store, { msgBegin: 40 })
      assert.equal(after.messages.length, 0)
      assert.equal(pool.put(a.id, after), 0)
      assert.equal(pool.peek(a.id)!.messages.length, 40)
      assert.equal(pool.takeSlice(a.id, { message: 0, signal: 0 }, { byteLimit: 1 << 20 })!.slice.messages.length, 40)
    })

    it('refuses a slice it cannot verify and stays unchanged', () => {
      const pool = newPool()
      pool.put(a.id, slice(a.store, { msgBegin: 0, msgLimit: 10 }))
      const before = { bytes: pool.byteSize, slice: pool.peek(a.id) }
      // Claimed to come from C, but signed by A: the signature does not verify under C's key.
      assert.throws(() => pool.put(c.id, slice(a.store, { msgBegin: 0 })), (e: unknown) => e instanceof InvalidSliceError && e.reason === 'certification')
      // A message altered in transit.
      const bytes = encodeCertifiedSlice(slice(a.store, { msgBegin: 10, witnessBegin: 0 })).slice()
      const at = indexOf(bytes, slice(a.store, { msgBegin: 12, msgLimit: 1 }).messages[0]!.bytes)
      bytes[at + 5]! ^= 1
      assert.throws(() => pool.put(a.id, decodeAgainBytes(bytes)), (e: unknown) => e instanceof InvalidSliceError)
      // A slice of the stream to another subnet.
      const toC = a.store.stream(c.id)
      toC.push(request(77))
      a.store.certify()
      assert.throws(() => pool.put(a.id, a.store.slice(c.id, { msgBegin: 0 }) as CertifiedStreamSlice), WrongSubnetError)
      assert.equal(pool.byteSize, before.bytes)
      assert.equal(pool.peek(a.id), before.slice)
    })
  })

  describe('XNetPayloadBuilder', () => {
    const builder = (pool: CertifiedSlicePool): XNetPayloadBuilder => new XNetPayloadBuilder({ ourSubnet: b.id, registry, pool, random: () => 0 })
    const filled = (): CertifiedSlicePool => {
      const pool = newPool()
      pool.put(a.id, slice(a.store, { msgBegin: 0 }))
      pool.put(c.id, slice(c.store, { msgBegin: 0 }))
      return pool
    }

    it('takes expected indices from past payloads, else from our own stream', () => {
      assert.deepEqual(expectedIndices(a.id, context()), { message: 0, signal: 0 })
      const past: XNetPayload = { slices: [{ subnet: a.id, slice: slice(a.store, { msgBegin: 0, msgLimit: 12 }) }] }
      assert.deepEqual(expectedIndices(a.id, context([past])), { message: 12, signal: 0 })
      assert.deepEqual(expectedIndices(c.id, context([past])), { message: 0, signal: 0 })
    })

    it('puts signals-only slices first, stays within the byte limit, and its payload validates', () => {
      const pool = filled()
      const bld = builder(pool)
      const limit = 4000
      const { payload, byteSize } = bld.buildPayload(context([], limit))
      assert.equal(payload.slices[0]!.subnet.toText(), c.id.toText())
      assert.equal(payload.slices[0]!.slice.messages.length, 0)
      assert.ok(byteSize <= limit)
      assert.equal(bld.validatePayload(payload, context([], limit)), byteSize)
      const fromA = payload.slices.find(s => s.subnet.toText() === a.id.toText())!
      assert.ok(fromA.slice.messages.length > 0 && fromA.slice.messages.length < 40)
      // The same payload against a smaller limit is refused.
      assert.throws(() => bld.validatePayload(payload, context([], byteSize - 1)), SliceTooLargeError)
    })

    it('continues after past payloads: no duplicates, no gaps', () => {
      const pool = filled()
      const bld = builder(pool)
      const first = bld.buildPayload(context([], 3000)).payload
      const sliceA = first.slices.find(s => s.subnet.toText() === a.id.toText())!.slice
      const second = bld.buildPayload(context([first], 1 << 20)).payload
      const nextA = second.slices.find(s => s.subnet.toText() === a.id.toText())!.slice
      assert.equal(sliceMessagesBegin(nextA), sliceMessagesEnd(sliceA))
      assert.equal(second.slices.some(s => s.subnet.toText() === c.id.toText()), false, 'C\'s signals were in the first payload')
      bld.validatePayload(second, context([first]))
      // Proposing the first payload's slice again is a duplicate; skipping ahead is a gap.
      const againA: XNetPayload = { slices: [{ subnet: a.id, slice: sliceA }] }
      assert.throws(() => bld.validatePayload(againA, context([first])), StaleSliceError)
      const ahead: XNetPayload = { slices: [{ subnet: a.id, slice: slice(a.store, { msgBegin: sliceMessagesEnd(sliceA) + 1 }) }] }
      assert.throws(() => bld.validatePayload(ahead, context([first])), SliceGapError)
    })

    it('caps the messages of a slice by the reverse stream\'s room only when the receiving subnet is a system subnet', () => {
      // B's stream towards A already holds 70 messages: a system subnet B takes at most 100 - 70 = 30 from A.
      const ownWithBacklog = (remote: SubnetId): OwnStreamPosition | undefined =>
        remote.toText() === a.id.toText() ? { begin: 0, end: 70, signalsEnd: 0, reverseLength: 70 } : own(remote)
      const ctx = (): PayloadContext => ({ ownStream: ownWithBacklog, pastPayloads: [], byteLimit: 1 << 20 })
      const withTypes = (typeA: 'system' | 'application', typeB: 'system' | 'application'): StaticRegistryView =>
        new StaticRegistryView({ subnets: [{ ...a.record([]), type: typeA }, { ...b.record([]), type: typeB }, c.record([])] })
      const fromA = (p: XNetPayload): number => p.slices.find(s => s.subnet.toText() === a.id.toText())?.slice.messages.length ?? 0
      const build = (reg: StaticRegistryView): { bld: XNetPayloadBuilder, payload: XNetPayload } => {
        const pool = new CertifiedSlicePool({ ourSubnet: b.id, registry: reg })
        pool.put(a.id, slice(a.store, { msgBegin: 0 }))
        const bld = new XNetPayloadBuilder({ ourSubnet: b.id, registry: reg, pool, random: () => 0 })
        return { bld, payload: bld.buildPayload(ctx()).payload }
      }
      const systemReceiver = build(withTypes('application', 'system'))
      assert.equal(fromA(systemReceiver.payload), 30)
      const whole: XNetPayload = { slices: [{ subnet: a.id, slice: slice(a.store, { msgBegin: 0 }) }] }
      assert.throws(() => systemReceiver.bld.validatePayload(whole, ctx()), SliceTooLargeError)
      // From a system subnet to an application subnet nothing is capped.
      const systemSender = build(withTypes('system', 'application'))
      assert.equal(fromA(systemSender.payload), 40)
      systemSender.bld.validatePayload(whole, ctx())
    })

    it('refuses an empty slice: no messages and no new signals', () => {
      const bld = builder(newPool())
      const signalsOnly: XNetPayload = { slices: [{ subnet: c.id, slice: slice(c.store, { msgBegin: 0 }) }] }
      bld.validatePayload(signalsOnly, context())
      assert.throws(() => bld.validatePayload(signalsOnly, context([signalsOnly])), EmptySliceError)
    })
  })
})

function indexOf (hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer
    return i
  }
  return -1
}

function decodeAgainBytes (bytes: Uint8Array): CertifiedStreamSlice {
  return decodeCertifiedSlice(bytes)
}

function decodeAgain (s: CertifiedStreamSlice): CertifiedStreamSlice {
  return decodeCertifiedSlice(encodeCertifiedSlice(s))
}
