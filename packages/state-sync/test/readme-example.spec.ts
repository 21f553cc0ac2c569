import '@icnet/types/polyfill'
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { dealThresholdKeys } from '@icnet/crypto'
import { connectAll, createTestNode, stopAll } from '@icnet/test-utils'
import { FsCheckpointStore, signCatchUpPackage, stateSync } from '../src/index.js'

describe('README example', () => {
  it('serves a checkpoint from one node and syncs it on another', async () => {
    const root = await mkdtemp(join(tmpdir(), 'icnet-readme-'))
    // A subnet key (normally from the registry) and two stores.
    const keys = dealThresholdKeys({ n: 4, t: 3 })
    const seedStore = await FsCheckpointStore.open(join(root, 'seed'))
    await mkdir(seedStore.checkpointDir(100n), { recursive: true })
    await writeFile(join(seedStore.checkpointDir(100n), 'state.bin'), new Uint8Array(3 * 1024 * 1024).fill(7))
    const info = await seedStore.addCheckpoint(100n)
    const cup = signCatchUpPackage(info.height, info.stateHash, keys.shares, 3)

    const seeder = await createTestNode({ services: { stateSync: stateSync({ store: seedStore }) } })
    const joinStore = await FsCheckpointStore.open(join(root, 'joiner'))
    const joiner = await createTestNode({ services: { stateSync: stateSync({ store: joinStore }) } })
    await connectAll([joiner, seeder])

    const result = await joiner.services.stateSync.sync({
      cup,
      key: { publicKey: keys.publicKey },
      onDownloader: d => d.on('progress', e => { void e.detail.bytesDone })
    })
    assert.equal(result.chunksTotal, 3)
    assert.equal(result.chunksFetched, 1) // three identical 1 MiB chunks: fetched once, copied twice
    await stopAll([seeder, joiner])
    await seedStore.close() // stores keep checkpoint files open for serving
    await joinStore.close()
    await rm(root, { recursive: true, force: true })
  })
})
