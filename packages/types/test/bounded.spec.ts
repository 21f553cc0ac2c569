import assert from 'node:assert/strict'
import fc from 'fast-check'
import { BoundedQueue, LruMap, InMemoryMetrics, QueueFullError, fromHex, toHex, u64be, readU64be, domainSeparator } from '../src/index.js'

describe('bounded collections', () => {
  it('BoundedQueue behaves as a FIFO that never exceeds its limit', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 50 }), fc.array(fc.option(fc.nat(), { nil: undefined }), { maxLength: 3000 }), (limit, ops) => {
      const q = new BoundedQueue<number>(limit)
      const model: number[] = []
      for (const op of ops) {
        if (op === undefined) assert.equal(q.shift(), model.shift())
        else {
          const fits = model.length < limit
          if (fits) model.push(op)
          assert.equal(q.push(op), fits)
        }
        assert.ok(q.length <= limit)
        assert.equal(q.length, model.length)
      }
      assert.deepEqual([...q], model)
    }))
    const q = new BoundedQueue<number>(1)
    q.pushOrThrow(1)
    assert.throws(() => q.pushOrThrow(2), QueueFullError)
  })

  it('LruMap evicts the least recently used entry at its limit', () => {
    const m = new LruMap<string, number>(2)
    m.set('a', 1).set('b', 2)
    m.get('a')
    m.set('c', 3)
    assert.deepEqual([...m.keys()].sort(), ['a', 'c'])
    assert.equal(m.evictions, 1)
  })
})

describe('bytes and metrics helpers', () => {
  it('hex and u64 round-trip', () => {
    fc.assert(fc.property(fc.uint8Array(), b => assert.deepEqual(fromHex(toHex(b)), b)))
    fc.assert(fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), n => assert.equal(readU64be(u64be(n)), n)))
    assert.deepEqual([...domainSeparator('ab')], [2, 97, 98])
  })

  it('InMemoryMetrics records counters, gauges and histograms per label set', () => {
    const m = new InMemoryMetrics()
    const c = m.counter({ name: 'x_total', help: 'x' })
    c.inc(); c.inc(2, { outcome: 'ok' })
    assert.equal(m.get('x_total'), 3)
    assert.equal(m.get('x_total', { outcome: 'ok' }), 2)
    const h = m.histogram({ name: 'h', help: 'h' })
    h.observe(0.5)
    assert.deepEqual(m.observed('h'), [0.5])
  })
})
