import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { open, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import fc from 'fast-check'
import { toHex } from '@icnet/types'
import { Downloader, FsCheckpointStore, type CheckpointInfo, type SyncResult } from '../src/index.js'
import { readTree, storeSource, storeWith, tempDir, TEST_CHUNK, writeTree } from './helpers.js'

/** A target derived from an old checkpoint: some chunks rewritten, files added, removed, resized, duplicated. */
const mutation = fc.record({
  rewrite: fc.array(fc.record({ file: fc.nat({ max: 2 }), chunk: fc.nat({ max: 6 }) }), { maxLength: 6 }),
  addFile: fc.boolean(),
  dropFile: fc.boolean(),
  growBy: fc.nat({ max: TEST_CHUNK * 2 }),
  duplicate: fc.boolean()
})

/** Writes `target` as checkpoint 2 of a seeder at `seedRoot`, syncs `local` to it, and checks that it got exactly those files. */
async function syncTarget (local: FsCheckpointStore, seedRoot: string, target: Record<string, Uint8Array>, stores: FsCheckpointStore[]): Promise<{ seeder: FsCheckpointStore, info: CheckpointInfo, result: SyncResult }> {
  const { store: seeder, info } = await storeWith(seedRoot, 2n, target)
  stores.push(seeder)
  const result = await new Downloader({ store: local, target: info, sources: [storeSource(seeder)] }).run()
  assert.deepEqual(await readTree(local.checkpointDir(2n)), await readTree(seeder.checkpointDir(2n)))
  return { seeder, info, result }
}

describe('diff against local data', () => {
  it('property: copied local chunks plus fetched chunks reproduce the target exactly, fetching only what is new', async () => {
    await fc.assert(fc.asyncProperty(fc.array(fc.nat({ max: TEST_CHUNK * 6 }), { minLength: 3, maxLength: 3 }), mutation, async (sizes, mut) => {
      const [oldRoot, seedRoot] = [await tempDir(), await tempDir()]
      const stores: FsCheckpointStore[] = []
      try {
        // Each checkpoint records its height, as a replica's state does: two heights never share a
        // state hash (the store identifies checkpoints by it), even when the mutation changes nothing.
        const old: Record<string, Uint8Array> = { ...Object.fromEntries(sizes.map((s, i) => [`f${i}`, randomBytes(s)])), height: Uint8Array.of(1) }
        const target: Record<string, Uint8Array> = Object.fromEntries(Object.entries(old).map(([k, v]) => [k, Uint8Array.from(v)]))
        target.height = Uint8Array.of(2)
        for (const r of mut.rewrite) {
          const f = target[`f${r.file}`]!
          const at = r.chunk * TEST_CHUNK
          if (at < f.length) f.set(randomBytes(Math.min(100, f.length - at)), at)
        }
        if (mut.growBy > 0) target.f0 = new Uint8Array([...target.f0!, ...randomBytes(mut.growBy)])
        if (mut.addFile) target['new/file.bin'] = randomBytes(TEST_CHUNK * 2 + 1)
        if (mut.dropFile) delete target.f2
        if (mut.duplicate) target['dup-of-f1'] = Uint8Array.from(target.f1!)

        const local = await FsCheckpointStore.open(oldRoot, { chunkSize: TEST_CHUNK })
        stores.push(local)
        await writeTree(local.checkpointDir(1n), old)
        await local.addCheckpoint(1n)
        const { seeder, info, result } = await syncTarget(local, seedRoot, target, stores)
        // Exactly the chunks whose content exists nowhere locally came over the wire, once per distinct hash.
        const oldHashes = new Set(local.getManifest(local.list().find(c => c.height === 1n)!.stateHash)!.manifest.chunkTable.map(c => toHex(c.hash)))
        const fresh = new Map<string, number>()
        for (const c of seeder.getManifest(info.stateHash)!.manifest.chunkTable) if (!oldHashes.has(toHex(c.hash))) fresh.set(toHex(c.hash), c.sizeBytes)
        assert.equal(result.bytesFetched, [...fresh.values()].reduce((a, b) => a + b, 0))
        assert.equal(result.chunksFetched, fresh.size)
        assert.equal(result.chunksFetched + result.chunksCopied, result.chunksTotal)
      } finally {
        for (const s of stores) await s.close()
        await rm(oldRoot, { recursive: true, force: true })
        await rm(seedRoot, { recursive: true, force: true })
      }
    }), { numRuns: 15 })
  })

  it('adopts an unchanged file by hard link after re-hashing it, and fetches a file whose local copy was damaged', async () => {
    const [oldRoot, seedRoot] = [await tempDir(), await tempDir()]
    const stores: FsCheckpointStore[] = []
    try {
      const old = { 'a/kept.bin': randomBytes(TEST_CHUNK * 3 + 7), 'b/damaged.bin': randomBytes(TEST_CHUNK * 2), 'c/changed.bin': randomBytes(TEST_CHUNK * 2) }
      const target = { ...old, 'c/changed.bin': Uint8Array.from(old['c/changed.bin']) }
      target['c/changed.bin'][TEST_CHUNK + 1]! ^= 1
      const local = await FsCheckpointStore.open(oldRoot, { chunkSize: TEST_CHUNK })
      stores.push(local)
      await writeTree(local.checkpointDir(1n), old)
      await local.addCheckpoint(1n)
      // The disk lost a byte of an installed file after its manifest was written.
      const fh = await open(join(local.checkpointDir(1n), 'b', 'damaged.bin'), 'r+')
      await fh.write(Uint8Array.of(old['b/damaged.bin'][0]! ^ 0xff), 0, 1, 0)
      await fh.close()
      const { result } = await syncTarget(local, seedRoot, target, stores)
      const inode = async (h: bigint, p: string): Promise<number> => (await stat(join(local.checkpointDir(h), ...p.split('/')))).ino
      assert.equal(await inode(2n, 'a/kept.bin'), await inode(1n, 'a/kept.bin'))
      assert.notEqual(await inode(2n, 'b/damaged.bin'), await inode(1n, 'b/damaged.bin'))
      assert.notEqual(await inode(2n, 'c/changed.bin'), await inode(1n, 'c/changed.bin'))
      // The damaged chunk and the changed chunk travel; everything else is local.
      assert.equal(result.chunksFetched, 2)
      assert.equal(result.bytesFetched, 2 * TEST_CHUNK)
      assert.equal(result.chunksCopied, result.chunksTotal - 2)
    } finally {
      for (const s of stores) await s.close()
      await rm(oldRoot, { recursive: true, force: true })
      await rm(seedRoot, { recursive: true, force: true })
    }
  })
})
