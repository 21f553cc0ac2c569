import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Libp2p } from '@libp2p/interface'
import { chunkHash } from '@icnet/state-sync'
import { connectAll, createTestNode, stopAll } from '@icnet/test-utils'
import { receiveChunks, sendChunks, VERIFIED_COPY_PROTOCOL } from '@icnet/bench/dist/_verified-copy.js'
import type { CopyChunk, CopyParts } from '@icnet/bench/dist/_verified-copy.js'

const CHUNK = 64 * 1024

/**
 * The verified copy is the bound `bench state-sync` holds the sync against, so it must
 * really do the work it stands for: every byte arrives in the right file at the right
 * offset, and a chunk that does not hash to its entry stops it.
 */
describe('bench: the verified copy (read, hash, write over one raw stream)', function () {
  this.timeout(60_000)
  let dir: string
  let nodes: Libp2p[] = []
  const files = [
    { path: 'a/one.bin', size: 3 * CHUNK + 1234 },
    { path: 'a/two.bin', size: 17 },
    { path: 'b/three.bin', size: 2 * CHUNK }
  ]

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'icnet-verified-copy-'))
    for (const f of files) {
      await mkdir(join(dir, 'from', f.path, '..'), { recursive: true })
      await writeFile(join(dir, 'from', f.path), randomBytes(f.size))
    }
  })
  afterEach(async () => {
    await stopAll(nodes)
    nodes = []
    await rm(dir, { recursive: true, force: true })
  })

  async function chunksOf (root: string, withHashes: boolean): Promise<CopyChunk[]> {
    const out: CopyChunk[] = []
    for (const f of files) {
      const bytes = await readFile(join(dir, 'from', f.path))
      for (let offset = 0; offset < f.size; offset += CHUNK) {
        const size = Math.min(CHUNK, f.size - offset)
        const hash = chunkHash(bytes.subarray(offset, offset + size))
        out.push({ path: join(root, f.path), offset, size, ...(withHashes ? { hash } : {}) })
      }
    }
    return out
  }

  /** Runs the copy between two nodes on loopback: when the last write finished, or why the reader stopped. */
  async function copy (target: CopyChunk[], parts?: CopyParts): Promise<{ finished?: number, error?: Error }> {
    const writer = await createTestNode()
    const reader = await createTestNode()
    nodes = [writer, reader]
    const { done } = await receiveChunks(reader, target, parts)
    const outcome = done.then(finished => ({ finished }), (error: Error) => ({ error }))
    await connectAll([writer, reader])
    const stream = await writer.dialProtocol(reader.getMultiaddrs()[0]!, VERIFIED_COPY_PROTOCOL)
    // A reader that stops resets the stream, so the writer may fail too: the reader's outcome is what counts.
    await sendChunks(stream, await chunksOf(join(dir, 'from'), false), parts).catch(() => {})
    await stream.close().catch(() => {})
    return await outcome
  }

  it('writes every chunk of every file where it belongs', async () => {
    const target = await chunksOf(join(dir, 'to'), true)
    const { finished, error } = await copy(target)
    assert.equal(error, undefined)
    assert.ok(finished !== undefined && finished > 0)
    for (const f of files) {
      assert.deepEqual(await readFile(join(dir, 'to', f.path)), await readFile(join(dir, 'from', f.path)), f.path)
    }
  })

  it('writes whole blocks with O_DIRECT (page cache where the file system has none) and the tails through the page cache', async () => {
    const target = await chunksOf(join(dir, 'to'), true)
    const { error } = await copy(target, { read: true, hash: true, write: true, direct: true })
    assert.equal(error, undefined)
    for (const f of files) {
      assert.deepEqual(await readFile(join(dir, 'to', f.path)), await readFile(join(dir, 'from', f.path)), f.path)
    }
  })

  it('stops at a chunk that does not hash to its entry', async () => {
    const target = await chunksOf(join(dir, 'to'), true)
    target[4] = { ...target[4]!, hash: new Uint8Array(32) }
    const { finished, error } = await copy(target)
    assert.equal(finished, undefined)
    assert.match(error?.message ?? '', /chunk 4 does not hash to its entry/)
  })
})
