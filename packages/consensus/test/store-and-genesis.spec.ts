import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FileRegistryStore, initTestnet, readNodeConfig } from '@icnet/registry'
import { Consensus, InMemoryBus, LmdbConsensusStore, committeeFromRegistry, paramsFromRegistry, signerFromConfig } from '../src/index.js'
import { assertSameChains, startConsumer, waitFor, type TestNode } from './helpers.js'

describe('lmdb consensus store', () => {
  it('keeps finalized heights, signing records and the delivered height; purges below a CUP', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'icnet-lmdb-'))
    try {
      let store = new LmdbConsensusStore(join(dir, 'db'))
      for (let h = 1; h <= 10; h++) await store.putFinalized({ height: h, proposal: Uint8Array.of(h), beacon: Uint8Array.of(h, h), ...(h === 10 ? { finalization: Uint8Array.of(9) } : {}) })
      await store.putSigned(11, { notarized: ['ab'], finalized: 'ab', proposed: true })
      await store.putDelivered(7)
      await store.close()
      store = new LmdbConsensusStore(join(dir, 'db'))
      const state = await store.load()
      assert.equal(state.top?.height, 10)
      assert.deepEqual(state.top?.finalization, Uint8Array.of(9))
      assert.deepEqual(state.signed.get(11), { notarized: ['ab'], finalized: 'ab', proposed: true })
      assert.equal(state.delivered, 7)
      await store.putCup(5, Uint8Array.of(1, 2, 3))
      assert.equal(await store.getFinalized(4), undefined)
      assert.deepEqual((await store.getFinalized(5))?.beacon, Uint8Array.of(5, 5))
      assert.deepEqual((await store.load()).cup, Uint8Array.of(1, 2, 3))
      await store.close()
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('consensus from testnet genesis files', function () {
  this.timeout(60_000)

  it('nodes built from the registry and their private configs agree', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'icnet-genesis-consensus-'))
    try {
      const layout = await initTestnet({ subnets: 1, nodesPerSubnet: 4, dir, params: { unitDelayMs: 30 } })
      const registry = await new FileRegistryStore(layout.registryDir).latest()
      const subnetId = registry.rootSubnetId()
      const bus = new InMemoryBus()
      const nodes: TestNode[] = []
      for (const path of layout.nodeConfigs[0]!) {
        const config = await readNodeConfig(path)
        const consensus = new Consensus({
          committee: committeeFromRegistry(registry, subnetId),
          signer: signerFromConfig(registry, config),
          params: paramsFromRegistry(registry, subnetId),
          transport: bus.transport(config.nodeId),
          store: new LmdbConsensusStore(join(config.dataDir, 'consensus'))
        })
        await consensus.start()
        const chain = new Map<number, string>()
        const batches: TestNode['batches'] = []
        nodes.push({ consensus, chain, batches, consumer: startConsumer(consensus, chain, batches) })
      }
      try {
        await waitFor(() => nodes.every(n => n.chain.size >= 10), '10 heights')
        assert.ok(assertSameChains(nodes) >= 10)
      } finally {
        await Promise.all(nodes.map(async n => { await n.consensus.stop() }))
      }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
