import assert from 'node:assert/strict'
import fc from 'fast-check'
import { advertisesHeight, advertWaitMs, XNET_ADVERT_WAIT_MS, XNET_ADVERTISERS_PER_HEIGHT } from '../src/xnet-adverts.js'

describe('advertisesHeight', () => {
  it('picks exactly min(advertisers, size) nodes per height, consecutive from the height\'s turn', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 1_000_000 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 5 }), (height, size, advertisers) => {
      const chosen = Array.from({ length: size }, (_, i) => i).filter(i => advertisesHeight(height, i, size, advertisers))
      assert.equal(chosen.length, Math.min(advertisers, size))
      assert.ok(chosen.includes(height % size), 'the turn node advertises')
    }))
  })

  it('with the default, one straggler never silences a height: another node advertises it too', () => {
    for (const size of [2, 4, 7, 13]) {
      for (let height = 0; height < 3 * size; height++) {
        const chosen = Array.from({ length: size }, (_, i) => i).filter(i => advertisesHeight(height, i, size))
        assert.equal(chosen.length, XNET_ADVERTISERS_PER_HEIGHT)
      }
    }
    assert.deepEqual([0, 1, 2, 3].filter(i => advertisesHeight(7, i, 4)), [0, 3], 'height 7 of 4: node 3 and, wrapping, node 0')
    assert.equal(advertisesHeight(5, 0, 1), true, 'a one-node subnet advertises every height')
  })
})

describe('advertWaitMs', () => {
  it('ends the wait for announced slices 50 ms before the rank-1 block maker would propose', () => {
    assert.equal(advertWaitMs(300), XNET_ADVERT_WAIT_MS, 'the default unit delay leaves room for the whole wait')
    assert.equal(advertWaitMs(200), 150)
    assert.equal(advertWaitMs(50), 0, 'a fast test subnet does not wait')
    fc.assert(fc.property(fc.integer({ min: 0, max: 100_000 }), unit => {
      const w = advertWaitMs(unit)
      assert.ok(w >= 0 && w <= XNET_ADVERT_WAIT_MS && (w === 0 || w <= unit - 50))
    }))
  })
})
