import '@icnet/types/polyfill'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { BlockKind, Downloader, FsCheckpointStore, chunkHash, stateSync, type CheckpointInfo, type StateSyncService } from '@icnet/state-sync'
import { connectAll, createTestNode, stopAll, waitFor } from '@icnet/test-utils'
import { equalBytes } from '@icnet/types'
import { LyingCheckpointStore, MAX_STALLED_READS, PromMetrics, createLog, syncCheckpoint } from '../src/index.js'
import type { Libp2p } from '@libp2p/interface'

const CHUNK = 64 * 1024

/** A store with one checkpoint at `height` of `bytes` random bytes (CHUNK-sized chunks). */
async function seeded (root: string, height: bigint, data: Uint8Array): Promise<{ store: FsCheckpointStore, info: CheckpointInfo }> {
  const store = await FsCheckpointStore.open(root, { chunkSize: CHUNK })
  await mkdir(store.checkpointDir(height), { recursive: true })
  await writeFile(join(store.checkpointDir(height), 'state.bin'), data)
  return { store, info: await store.addCheckpoint(height) }
}

type Node = Libp2p<{ stateSync: StateSyncService }>

describe('faults: lying state-sync server', function () {
  this.timeout(60_000)
  let dir: string
  let honest: FsCheckpointStore, copy: FsCheckpointStore
  let info: CheckpointInfo
  const stores: FsCheckpointStore[] = []

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'icnet-faults-ss-'))
    const data = randomBytes(16 * CHUNK)
    ;({ store: honest, info } = await seeded(join(dir, 'honest'), 10n, data))
    ;({ store: copy } = await seeded(join(dir, 'liar'), 10n, data))
    stores.push(honest, copy)
  })
  after(async () => {
    for (const s of stores) await s.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('corrupt: every block it serves fails its hash (same length), the listing stays true', async () => {
    const liar = new LyingCheckpointStore(copy, 'corrupt')
    assert.deepEqual(liar.list(), copy.list())
    const bundle = liar.getManifest(info.stateHash)!
    for (const c of bundle.manifest.chunkTable.slice(0, 4)) {
      assert.ok(liar.hasChunk(c.hash))
      const good = (await copy.readBlock(BlockKind.CHUNK, c.hash))!
      const bad = (await liar.readBlock(BlockKind.CHUNK, c.hash))!
      assert.ok(equalBytes(chunkHash(good), c.hash))
      assert.equal(bad.length, good.length)
      assert.ok(!equalBytes(chunkHash(bad), c.hash))
    }
    const meta = (await liar.readBlock(BlockKind.META_MANIFEST, info.stateHash))!
    assert.ok(!equalBytes(meta, bundle.metaBytes))
    assert.equal(await liar.readBlock(BlockKind.CHUNK, new Uint8Array(32)), undefined, 'a block it lacks is answered honestly')
  })

  it('stall: reads never resolve, but at most MAX_STALLED_READS are held (the oldest are let go as "don\'t have")', async () => {
    const liar = new LyingCheckpointStore(copy, 'stall')
    const hash = liar.getManifest(info.stateHash)!.manifest.chunkTable[0]!.hash
    const settled: Array<Uint8Array | undefined> = []
    const reads = Array.from({ length: MAX_STALLED_READS + 10 }, () => liar.readBlock(BlockKind.CHUNK, hash).then(v => { settled.push(v) }))
    while (liar.stalledReads + settled.length < reads.length) await new Promise(resolve => setImmediate(resolve))
    assert.equal(liar.stalledReads, MAX_STALLED_READS)
    assert.equal(settled.length, 10)
    assert.ok(settled.every(v => v === undefined))
    liar.release()
    await Promise.all(reads)
    assert.equal(liar.stalledReads, 0)
  })

  describe('a sync from a liar and an honest peer', () => {
    let nodes: Node[] = []
    afterEach(async () => { await stopAll(nodes); nodes = [] })

    async function network (mode: 'corrupt' | 'stall', root: string): Promise<{ joiner: Node, joinStore: FsCheckpointStore, liar: Node, liarStore: LyingCheckpointStore, metrics: PromMetrics }> {
      const liarStore = new LyingCheckpointStore(copy, mode)
      const liar = await createTestNode({ services: { stateSync: stateSync({ store: liarStore }) } }) as unknown as Node
      const seeder = await createTestNode({ services: { stateSync: stateSync({ store: honest }) } }) as unknown as Node
      const joinStore = await FsCheckpointStore.open(join(dir, root), { chunkSize: CHUNK })
      stores.push(joinStore)
      const metrics = new PromMetrics({ processMetrics: false })
      const joiner = await createTestNode({ services: { stateSync: stateSync({ store: joinStore, metrics }) } }) as unknown as Node
      nodes = [joiner, liar, seeder]
      await connectAll([joiner, liar, seeder])
      return { joiner, joinStore, liar, liarStore, metrics }
    }

    it('corrupt: the replica\'s catch-up installs the true checkpoint, evicts the liar (metric and log line) and fetches everything from the honest peer', async () => {
      const { joiner, joinStore, liar, metrics } = await network('corrupt', 'joiner-corrupt')
      const lines: string[] = []
      const log = createLog({ level: 'info', write: l => { lines.push(l) } })
      const r = await syncCheckpoint({ service: joiner.services.stateSync, store: joinStore, target: () => ({ height: 10, stateHash: info.stateHash }), signal: AbortSignal.timeout(50_000), log })
      assert.equal(r.height, 10)
      assert.equal(r.peers, 2)
      assert.ok(joinStore.getManifest(info.stateHash) !== undefined)
      const text = (await metrics.exposition()).body
      assert.match(text, /icnet_state_sync_evictions_total\{reason="bad_block"\} 1\b/)
      const evicted = lines.map(l => JSON.parse(l) as { msg: string, peer?: string, reason?: string }).filter(l => l.msg === 'state sync evicted a peer')
      assert.deepEqual(evicted.map(l => [l.peer, l.reason]), [[liar.peerId.toString(), 'bad_block']])
    })

    it('a peer evicted in one attempt is left out of the next: the retry fetches from the honest peer alone', async () => {
      const { joiner, joinStore, liar } = await network('corrupt', 'joiner-retry')
      const seeder = nodes[2]!
      // Only the liar at first: the first attempt fails once it is evicted.
      await joiner.hangUp(seeder.peerId)
      const lines: string[] = []
      const log = createLog({ level: 'info', write: l => { lines.push(l) } })
      const msgs = (): Array<{ msg: string, peers?: number, peer?: string }> => lines.map(l => JSON.parse(l) as { msg: string })
      const syncing = syncCheckpoint({ service: joiner.services.stateSync, store: joinStore, target: () => ({ height: 10, stateHash: info.stateHash }), signal: AbortSignal.timeout(50_000), log })
      await waitFor(() => msgs().some(m => m.msg === 'state sync attempt failed'), { timeoutMs: 30_000, what: 'the first attempt to fail' })
      await joiner.dial(seeder.getMultiaddrs())
      const r = await syncing
      assert.equal(r.peers, 1, 'the retry left the liar out')
      assert.ok(r.attempts >= 2)
      assert.deepEqual(msgs().filter(m => m.msg === 'state sync evicted a peer').map(m => m.peer), [liar.peerId.toString()])
    })

    it('stall: the sync completes from the honest peer and the staller is evicted as stalled', async () => {
      const { joiner, joinStore, liar, liarStore } = await network('stall', 'joiner-stall')
      const sessions = await Promise.all([liar, ...nodes.slice(2)].map(async n => await joiner.services.stateSync.openSession(n.peerId)))
      const evicted: Array<[string, string]> = []
      const d = new Downloader({ store: joinStore, target: info, sources: sessions, chunkTimeoutMs: 300 })
      d.on('evicted', e => { evicted.push([e.detail.peer, e.detail.reason]) })
      try {
        const r = await d.run()
        assert.equal(r.chunksTotal, 16)
        assert.ok(joinStore.getManifest(info.stateHash) !== undefined)
        // The staller was asked (it claims every block) and never answered: dropped for stalling, nothing came from it.
        assert.deepEqual(evicted, [[liar.peerId.toString(), 'stalled']])
        assert.equal(r.perPeer[liar.peerId.toString()]?.blocks ?? 0, 0)
        assert.ok(liarStore.stalledReads <= MAX_STALLED_READS)
      } finally {
        for (const s of sessions) s.close()
        liarStore.release()
      }
    })
  })
})
