import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { constants as fsConstants, existsSync } from 'node:fs'
import { mkdtemp, open, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { bundleManifest, ChunkBufferPool, computeManifest, DSEP_CHUNK, FsCheckpointStore } from '../src/index.js'
import type { PendingCheckpoint } from '../src/index.js'
import { alignedRegions, DIRECT_IO_ALIGNMENT } from '../src/direct-io.js'
import { readTree, TEST_CHUNK, writeTree } from './helpers.js'

/**
 * What O_DIRECT does for files in `dir`: refused at open (older tmpfs, no O_DIRECT on the
 * platform), accepted with aligned buffers only (block devices), or accepted for any
 * buffer (tmpfs since Linux 6.6, whose "direct" I/O is its page cache anyway).
 */
async function directMode (dir: string): Promise<'none' | 'aligned' | 'any'> {
  if (fsConstants.O_DIRECT === undefined) return 'none'
  const probe = join(dir, '.direct-probe')
  try {
    const fh = await open(probe, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_DIRECT).catch(() => undefined)
    if (fh === undefined) return 'none'
    try {
      await fh.write(alignedRegions(1, 2 * DIRECT_IO_ALIGNMENT)[0]!.subarray(1), 0, DIRECT_IO_ALIGNMENT, 0)
      return 'any'
    } catch { return 'aligned' } finally { await fh.close() }
  } finally { await rm(probe, { force: true }) }
}

describe('O_DIRECT chunk writes', () => {
  it('pooled chunk buffers start on a block boundary with the separator right before them', () => {
    const pool = new ChunkBufferPool(3)
    for (let i = 0; i < 3; i++) {
      const view = pool.view(TEST_CHUNK)
      assert.equal(view.byteOffset % DIRECT_IO_ALIGNMENT, 0)
      assert.deepEqual(new Uint8Array(view.buffer, view.byteOffset - DSEP_CHUNK.length, DSEP_CHUNK.length), DSEP_CHUNK)
    }
    // Past `keep`, buffers are ordinary ones (written through the page cache); they still work.
    const extra = pool.view(5)
    extra.set([1, 2, 3, 4, 5])
    assert.deepEqual(extra, Uint8Array.of(1, 2, 3, 4, 5))
  })

  // The machine's temp directory, and tmpfs (no O_DIRECT) where there is one.
  const places = [tmpdir(), ...(existsSync('/dev/shm') ? ['/dev/shm'] : [])]
  for (const place of places) {
    for (const directWrites of [true, false]) {
      it(`directWrites ${directWrites}, ${place}: whole-block chunks go direct where O_DIRECT works, the rest through the cache, and the same bytes are installed`, async () => {
        const root = await mkdtemp(join(place, 'icnet-direct-'))
        try {
          const files = { 'a.bin': randomBytes(3 * TEST_CHUNK + 100), 'b/c.bin': randomBytes(2 * TEST_CHUNK) }
          await writeTree(join(root, 'source'), files)
          const manifest = await computeManifest(join(root, 'source'), { chunkSize: TEST_CHUNK })
          const bundle = bundleManifest(manifest)
          const store = await FsCheckpointStore.open(join(root, 'store'), { chunkSize: TEST_CHUNK, directWrites })
          try {
            const pending: PendingCheckpoint = await store.openPending({ height: 1n, stateHash: bundle.stateHash }, bundle)
            const pool = new ChunkBufferPool(8)
            // A view one byte into an aligned region can never be aligned itself.
            const misaligned = alignedRegions(1, TEST_CHUNK + 1)[0]!.subarray(1)
            let aligned = 0
            for (const [i, c] of manifest.chunkTable.entries()) {
              const bytes = files[manifest.fileTable[c.fileIndex]!.relativePath as keyof typeof files].subarray(c.offset, c.offset + c.sizeBytes)
              const target = i === 1 ? misaligned : pool.view(c.sizeBytes)
              target.set(bytes)
              if (i !== 1 && c.sizeBytes % DIRECT_IO_ALIGNMENT === 0) aligned++
              await pending.writeChunk(i, target)
            }
            const mode = directWrites ? await directMode(join(root, 'store')) : 'none'
            // Whole-block chunks go direct where O_DIRECT opens; the misaligned one too where any buffer is taken; tails never.
            const direct = mode === 'none' ? 0 : aligned + (mode === 'any' ? 1 : 0)
            assert.ok(aligned >= 3)
            assert.deepEqual(pending.writeCounts, { direct, cached: manifest.chunkTable.length - direct })
            await pending.install()
            assert.deepEqual(await readTree(store.checkpointDir(1n)), await readTree(join(root, 'source')))
          } finally { await store.close() }
        } finally { await rm(root, { recursive: true, force: true }) }
      })
    }
  }
})
