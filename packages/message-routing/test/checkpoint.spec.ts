import assert from 'node:assert/strict'
import { cp, mkdir, readdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { FsCheckpointStore, bundleManifest, computeManifest } from '@icnet/state-sync'
import { toHex } from '@icnet/types'
import { listCheckpointHeights } from '../src/index.js'
import { Network, canisterOf, tempDir } from './harness.js'

describe('checkpoints', function () {
  this.timeout(120_000)

  it('checkpoint, reopen and replay give the same root as never stopping', async () => {
    const net = await Network.create({ subnets: 2, sandbox: 'wasm', checkpointInterval: 5 })
    const copy = await tempDir()
    try {
      await net.installLoad()
      net.configure(0, 0, 6, [canisterOf(1, 0)])
      net.configure(1, 0, 4, [canisterOf(0, 0)])
      await net.rounds(17)
      const node = net.nodes[0]!
      // The newest two checkpoints are kept.
      assert.deepEqual(await listCheckpointHeights(node.dataDir), [10, 15])
      // A node that stopped after height 17 and restarts: a crash mid-write leaves a temporary directory behind.
      await cp(node.dataDir, copy, { recursive: true })
      await mkdir(join(copy, 'tmp', 'partial'), { recursive: true })
      await writeFile(join(copy, 'tmp', 'partial', 'system_metadata.cbor'), new Uint8Array([1, 2, 3]))
      const restarted = await net.openNode(0, copy)
      try {
        assert.equal(restarted.mr.height, 15, 'opens at the latest checkpoint')
        assert.equal(toHex(restarted.mr.stateRoot), toHex(net.roots[0]![14]!))
        assert.deepEqual(await readdir(join(copy, 'tmp')).catch(() => []), [], 'temporary directories are cleared')
        for (const batch of net.batches[0]!.slice(15)) await restarted.mr.executeBatch(batch)
        assert.equal(restarted.mr.height, 17)
        assert.equal(toHex(restarted.mr.stateRoot), toHex(net.roots[0]![16]!))
        // ...and it keeps going in lockstep with the node that never stopped.
        net.nodes[0] = restarted
        await net.rounds(3)
        assert.equal(toHex(restarted.mr.stateRoot), toHex(net.roots[0]![19]!))
        await node.mr.executeBatch(net.batches[0]![17]!).then(r => { assert.equal(toHex(r.stateRoot), toHex(net.roots[0]![17]!)) })
      } finally {
        net.nodes.push(node)
      }
    } finally {
      await net.close()
      await rm(copy, { recursive: true, force: true })
    }
  })

  it('the incremental manifest equals a full recomputation, and state sync can serve the directory', async () => {
    const net = await Network.create({ subnets: 2, sandbox: 'wasm', checkpointInterval: 3 })
    try {
      await net.installLoad()
      net.configure(0, 0, 5, [canisterOf(1, 0)])
      await net.rounds(9)
      const node = net.nodes[0]!
      for (const h of [6, 9]) {
        const full = bundleManifest(await computeManifest(join(node.dataDir, 'checkpoints', String(h).padStart(20, '0'))))
        assert.equal(toHex(full.stateHash), toHex(net.checkpoints[0]!.get(h)!), `checkpoint ${h}`)
      }
      assert.notEqual(toHex(net.checkpoints[0]!.get(6)!), toHex(net.checkpoints[0]!.get(9)!))
      const store = await FsCheckpointStore.open(node.dataDir)
      assert.deepEqual(store.list().map(c => [Number(c.height), toHex(c.stateHash)]), [[9, toHex(net.checkpoints[0]!.get(9)!)], [6, toHex(net.checkpoints[0]!.get(6)!)]])
    } finally {
      await net.close()
    }
  })
})
