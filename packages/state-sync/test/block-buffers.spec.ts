import assert from 'node:assert/strict'
import fc from 'fast-check'
import { chunkHash, MAX_BLOCK_BYTES } from '../src/index.js'
import { ChunkBufferPool, pooledBufferOf, verifyIntoBuffer } from '../src/block-buffers.js'
import { inPieces } from './helpers.js'

describe('chunk buffers (verify in a pooled buffer)', () => {
  it('property: accepts exactly the bytes that hash to the expected chunk hash, however they arrived', async () => {
    const pool = new ChunkBufferPool(4)
    await fc.assert(fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 5000 }), fc.array(fc.nat(), { maxLength: 6 }), fc.boolean(), async (data, cuts, tamper) => {
      const expected = chunkHash(data)
      const sent = data.slice()
      if (tamper) sent[sent.length >> 1] = sent[sent.length >> 1]! ^ 0x01
      const result = await verifyIntoBuffer(pool, inPieces(sent, cuts), expected)
      if (tamper) {
        assert.equal(result, undefined)
      } else {
        assert.ok(result !== undefined)
        assert.deepEqual(result.bytes, data)
        pool.release(result.buffer)
      }
    }), { numRuns: 80 })
  })

  it('reuses released buffers, keeps at most its limit, and never leaks bytes from a previous chunk into the hash', async () => {
    const pool = new ChunkBufferPool(2)
    const big = new Uint8Array(MAX_BLOCK_BYTES).fill(9)
    const first = await verifyIntoBuffer(pool, big, chunkHash(big))
    assert.ok(first !== undefined)
    pool.release(first.buffer)
    assert.equal(pool.idle, 1)
    // A short chunk in the same (dirty) buffer hashes only its own bytes.
    const small = Uint8Array.of(1, 2, 3)
    const second = await verifyIntoBuffer(pool, small, chunkHash(small))
    assert.ok(second !== undefined)
    assert.equal(second.buffer, first.buffer)
    assert.deepEqual(second.bytes, small)
    const extra = [pool.acquire(), pool.acquire(), pool.acquire()]
    for (const b of [second.buffer, ...extra]) pool.release(b)
    assert.equal(pool.idle, 2)
  })

  it('hashes a chunk already streamed into a pooled buffer where it is, and releases it when it is wrong', async () => {
    const pool = new ChunkBufferPool(2)
    const view = pool.view(5)
    view.set([1, 2, 3, 4, 5])
    const ok = await verifyIntoBuffer(pool, view, chunkHash(Uint8Array.of(1, 2, 3, 4, 5)))
    assert.ok(ok !== undefined)
    assert.equal(ok.bytes, view, 'no copy')
    assert.equal(ok.buffer, pooledBufferOf(view)!.buffer)
    assert.equal(ok.pool, pool)
    const bad = pool.view(3)
    assert.equal(await verifyIntoBuffer(pool, bad, chunkHash(Uint8Array.of(9, 9, 9))), undefined)
    assert.equal(pool.idle, 1)
  })

  it('refuses a block larger than any chunk before copying it', async () => {
    const pool = new ChunkBufferPool(1)
    assert.equal(await verifyIntoBuffer(pool, new Uint8Array(MAX_BLOCK_BYTES + 1), new Uint8Array(32)), undefined)
    assert.equal(pool.idle, 0)
  })
})
