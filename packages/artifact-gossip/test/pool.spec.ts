import assert from 'node:assert/strict'
import fc from 'fast-check'
import { InMemoryMetrics } from '@icnet/types'
import { InMemoryArtifactPool, artifactIdHex } from '../src/index.js'

function entry (height: number, size: number, salt = 0): { id: string, artifact: number, bytes: Uint8Array, height: number } {
  const bytes = new Uint8Array(size).fill(height & 0xff)
  if (size > 0) bytes[0] = salt & 0xff
  if (size > 4) new DataView(bytes.buffer).setUint32(1, height)
  return { id: artifactIdHex(bytes), artifact: height, bytes, height }
}

describe('InMemoryArtifactPool', () => {
  it('adds, finds, validates, removes and refuses duplicates', () => {
    const pool = new InMemoryArtifactPool<number>('note')
    const e = entry(5, 10)
    assert.equal(pool.add(e, 'unvalidated'), 'added')
    assert.equal(pool.add(e, 'validated'), 'duplicate')
    assert.equal(pool.get(e.id)?.section, 'unvalidated')
    assert.equal([...pool.validated()].length, 0)
    assert.ok(pool.markValidated(e.id))
    assert.equal(pool.get(e.id)?.section, 'validated')
    assert.equal(pool.markValidated(e.id), false)
    assert.equal(pool.byteSize, 10)
    assert.ok(pool.remove(e.id))
    assert.equal(pool.size, 0)
    assert.equal(pool.byteSize, 0)
  })

  it('purges below a height and refuses those heights afterwards', () => {
    const pool = new InMemoryArtifactPool<number>('note')
    for (let h = 0; h < 10; h++) pool.add(entry(h, 8), h % 2 === 0 ? 'validated' : 'unvalidated')
    assert.equal(pool.purgeBelow(6), 6)
    assert.equal(pool.purgeHeight, 6)
    assert.deepEqual([...pool.validated(), ...pool.unvalidated()].map(e => e.height).sort(), [6, 7, 8, 9])
    assert.equal(pool.add(entry(3, 8, 1), 'unvalidated'), 'below-purge')
    assert.equal(pool.purgeBelow(2), 0, 'the floor never moves down')
  })

  it('evicts the oldest unvalidated artifacts, never validated ones, when full', () => {
    const metrics = new InMemoryMetrics()
    const pool = new InMemoryArtifactPool<number>('note', { maxArtifacts: 3, metrics })
    const v = entry(1, 4)
    pool.add(v, 'validated')
    const u1 = entry(2, 4)
    const u2 = entry(3, 4)
    pool.add(u1, 'unvalidated')
    pool.add(u2, 'unvalidated')
    assert.equal(pool.add(entry(4, 4), 'unvalidated'), 'added')
    assert.equal(pool.has(u1.id), false)
    assert.ok(pool.has(v.id))
    assert.equal(metrics.get('icnet_artifact_pool_evicted_total'), 1)
    const full = new InMemoryArtifactPool<number>('note', { maxArtifacts: 1 })
    full.add(entry(1, 4), 'validated')
    assert.equal(full.add(entry(2, 4), 'validated'), 'full')
  })

  it('never exceeds its count and byte bounds (property)', () => {
    fc.assert(fc.property(
      fc.array(fc.record({ height: fc.nat(50), size: fc.integer({ min: 1, max: 300 }), validated: fc.boolean(), salt: fc.nat(255) }), { maxLength: 80 }),
      fc.integer({ min: 1, max: 10 }), fc.integer({ min: 50, max: 1000 }),
      (ops, maxArtifacts, maxBytes) => {
        const pool = new InMemoryArtifactPool<number>('note', { maxArtifacts, maxBytes })
        let validatedBefore = 0
        for (const op of ops) {
          const res = pool.add(entry(op.height, op.size, op.salt), op.validated ? 'validated' : 'unvalidated')
          assert.ok(pool.size <= maxArtifacts && pool.byteSize <= maxBytes)
          const validatedNow = [...pool.validated()].length
          assert.ok(validatedNow >= validatedBefore, 'validated artifacts are never evicted')
          if (res === 'added' && op.validated) assert.equal(validatedNow, validatedBefore + 1)
          validatedBefore = validatedNow
        }
        const sum = [...pool.validated(), ...pool.unvalidated()].reduce((s, e) => s + e.bytes.byteLength, 0)
        assert.equal(sum, pool.byteSize)
      }))
  })
})
