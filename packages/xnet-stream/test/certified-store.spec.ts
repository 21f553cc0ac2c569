import assert from 'node:assert/strict'
import fc from 'fast-check'
import { buildHashTree, encodeHashTree, reconstruct, type LabeledTree } from '@icnet/hashtree'
import { encodeStreamMessage, equalBytes, RejectReason, type SubnetId } from '@icnet/types'
import { InMemoryCertifiedStreamStore } from '../src/certified-store.js'
import { encodeStreamHeader } from '../src/header-codec.js'
import { HEADER_LABEL, MESSAGES_LABEL, STREAMS_LABEL, indexLabel } from '../src/slice-tree.js'
import { makeSubnet, request } from './fixtures.js'

/** What happens to a store's streams between certifications. */
type Op =
  | { kind: 'push', stream: number, count: number, size: number }
  | { kind: 'gc', stream: number, share: number }
  | { kind: 'signal', stream: number, reject: number }
  | { kind: 'forget-signals', stream: number, share: number }
  | { kind: 'certify' }

const STREAMS = 3

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('push' as const), stream: fc.nat(STREAMS - 1), count: fc.integer({ min: 1, max: 40 }), size: fc.integer({ min: 0, max: 300 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('gc' as const), stream: fc.nat(STREAMS - 1), share: fc.double({ min: 0, max: 1, noNaN: true }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('signal' as const), stream: fc.nat(STREAMS - 1), reject: fc.integer({ min: 0, max: RejectReason.Unknown }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('forget-signals' as const), stream: fc.nat(STREAMS - 1), share: fc.double({ min: 0, max: 1, noNaN: true }) }) },
  { weight: 3, arbitrary: fc.constant({ kind: 'certify' as const }) }
)

/** A query as fractions of the certified range, so it fits whatever the stream holds. */
const queryArb = fc.record({
  begin: fc.double({ min: 0, max: 1, noNaN: true }),
  witness: fc.double({ min: 0, max: 1, noNaN: true }),
  msgLimit: fc.option(fc.integer({ min: 0, max: 60 }), { nil: undefined }),
  byteLimit: fc.option(fc.integer({ min: 1, max: 8000 }), { nil: undefined })
})

/** The tree the store certified before it was incremental: every height built from scratch with `buildHashTree`. */
function treeFromScratch (store: InMemoryCertifiedStreamStore, height: number): ReturnType<typeof buildHashTree> {
  const streams: Array<[Uint8Array, LabeledTree]> = store.destinations().map(d => {
    const stream = store.stream(d)
    const sub: Array<[Uint8Array, LabeledTree]> = [[HEADER_LABEL, encodeStreamHeader(stream.header())]]
    const messages = [...stream.messages()].map(([i, m]) => [indexLabel(i), encodeStreamMessage(m)] as [Uint8Array, LabeledTree])
    if (messages.length > 0) sub.push([MESSAGES_LABEL, messages])
    return [d.toUint8Array(), sub]
  })
  return buildHashTree([[STREAMS_LABEL, streams], ['metadata', [['height', indexLabel(height)]]]])
}

describe('InMemoryCertifiedStreamStore: incremental certification', function () {
  this.timeout(120_000)
  const source = makeSubnet()
  const destinations: SubnetId[] = Array.from({ length: STREAMS }, () => makeSubnet().id)
  const newStore = (): InMemoryCertifiedStreamStore =>
    new InMemoryCertifiedStreamStore({ subnetId: source.id, shares: source.keys.shares, threshold: 1 })

  /** Applies one stream op; returns whether it changed anything (ops that cannot apply are skipped). */
  function apply (store: InMemoryCertifiedStreamStore, op: Exclude<Op, { kind: 'certify' }>, seq: { next: number }): boolean {
    const stream = store.stream(destinations[op.stream]!)
    switch (op.kind) {
      case 'push':
        for (let i = 0; i < op.count; i++) if (!stream.tryPush(request(seq.next++, op.size))) return i > 0
        return true
      case 'gc': {
        const to = stream.begin + Math.floor(op.share * stream.length)
        // Reject signals for every third message collected (the header does not carry them; the store must not care).
        const rejects = []
        for (let i = stream.begin; i < to; i += 3) rejects.push({ index: i, reason: RejectReason.CanisterNotFound })
        stream.discardMessagesBefore(to, rejects)
        return true
      }
      case 'signal':
        // 0: an accept; otherwise a reject for that reason.
        if (op.reject === 0) stream.pushAcceptSignal()
        else stream.pushRejectSignal(op.reject as RejectReason)
        return true
      case 'forget-signals':
        stream.discardSignalsBefore(Math.floor(op.share * stream.signalsEnd))
        return true
    }
  }

  it('certifies the tree, root and slices a from-scratch build gives, over random appends, collections and signals', () => {
    fc.assert(fc.property(fc.array(opArb, { minLength: 1, maxLength: 30 }), fc.array(queryArb, { minLength: 1, maxLength: 4 }), (ops, queries) => {
      const store = newStore()
      const seq = { next: 0 }
      const applied: Array<Exclude<Op, { kind: 'certify' }>> = []
      for (const op of [...ops, { kind: 'certify' } as const]) {
        if (op.kind !== 'certify') {
          if (apply(store, op, seq)) applied.push(op)
          continue
        }
        const { height, root } = store.certify()
        // The tree, node for node, and the root: what buildHashTree makes of the same content.
        const expected = treeFromScratch(store, height)
        assert.ok(equalBytes(encodeHashTree(store.certifiedTree()!), encodeHashTree(expected)), `tree at height ${height}`)
        assert.ok(equalBytes(root, reconstruct(expected)), `root at height ${height}`)

        // Every slice byte: against a store that certifies the same content at the same height in one go.
        const fresh = newStore()
        for (let h = 1; h < height; h++) fresh.certify()
        const freshSeq = { next: 0 }
        for (const past of applied) apply(fresh, past, freshSeq)
        assert.ok(equalBytes(fresh.certify().root, root))
        for (const d of store.destinations()) {
          const header = store.certifiedHeader(d)!
          const span = header.end - header.begin
          for (const q of queries) {
            const msgBegin = header.begin + Math.floor(q.begin * (span + 1) * 0.999)
            const witnessBegin = header.begin + Math.floor(q.witness * (msgBegin - header.begin + 1) * 0.999)
            const query = { msgBegin, witnessBegin, msgLimit: q.msgLimit, byteLimit: q.byteLimit }
            const got = store.encodeSlice(d, query)
            const want = fresh.encodeSlice(d, query)
            assert.equal(got.ok, true)
            assert.equal(want.ok, true)
            if (got.ok && want.ok) assert.ok(equalBytes(got.bytes, want.bytes), `slice ${JSON.stringify(query)} at height ${height}`)
          }
        }
      }
    }), { numRuns: 60 })
  })

  it('a height where nothing changed certifies the same streams under a new height', () => {
    const store = newStore()
    const stream = store.stream(destinations[0]!)
    for (let i = 0; i < 20; i++) stream.push(request(i))
    const first = store.certify()
    const second = store.certify()
    assert.equal(second.height, first.height + 1)
    assert.ok(!equalBytes(first.root, second.root))
    assert.ok(equalBytes(encodeHashTree(store.certifiedTree()!), encodeHashTree(treeFromScratch(store, second.height))))
  })
})
