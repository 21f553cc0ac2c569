import '@icnet/types/polyfill'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { createTestNode, connectAll, stopAll, waitFor } from '@icnet/test-utils'
import { InMemoryMetrics, toHex } from '@icnet/types'
import type { Libp2p, PeerId } from '@libp2p/interface'
import {
  BAN_SCORE, FsCheckpointStore, InvalidCatchUpPackageError, NoPeersError, stateSync, SyncAbortedError
} from '../src/index.js'
import type { CheckpointInfo, StateSyncService } from '../src/index.js'
import {
  copyCheckpoint, misbehavingSeeder, readTree, removeDirs, sampleFiles, signedCup, storeWith, subnetPublicKey, tempDir, TEST_CHUNK, writeTree
} from './helpers.js'
import type { Misbehaviour } from './helpers.js'

type SyncNode = Libp2p<{ stateSync: StateSyncService }>
const SIZE = 2 * 1024 * 1024

describe('state sync over libp2p (loopback TCP)', function () {
  this.timeout(90_000)
  const dirs: string[] = []
  let nodes: Libp2p[] = []
  const stores = new Set<FsCheckpointStore>()
  let source: { root: string, store: FsCheckpointStore, info: CheckpointInfo, files: Record<string, Uint8Array> }

  before(async () => {
    const root = await tempDir(); dirs.push(root)
    const files = sampleFiles(SIZE)
    source = { root, files, ...await storeWith(root, 10n, files) }
  })
  afterEach(async () => { await stopAll(nodes); nodes = [] })
  after(async () => {
    for (const s of stores) await s.close()
    await removeDirs(dirs)
  })

  async function seederNode (store = source.store, metrics?: InMemoryMetrics, isAllowedPeer?: (peer: PeerId) => boolean): Promise<SyncNode> {
    stores.add(store)
    const n = await createTestNode({ services: { stateSync: stateSync({ store, metrics, isAllowedPeer }) } }) as unknown as SyncNode
    nodes.push(n)
    return n
  }

  async function seederCopy (from = source.store, height = 10n): Promise<{ node: SyncNode, metrics: InMemoryMetrics }> {
    const root = await tempDir(); dirs.push(root)
    const store = await FsCheckpointStore.open(root, { chunkSize: TEST_CHUNK })
    await copyCheckpoint(from, height, store, height)
    await store.addCheckpoint(height)
    const metrics = new InMemoryMetrics()
    return { node: await seederNode(store, metrics), metrics }
  }

  async function badNode (mode: Misbehaviour, decoy?: CheckpointInfo, store = source.store): Promise<Libp2p<{ bad: { blocksSent: number } }>> {
    const n = await createTestNode({ services: { bad: misbehavingSeeder(store, mode, decoy) } }) as unknown as Libp2p<{ bad: { blocksSent: number } }>
    nodes.push(n)
    return n
  }

  async function freshNode (): Promise<{ node: SyncNode, store: FsCheckpointStore, root: string, metrics: InMemoryMetrics }> {
    const root = await tempDir(); dirs.push(root)
    const store = await FsCheckpointStore.open(root, { chunkSize: TEST_CHUNK })
    const metrics = new InMemoryMetrics()
    const node = await seederNode(store, metrics)
    return { node, store, root, metrics }
  }

  async function assertInstalled (store: FsCheckpointStore, height = 10n, files = source.files): Promise<void> {
    const tree = await readTree(store.checkpointDir(height))
    assert.deepEqual(Object.keys(tree).sort(), Object.keys(files).sort())
    for (const [k, v] of Object.entries(files)) assert.ok(Buffer.from(v).equals(tree[k]!), `${k} differs`)
  }

  it('syncs a checkpoint from one seeder and serves it afterwards', async () => {
    const seeder = await seederNode()
    const client = await freshNode()
    await connectAll([client.node, seeder])
    const progress: number[] = []
    const result = await client.node.services.stateSync.sync({
      cup: signedCup(source.info),
      key: { publicKey: subnetPublicKey },
      onDownloader: d => { d.on('progress', e => progress.push(e.detail.chunksDone)) }
    })
    await assertInstalled(client.store)
    assert.equal(result.chunksFetched + result.chunksCopied, result.chunksTotal)
    assert.ok(result.chunksCopied >= 1, 'the duplicated chunks of identical content are copied, not fetched')
    assert.equal(progress.at(-1), result.chunksTotal)
    assert.deepEqual(client.store.list().map(c => toHex(c.stateHash)), [toHex(source.info.stateHash)])
    assert.equal(client.metrics.get('icnet_state_sync_chunks_total', { source: 'fetched', outcome: 'ok' }), result.chunksFetched)
    assert.deepEqual(await readdir(join(client.root, 'scratch')), [], 'scratch area cleaned up')
  })

  it('serves only the peers its host allows, and refuses the others before reading a want', async () => {
    const allowed = await freshNode()
    const outsider = await freshNode()
    const metrics = new InMemoryMetrics()
    const seeder = await seederNode(source.store, metrics, peer => peer.equals(allowed.node.peerId))
    await connectAll([seeder, allowed.node, outsider.node])
    await assert.rejects(outsider.node.services.stateSync.sync({ cup: signedCup(source.info), key: { publicKey: subnetPublicKey }, peers: [seeder.peerId], chunkTimeoutMs: 2_000 }))
    assert.equal(outsider.store.list().length, 0, 'the outsider installed nothing')
    assert.equal(metrics.get('icnet_state_sync_served_total', { kind: 'CHUNK', outcome: 'block' }), 0, 'no block went to the outsider')
    assert.ok(metrics.get('icnet_state_sync_violations_total', { reason: 'not_allowed' }) >= 1)
    assert.deepEqual(await outsider.node.services.stateSync.peersServing(source.info.stateHash), [], 'the outsider does not even learn what it serves')
    await allowed.node.services.stateSync.sync({ cup: signedCup(source.info), key: { publicKey: subnetPublicKey }, peers: [seeder.peerId] })
    await assertInstalled(allowed.store)
  })

  it('shares the work between three seeders', async () => {
    const seeders = await Promise.all([seederCopy(), seederCopy(), seederCopy()])
    const client = await freshNode()
    await connectAll([client.node, ...seeders.map(s => s.node)])
    const result = await client.node.services.stateSync.sync({ cup: signedCup(source.info), key: { publicKey: subnetPublicKey } })
    await assertInstalled(client.store)
    for (const s of seeders) {
      const served = s.metrics.get('icnet_state_sync_served_total', { kind: 'CHUNK', outcome: 'block' })
      assert.ok(served > 0, `seeder ${s.node.peerId.toString()} served ${served}`)
      assert.ok((result.perPeer[s.node.peerId.toString()]?.blocks ?? 0) > 0)
    }
  })

  it('spreads a small sync (a few chunks) over every seeder', async () => {
    // Six chunks and three seeders: each should be asked for some, not the first seeder
    // (whose window already grew on the manifest) for all of them. A replica's checkpoints
    // are often this small, and a lying or stalling peer must be met and dealt with even then.
    const root = await tempDir(); dirs.push(root)
    const files = { 'canister_states/00000000000000010101/memory.bin': Uint8Array.from(randomBytes(6 * TEST_CHUNK)) }
    const small = await storeWith(root, 20n, files)
    stores.add(small.store)
    const seeders = await Promise.all([0, 1, 2].map(async () => await seederCopy(small.store, 20n)))
    const client = await freshNode()
    await connectAll([client.node, ...seeders.map(s => s.node)])
    await client.node.services.stateSync.sync({ cup: signedCup(small.info), key: { publicKey: subnetPublicKey } })
    await assertInstalled(client.store, 20n, files)
    const served = seeders.map(s => s.metrics.get('icnet_state_sync_served_total', { kind: 'CHUNK', outcome: 'block' }))
    assert.equal(served.reduce((a, b) => a + b, 0), 6)
    assert.ok(served.every(n => n > 0), `chunks served per seeder: ${served.join(', ')}`)
  })

  it('evicts a seeder that sends wrong bytes and fetches its chunks elsewhere', async () => {
    const honest = await seederNode()
    const liar = await badNode('corrupt')
    const client = await freshNode()
    await connectAll([client.node, honest, liar])
    const result = await client.node.services.stateSync.sync({ cup: signedCup(source.info), key: { publicKey: subnetPublicKey } })
    await assertInstalled(client.store)
    assert.deepEqual(result.evicted, [{ peer: liar.peerId.toString(), reason: 'bad_block' }])
    assert.ok(liar.services.bad.blocksSent > 0, 'the liar was asked and answered')
    assert.ok(client.node.services.stateSync.peerScore(liar.peerId.toString()) >= BAN_SCORE)
    assert.ok(client.metrics.get('icnet_state_sync_chunks_total', { source: 'fetched', outcome: 'bad_hash' }) >= 1)
  })

  it('drops a seeder that stalls and finishes from the others', async () => {
    const honest = await seederNode()
    const staller = await badNode('stall')
    const client = await freshNode()
    await connectAll([client.node, honest, staller])
    const result = await client.node.services.stateSync.sync({ cup: signedCup(source.info), key: { publicKey: subnetPublicKey }, chunkTimeoutMs: 1500 })
    await assertInstalled(client.store)
    assert.deepEqual(result.evicted.map(e => [e.peer, e.reason]), [[staller.peerId.toString(), 'stalled']])
  })

  it('survives a seeder that leaves mid-sync', async () => {
    const a = await seederCopy()
    const b = await seederCopy()
    const client = await freshNode()
    await connectAll([client.node, a.node, b.node])
    let fetched = 0
    let stopped: Promise<void> | undefined
    const result = await client.node.services.stateSync.sync({
      cup: signedCup(source.info),
      key: { publicKey: subnetPublicKey },
      maxWindow: 4,
      onDownloader: d => d.on('chunk', e => {
        if (e.detail.source === 'fetched' && ++fetched === 10) stopped = Promise.resolve(a.node.stop())
      })
    })
    await stopped
    await assertInstalled(client.store)
    assert.ok(result.evicted.some(e => e.peer === a.node.peerId.toString() && e.reason === 'gone'))
  })

  it('resumes after being killed mid-sync without fetching a verified chunk twice', async () => {
    const seeder = await seederCopy()
    const client = await freshNode()
    await connectAll([client.node, seeder.node])
    const firstRun = new Set<number>()
    const ctrl = new AbortController()
    await assert.rejects(client.node.services.stateSync.sync({
      cup: signedCup(source.info),
      key: { publicKey: subnetPublicKey },
      signal: ctrl.signal,
      maxWindow: 2,
      onDownloader: d => d.on('chunk', e => {
        if (e.detail.source !== 'fetched') return
        for (const i of e.detail.indices) firstRun.add(i)
        if (firstRun.size === 30) ctrl.abort()
      })
    }), SyncAbortedError)
    assert.equal(client.store.list().length, 0, 'nothing installed after the abort')

    // A new store instance over the same directory, as after a process restart.
    await client.node.stop()
    const restartedStore = await FsCheckpointStore.open(client.root, { chunkSize: TEST_CHUNK })
    const restarted = await seederNode(restartedStore)
    await connectAll([restarted, seeder.node])
    const secondRun = new Set<number>()
    const result = await restarted.services.stateSync.sync({
      cup: signedCup(source.info),
      key: { publicKey: subnetPublicKey },
      onDownloader: d => d.on('chunk', e => { if (e.detail.source === 'fetched') for (const i of e.detail.indices) secondRun.add(i) })
    })
    await assertInstalled(restartedStore)
    assert.ok(result.chunksResumed >= firstRun.size)
    for (const i of secondRun) assert.ok(!firstRun.has(i), `chunk ${i} was fetched twice`)
  })

  it('fetches only the changed chunks when an older checkpoint is local', async () => {
    // The client has height 10; height 20 changes two chunks and adds a small file.
    const client = await freshNode()
    await copyCheckpoint(source.store, 10n, client.store, 10n)
    await client.store.addCheckpoint(10n)
    const root = await tempDir(); dirs.push(root)
    const seedStore = await FsCheckpointStore.open(root, { chunkSize: TEST_CHUNK })
    const files = { ...source.files }
    const mem = Uint8Array.from(files['canister_states/00000000000000010101/memory.bin']!)
    mem[3 * TEST_CHUNK + 5] ^= 1
    mem[9 * TEST_CHUNK] ^= 1
    files['canister_states/00000000000000010101/memory.bin'] = mem
    files['new-canister/wasm'] = new Uint8Array(1000).fill(3)
    await writeTree(seedStore.checkpointDir(20n), files)
    const info20 = await seedStore.addCheckpoint(20n)
    const seeder = await seederNode(seedStore)
    await connectAll([client.node, seeder])
    const result = await client.node.services.stateSync.sync({ cup: signedCup(info20), key: { publicKey: subnetPublicKey } })
    await assertInstalled(client.store, 20n, files)
    assert.equal(result.chunksFetched, 3)
    assert.equal(result.bytesFetched, 2 * TEST_CHUNK + 1000)
  })

  it('refuses a CUP with a bad signature and fetches nothing', async () => {
    const seeder = await seederCopy()
    const client = await freshNode()
    await connectAll([client.node, seeder.node])
    const cup = signedCup(source.info)
    const forged = { ...cup, stateHash: Uint8Array.from(cup.stateHash).fill(1, 0, 1) }
    await assert.rejects(client.node.services.stateSync.sync({ cup: forged, key: { publicKey: subnetPublicKey } }), InvalidCatchUpPackageError)
    const badSig = { ...cup, signature: signedCup({ height: 11n, stateHash: cup.stateHash }).signature }
    await assert.rejects(client.node.services.stateSync.sync({ cup: badSig, key: { publicKey: subnetPublicKey } }), InvalidCatchUpPackageError)
    assert.equal(client.store.list().length, 0)
    assert.deepEqual(await readdir(join(client.root, 'scratch')), [])
    assert.equal(seeder.metrics.get('icnet_state_sync_served_total'), 0)
  })

  it('refuses a manifest that does not match the CUP and installs nothing', async () => {
    // The peer answers the CUP's state hash with the meta-manifest of another checkpoint.
    const root = await tempDir(); dirs.push(root)
    const other = await storeWith(root, 5n, { 'x.bin': new Uint8Array(5000).fill(9) })
    const liar = await badNode('wrong-manifest', other.info, other.store)
    const client = await freshNode()
    await connectAll([client.node, liar])
    await assert.rejects(client.node.services.stateSync.sync({ cup: signedCup(source.info), key: { publicKey: subnetPublicKey }, peers: [liar.peerId] }), NoPeersError)
    assert.equal(client.store.list().length, 0)
    assert.deepEqual(await readdir(join(client.root, 'scratch')), [])
    await waitFor(() => client.node.services.stateSync.isBanned(liar.peerId.toString()), { what: 'liar banned' })
  })
})
