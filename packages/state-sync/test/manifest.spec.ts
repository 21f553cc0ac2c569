import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { open, rm } from 'node:fs/promises'
import { join } from 'node:path'
import fc from 'fast-check'
import { toHex } from '@icnet/types'
import {
  bundleManifest, chunkHash, computeManifest, decodeManifest, encodeManifest, fileHash, FsCheckpointStore,
  InvalidManifestError, manifestFromSubManifests, metaManifestHash, stateHashOf, updateManifest
} from '../src/index.js'
import type { DirtyFile } from '../src/index.js'
import { readTree, removeDirs, tempDir, TEST_CHUNK, writeTree } from './helpers.js'

const CS = 1024 // tiny chunks: many chunks from a few KiB

describe('manifest', () => {
  const dirs: string[] = []
  after(async () => { await removeDirs(dirs) })

  it('hashes chunks, files and the meta-manifest with the IC domain separators', () => {
    const bytes = Buffer.from('hello')
    const expectChunk = createHash('sha256').update(Buffer.concat([Buffer.from([14]), Buffer.from('ic-state-chunk'), bytes])).digest()
    assert.deepEqual(chunkHash(bytes), new Uint8Array(expectChunk))
    const entry = Buffer.alloc(4 + 8)
    entry.writeUInt32BE(5, 0)
    entry.writeBigUInt64BE(0n, 4)
    const expectFile = createHash('sha256').update(Buffer.concat([Buffer.from([13]), Buffer.from('ic-state-file'), Buffer.from([0, 0, 0, 1]), entry, expectChunk])).digest()
    assert.deepEqual(fileHash([{ sizeBytes: 5, offset: 0, hash: expectChunk }]), new Uint8Array(expectFile))
    const sub = new Uint8Array(32).fill(7)
    const expectState = createHash('sha256').update(Buffer.concat([Buffer.from([22]), Buffer.from('ic-state-meta-manifest'), Buffer.from([0, 0, 0, 3, 0, 0, 0, 1]), sub])).digest()
    assert.deepEqual(metaManifestHash(3, [sub]), new Uint8Array(expectState))
  })

  it('builds file and chunk tables in path order and splits the encoding into sub-manifests', async () => {
    const dir = await tempDir(); dirs.push(dir)
    await writeTree(dir, { 'b/x.bin': randomBytes(CS * 3 + 5), 'a.bin': randomBytes(10), 'empty': new Uint8Array(0) })
    const m = await computeManifest(dir, { chunkSize: CS })
    assert.deepEqual(m.fileTable.map(f => f.relativePath), ['a.bin', 'b/x.bin', 'empty'])
    assert.deepEqual(m.chunkTable.map(c => [c.fileIndex, c.offset, c.sizeBytes]), [[0, 0, 10], [1, 0, CS], [1, CS, CS], [1, 2 * CS, CS], [1, 3 * CS, 5]])
    const bundle = bundleManifest(m, { subManifestSize: 64 })
    assert.ok(bundle.subManifests.length > 1)
    const again = manifestFromSubManifests(bundle.meta, bundle.subManifests, bundle.stateHash)
    assert.deepEqual(again.manifest, m)
    // A different split is a different (but equally valid) state hash: the split size is part of the format.
    assert.notDeepEqual(bundleManifest(m).stateHash, bundle.stateHash)
  })

  it('refuses manifests that escape the directory, lie about file hashes, or do not match the state hash', async () => {
    const dir = await tempDir(); dirs.push(dir)
    await writeTree(dir, { 'f.bin': randomBytes(CS * 2) })
    const m = await computeManifest(dir, { chunkSize: CS })
    assert.throws(() => decodeManifest(encodeManifest({ ...m, fileTable: [{ ...m.fileTable[0]!, relativePath: '../etc/passwd' }] })), InvalidManifestError)
    const lying = { ...m, chunkTable: m.chunkTable.map((c, i) => i === 1 ? { ...c, hash: new Uint8Array(32) } : c) }
    assert.throws(() => decodeManifest(encodeManifest(lying)), InvalidManifestError)
    const bundle = bundleManifest(m)
    const tampered = Uint8Array.from(bundle.subManifests[0]!)
    tampered[tampered.length - 1] ^= 1
    assert.throws(() => manifestFromSubManifests(bundle.meta, [tampered], bundle.stateHash), InvalidManifestError)
    assert.throws(() => manifestFromSubManifests(bundle.meta, bundle.subManifests, new Uint8Array(32)), InvalidManifestError)
  })

  it('property: incremental recomputation from dirty chunks equals a full recomputation', async () => {
    const op = fc.record({
      file: fc.integer({ min: 0, max: 3 }),
      kind: fc.constantFrom('write', 'append', 'truncate', 'delete'),
      at: fc.nat({ max: 6 * CS }),
      len: fc.integer({ min: 1, max: 2 * CS })
    })
    await fc.assert(fc.asyncProperty(fc.array(fc.nat({ max: 5 * CS }), { minLength: 4, maxLength: 4 }), fc.array(op, { maxLength: 8 }), async (sizes, ops) => {
      const dir = await tempDir()
      try {
        await writeTree(dir, Object.fromEntries(sizes.map((s, i) => [`d${i % 2}/f${i}`, randomBytes(s)])))
        const before = await computeManifest(dir, { chunkSize: CS })
        const dirty: DirtyFile[] = []
        for (const o of ops) {
          const rel = `d${o.file % 2}/f${o.file}`
          const path = join(dir, `d${o.file % 2}`, `f${o.file}`)
          if (o.kind === 'delete') { await rm(path, { force: true }); dirty.push({ path: rel }); continue }
          const fh = await open(path, 'a+').then(async h => { await h.close(); return await open(path, 'r+') })
          try {
            const size = (await fh.stat()).size
            if (o.kind === 'truncate') {
              await fh.truncate(Math.min(size, o.at))
              dirty.push({ path: rel, dirtyChunks: [] })
            } else {
              const at = o.kind === 'append' ? size : Math.min(size, o.at)
              await fh.write(randomBytes(o.len), 0, o.len, at)
              const first = Math.floor(at / CS)
              const last = Math.floor((at + o.len - 1) / CS)
              dirty.push({ path: rel, dirtyChunks: Array.from({ length: last - first + 1 }, (_, k) => first + k) })
            }
          } finally { await fh.close() }
        }
        const incremental = await updateManifest(dir, before, dirty, { chunkSize: CS })
        const full = await computeManifest(dir, { chunkSize: CS })
        assert.deepEqual(incremental, full)
      } finally { await rm(dir, { recursive: true, force: true }) }
    }), { numRuns: 25 })
  })

  it('property: the state hash does not depend on the order chunks arrive in', async () => {
    const src = await tempDir(); dirs.push(src)
    await writeTree(src, { 'a.bin': randomBytes(TEST_CHUNK * 5 + 3), 'b/c.bin': randomBytes(TEST_CHUNK * 2), 'z': randomBytes(9) })
    const manifest = await computeManifest(src, { chunkSize: TEST_CHUNK })
    const bundle = bundleManifest(manifest)
    const expected = await readTree(src)
    let round = 0
    await fc.assert(fc.asyncProperty(fc.shuffledSubarray(manifest.chunkTable.map((_, i) => i), { minLength: manifest.chunkTable.length }), async (order) => {
      const root = await tempDir()
      try {
        const store = await FsCheckpointStore.open(root, { chunkSize: TEST_CHUNK })
        const info = { height: BigInt(++round), stateHash: bundle.stateHash }
        const pending = await store.openPending(info, bundle)
        for (const i of order) {
          const c = manifest.chunkTable[i]!
          const file = expected[manifest.fileTable[c.fileIndex]!.relativePath]!
          await pending.writeChunk(i, file.subarray(c.offset, c.offset + c.sizeBytes))
        }
        await pending.install()
        const installed = store.checkpointDir(info.height)
        assert.equal(toHex(stateHashOf(await computeManifest(installed, { chunkSize: TEST_CHUNK }))), toHex(bundle.stateHash))
        assert.deepEqual(await readTree(installed), expected)
      } finally { await rm(root, { recursive: true, force: true }) }
    }), { numRuns: 10 })
  })
})
