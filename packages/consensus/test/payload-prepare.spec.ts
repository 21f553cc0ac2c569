import assert from 'node:assert/strict'
import '@icnet/types/polyfill'
import type { PayloadBuilder } from '../src/index.js'
import { assertSameChains, startBusSubnet, waitFor } from './helpers.js'

const text = (b: Uint8Array | undefined): string => new TextDecoder().decode(b)

/**
 * A section whose `prepare` takes `prepareMs` and records when it ended; `build`
 * writes whether this node's prepare of the height had ended before it built.
 */
function preparingSection (node: number, prepareMs: number, preparedAt: Map<string, number>): PayloadBuilder {
  return {
    name: 'p',
    async prepare (height) {
      await new Promise(resolve => setTimeout(resolve, prepareMs))
      preparedAt.set(`${node}:${height}`, Date.now())
    },
    build: (height) => new TextEncoder().encode(`${node}:${height}:${preparedAt.has(`${node}:${height}`) ? 'prepared' : 'unprepared'}`),
    validate: () => true
  }
}

describe('payload builders\' prepare', function () {
  this.timeout(60_000)

  it('the rank-0 block maker builds only after its builders prepared, and the block time comes after that', async () => {
    const preparedAt = new Map<string, number>()
    // A unit delay well above the wait: rank 0 proposes every block.
    const { nodes } = await startBusSubnet(4, i => ({
      payloadBuilders: [preparingSection(i, 60, preparedAt)],
      params: { unitDelayMs: 1000, maxBlockPayloadBytes: 1 << 20, checkpointInterval: 50 }
    }))
    try {
      await waitFor(() => nodes.every(n => n.batches.length >= 6), 'six finalized heights')
      assert.ok(assertSameChains(nodes) >= 6)
      for (const b of nodes[0]!.batches.slice(0, 6)) {
        const [maker, height, state] = text(b.payload.get('p')).split(':')
        assert.equal(Number(height), b.height)
        assert.equal(state, 'prepared', `height ${b.height} was built before its prepare ended`)
        assert.ok(b.time >= preparedAt.get(`${maker}:${height}`)!, `height ${b.height}: the block time predates the end of the wait`)
      }
    } finally {
      for (const n of nodes) await n.consensus.stop()
    }
  })

  it('a prepare that does not end in time does not stall the subnet: a later rank proposes without waiting', async () => {
    const preparedAt = new Map<string, number>()
    const { nodes } = await startBusSubnet(4, i => ({
      payloadBuilders: [preparingSection(i, 5_000, preparedAt)],
      params: { unitDelayMs: 50, maxBlockPayloadBytes: 1 << 20, checkpointInterval: 50 }
    }))
    try {
      await waitFor(() => nodes.every(n => n.batches.length >= 4), 'four finalized heights')
      assert.ok(assertSameChains(nodes) >= 4)
      for (const b of nodes[0]!.batches.slice(0, 4)) {
        assert.equal(text(b.payload.get('p')).split(':')[2], 'unprepared', `height ${b.height} came from a block maker that waited`)
      }
    } finally {
      for (const n of nodes) await n.consensus.stop()
    }
  })
})
