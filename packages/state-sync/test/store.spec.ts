import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { toHex } from '@icnet/types'
import { BlockKind, computeManifest, FsCheckpointStore } from '../src/index.js'
import { TEST_CHUNK, sampleFiles, writeTree } from './helpers.js'

describe('FsCheckpointStore registration', () => {
  let root: string
  beforeEach(async () => { root = await mkdtemp(join(tmpdir(), 'icnet-ss-store-')) })
  afterEach(async () => { await rm(root, { recursive: true, force: true }) })

  it('registers a checkpoint from a given manifest, serves it at once and survives reopening', async () => {
    const store = await FsCheckpointStore.open(root, { chunkSize: TEST_CHUNK })
    await writeTree(store.checkpointDir(5n), sampleFiles(6 * TEST_CHUNK))
    const manifest = await computeManifest(store.checkpointDir(5n), { chunkSize: TEST_CHUNK })
    const info = await store.registerCheckpoint(5n, manifest)
    assert.deepEqual(store.list().map(c => c.height), [5n])
    const first = manifest.chunkTable[0]!
    assert.ok(store.hasChunk(first.hash))
    assert.equal((await store.readBlock(BlockKind.CHUNK, first.hash))?.length, first.sizeBytes)
    await store.close()

    const reopened = await FsCheckpointStore.open(root, { chunkSize: TEST_CHUNK })
    assert.equal(toHex(reopened.list()[0]!.stateHash), toHex(info.stateHash))
    await reopened.close()
  })

  it('removes a checkpoint, keeping chunks that another checkpoint shares', async () => {
    const store = await FsCheckpointStore.open(root, { chunkSize: TEST_CHUNK })
    const files = sampleFiles(6 * TEST_CHUNK)
    await writeTree(store.checkpointDir(1n), files)
    await store.addCheckpoint(1n)
    await writeTree(store.checkpointDir(2n), { ...files, 'extra.bin': new Uint8Array(TEST_CHUNK).fill(9) })
    const two = await store.addCheckpoint(2n)
    const extra = store.getManifest(two.stateHash)!.manifest
    const extraChunk = extra.chunkTable.find(c => extra.fileTable[c.fileIndex]!.relativePath === 'extra.bin')!
    const shared = extra.chunkTable.find(c => extra.fileTable[c.fileIndex]!.relativePath !== 'extra.bin' && c.sizeBytes > 0)!

    await store.removeCheckpoint(2n)
    assert.deepEqual(store.list().map(c => c.height), [1n])
    assert.equal(store.hasChunk(extraChunk.hash), false)
    assert.ok(store.hasChunk(shared.hash))
    assert.equal((await store.readBlock(BlockKind.CHUNK, shared.hash))?.length, shared.sizeBytes)
    await store.close()
  })
})
