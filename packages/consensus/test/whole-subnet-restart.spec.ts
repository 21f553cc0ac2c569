import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { InMemoryMetrics } from '@icnet/types'
import { InMemoryBus, LmdbConsensusStore, MemoryConsensusStore, type ConsensusStore } from '../src/index.js'
import { assertSameChains, dealSubnet, startNode, waitFor, type SubnetKeys, type TestNode } from './helpers.js'

/** Starts nodes 0..n-1 of `keys` on `bus`, each on its lmdb store under `dir`, into `nodes` (so a caller's cleanup sees every node that started). */
async function startOnStores (keys: SubnetKeys, n: number, bus: InMemoryBus, dir: string, nodes: TestNode[] = []): Promise<TestNode[]> {
  for (let i = 0; i < n; i++) nodes.push(await startNode(keys, i, bus.transport(`node-${i}`), { store: new LmdbConsensusStore(join(dir, `n${i}`)) }))
  return nodes
}

/** Stops every node and waits for its host consumer to end. */
async function stopAndDrain (nodes: TestNode[]): Promise<void> {
  await Promise.all(nodes.map(async x => { await x.consensus.stop(); await x.consumer }))
}

/**
 * Every node of a subnet stops and starts again from its lmdb store: no peer
 * holds the artifacts of the round in flight, so what a node restores from its
 * own store must be enough for the subnet to go on.
 */
describe('consensus: every node of a subnet restarted from its store', function () {
  this.timeout(120_000)

  async function restartWholeSubnet (n: number, cycles: number): Promise<void> {
    const dir = await mkdtemp(join(tmpdir(), 'icnet-consensus-restart-'))
    const keys: SubnetKeys = dealSubnet(n)
    let bus = new InMemoryBus()
    const start = async (): Promise<TestNode[]> => await startOnStores(keys, n, bus, dir)
    let nodes = await start()
    const chains = nodes.map(() => new Map<number, string>())
    try {
      for (let c = 0; c < cycles; c++) {
        const target = Math.max(...nodes.map(x => x.consensus.finalizedHeight)) + 5
        await waitFor(() => nodes.every(x => x.consensus.deliveredHeight >= target), `${target} heights before restart ${c + 1}`, 30_000)
        await stopAndDrain(nodes)
        nodes.forEach((x, i) => { for (const [h, hash] of x.chain) chains[i]!.set(h, hash) })
        const stoppedAt = Math.max(...nodes.map(x => x.consensus.finalizedHeight))
        bus = new InMemoryBus()
        nodes = await start()
        await waitFor(() => nodes.every(x => x.consensus.finalizedHeight >= stoppedAt + 5), `progress after restart ${c + 1} (stopped at ${stoppedAt})`, 30_000)
      }
      nodes.forEach((x, i) => { for (const [h, hash] of x.chain) chains[i]!.set(h, hash) })
      assertSameChains(chains.map(chain => ({ chain }) as unknown as TestNode))
    } finally {
      await stopAndDrain(nodes)
      await rm(dir, { recursive: true, force: true })
    }
  }

  it('a one-node subnet makes progress again after each restart', async () => {
    await restartWholeSubnet(1, 5)
  })

  it('a four-node subnet with all four nodes restarted at once makes progress again', async () => {
    await restartWholeSubnet(4, 3)
  })
})

describe('consensus: heights reported after a restart', function () {
  this.timeout(60_000)

  it('the finalized and notarized height gauges start at the heights restored from the store, before any new finalization', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'icnet-consensus-gauges-'))
    const keys = dealSubnet(4)
    const bus = new InMemoryBus()
    const nodes: TestNode[] = []
    try {
      await startOnStores(keys, 4, bus, dir, nodes)
      await waitFor(() => nodes.every(x => x.consensus.deliveredHeight >= 5), '5 heights')
      await stopAndDrain(nodes)
      const stoppedAt = nodes[0]!.consensus.finalizedHeight
      // Alone (no quorum), so nothing new is finalized: the gauge can only come from the store.
      const metrics = new InMemoryMetrics()
      nodes.splice(0, 4, await startNode(keys, 0, new InMemoryBus().transport('node-0'), { store: new LmdbConsensusStore(join(dir, 'n0')), metrics }))
      assert.equal(metrics.get('icnet_consensus_finalized_height'), stoppedAt)
      assert.ok(metrics.get('icnet_consensus_notarized_height') >= stoppedAt)
    } finally {
      await stopAndDrain(nodes)
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('consensus store: own proposals kept with the signing record', () => {
  for (const kind of ['lmdb', 'memory'] as const) {
    it(`${kind}: a record keeps its proposals across reopening, later records of the height keep them, a CUP purges them`, async () => {
      const dir = await mkdtemp(join(tmpdir(), 'icnet-consensus-store-'))
      const memory = new MemoryConsensusStore()
      const open = (): ConsensusStore => kind === 'lmdb' ? new LmdbConsensusStore(join(dir, 'db')) : memory
      try {
        let store = open()
        const block = new Uint8Array([1, 2, 3, 4, 5])
        await store.putSigned(7, { notarized: [], proposed: true, proposals: [block, new Uint8Array(0)] })
        await store.putSigned(7, { notarized: ['ab'], finalized: 'ab', proposed: true, proposals: [block, new Uint8Array(0)] })
        await store.putSigned(8, { notarized: ['cd'] })
        if (kind === 'lmdb') { await store.close(); store = open() }
        const state = await store.load()
        assert.deepEqual(state.signed.get(7), { notarized: ['ab'], finalized: 'ab', proposed: true, proposals: [block, new Uint8Array(0)] })
        assert.deepEqual(state.signed.get(8), { notarized: ['cd'] })
        await store.putCup(8, new Uint8Array([9]))
        const after = await store.load()
        assert.equal(after.signed.has(7), false)
        assert.deepEqual(after.signed.get(8), { notarized: ['cd'] })
        await store.close()
      } finally {
        await rm(dir, { recursive: true, force: true })
      }
    })
  }
})
