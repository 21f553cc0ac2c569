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
  it('gives the payloads between the inducted height and a finalized height only when every one is queued', async () => {
    const q = new FinalizedBatches(8)
    const es = [5, 6, 7, 8].map(h => entry(h))
    for (const e of es) assert.equal(await q.push(e), true)
    assert.deepEqual(q.payloadsBetween(4, 4), [])
    assert.deepEqual(q.payloadsBetween(6, 3), [], 'the state is ahead of the finalized height: nothing to add')
    const got = q.payloadsBetween(5, 7)!
    assert.equal(got.length, 2)
    assert.equal(got[0], es[1]!.xnet)
    assert.equal(got[1], es[2]!.xnet)
    assert.equal(q.payloadsBetween(5, 9), undefined, 'height 9 is not known yet')
    assert.equal(q.payloadsBetween(2, 6), undefined, 'heights 3 and 4 are not queued')
    assert.equal(q.payloadsAfter(6).length, 2)
    assert.equal(q.payloadsAfter(8).length, 0)
  })

  it('stops at a gap left by a catch-up jump and at a section that did not decode', async () => {
    const q = new FinalizedBatches(8)
    for (const e of [entry(1), entry(2), entry(40), entry(41, false), entry(42)]) await q.push(e)
    assert.equal(q.payloadsBetween(0, 40), undefined)
    assert.equal(q.payloadsAfter(0).length, 2)
    assert.deepEqual(q.payloadsBetween(39, 40)?.length, 1)
    assert.equal(q.payloadsBetween(39, 41), undefined)
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
