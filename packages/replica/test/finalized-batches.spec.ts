import assert from 'node:assert/strict'
import type { Batch } from '@icnet/consensus'
import type { XNetPayload } from '@icnet/xnet-stream'
import { FinalizedBatches, type FinalizedEntry } from '../src/finalized-batches.js'

function entry (height: number, decodes = true): FinalizedEntry {
  const batch: Batch = { height, time: height * 1000, randomness: new Uint8Array(32), payload: new Map(), blockHash: new Uint8Array(32) }
  // A payload object per height, so the tests can tell them apart by identity.
  const xnet: XNetPayload | undefined = decodes ? { slices: [] } : undefined
  return { batch, xnet }
}

describe('finalized batches ahead of execution', () => {
  it('gives the payloads after the inducted height, as far as they run without a gap', async () => {
    const q = new FinalizedBatches(8)
    const es = [5, 6, 7, 8].map(h => entry(h))
    for (const e of es) assert.equal(await q.push(e), true)
    const got = q.payloadsAfter(5)
    assert.equal(got.length, 3)
    assert.equal(got[0], es[1]!.xnet)
    assert.equal(got[2], es[3]!.xnet)
    assert.equal(q.payloadsAfter(8).length, 0, 'nothing queued above the state')
    assert.equal(q.payloadsAfter(2).length, 0, 'heights 3 and 4 are not queued')
  })

  it('stops at a gap left by a catch-up jump and at a section that did not decode', async () => {
    const q = new FinalizedBatches(8)
    for (const e of [entry(1), entry(2), entry(40), entry(41, false), entry(42)]) await q.push(e)
    assert.equal(q.payloadsAfter(0).length, 2)
    assert.equal(q.payloadsAfter(39).length, 1)
    assert.equal(q.payloadsAfter(41).length, 1)
  })

  it('holds the producer back when full, and execution takes batches in order', async () => {
    const q = new FinalizedBatches(2)
    await q.push(entry(1))
    await q.push(entry(2))
    let third = false
    const pushing = q.push(entry(3)).then(ok => { third = ok })
    await new Promise(resolve => setImmediate(resolve))
    assert.equal(third, false, 'no room for a third batch')
    assert.equal((await q.first())?.batch.height, 1)
    q.done()
    await pushing
    assert.equal(third, true)
    assert.deepEqual([(await q.first())?.batch.height, q.length], [2, 2])
    q.close()
    assert.equal(await q.first(), undefined)
    assert.equal(await q.push(entry(4)), false)
  })
})
