import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
// README example, kept verbatim below the marker so the documentation cannot rot.
import { FileRegistryStore, RegistryWatcher, initTestnet, readNodeConfig } from '../src/index.js'

describe('README example', () => {
  it('runs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'icnet-readme-'))
    try {
      // --- README ---
      // Genesis: 2 subnets × 4 nodes, every key dealt, one private config per node.
      const layout = await initTestnet({ subnets: 2, nodesPerSubnet: 4, dir, basePort: 4100 })

      // Any process can now open the registry and follow new versions.
      const store = new FileRegistryStore(layout.registryDir)
      const registry = await store.latest()
      const root = registry.rootSubnetId()
      console.log('root subnet', root.toText(), 'nodes', registry.requireSubnet(root).nodes.length)

      const watcher = new RegistryWatcher(store, r => { console.log('registry version', r.version) }, { fromVersion: registry.version })
      await store.update(records => { records.subnets[1]!.params.unitDelayMs = 100 })
      await watcher.poll() // prints "registry version 2" (start() polls every second instead)

      // A node reads only its own config: its keys and addresses.
      const config = await readNodeConfig(layout.nodeConfigs[0]![0]!)
      console.log('node', config.nodeId, 'listens on', config.listenAddresses[0])
      // --- end README ---
      assert.equal(watcher.knownVersion, 2)
      assert.equal((await store.latest()).subnetIds().length, 2)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
