/**
 * State sync throughput: a generated checkpoint synced from 3 peers over loopback TCP,
 * against one raw libp2p stream and Helia's bitswap moving the same bytes in the same run,
 * plus the bytes fetched after 1% of the chunks change.
 *
 * The machine this runs on is shared, so sync and raw stream alternate for `--rounds`
 * rounds; each round's ratio compares two measurements taken seconds apart, and the
 * headline is the median. CPU time (all threads of the process) per MiB is reported too:
 * it does not depend on how busy the other tenants are.
 *
 *   npm run bench -- state-sync [--size MiB=1024] [--peers 3] [--rounds 3] [--helia-size MiB=size] [--reread 1]
 */
import '@icnet/types/polyfill'
import { randomFillSync, randomInt } from 'node:crypto'
import { cp, mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import type { Libp2p, Stream } from '@libp2p/interface'
import { dealThresholdKeys } from '@icnet/crypto'
import { FsCheckpointStore, signCatchUpPackage, stateSync } from '@icnet/state-sync'
import type { CheckpointInfo, StateSyncService } from '@icnet/state-sync'
import { connectAll, createTestNode, stopAll } from '@icnet/test-utils'
import { MemoryBlockstore } from 'blockstore-core'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'

const MiB = 1024 * 1024
const args = process.argv.slice(2)
function arg (name: string, def: number): number {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? Number(args[i + 1]) : def
}
const sizeMiB = arg('size', 1024)
const peerCount = arg('peers', 3)
const heliaMiB = arg('helia-size', sizeMiB)
const rounds = Math.max(1, arg('rounds', 3))
const reread = arg('reread', 0) === 1
const total = sizeMiB * MiB
const mbps = (bytes: number, ms: number): number => Math.round(bytes / 1e6 / (ms / 1000) * 10) / 10
const emit = (o: object): void => { console.log(JSON.stringify(o)) }
const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2 }
const round2 = (x: number): number => Math.round(x * 100) / 100

/** CPU time of every thread of this process (event loop, libuv pool, GC) while `fn` runs. */
async function withCpu<T> (fn: () => Promise<T>): Promise<{ value: T, cpuMs: number }> {
  const before = process.cpuUsage()
  const value = await fn()
  const d = process.cpuUsage(before)
  return { value, cpuMs: (d.user + d.system) / 1000 }
}

/** Mixed sizes: one large file, a few medium ones, many small ones (like canister memories and queues). */
function fileSizes (bytes: number): number[] {
  const sizes = [Math.floor(bytes * 0.4)]
  for (let i = 0; i < 4; i++) sizes.push(Math.floor(bytes * 0.075))
  for (let i = 0; i < 32; i++) sizes.push(Math.floor(bytes * 0.2 / 32))
  let rest = bytes - sizes.reduce((a, b) => a + b, 0)
  while (rest > 0) { const s = Math.min(rest, 64 * 1024 + randomInt(64 * 1024)); sizes.push(s); rest -= s }
  return sizes
}

async function generate (dir: string): Promise<void> {
  const buf = Buffer.allocUnsafe(4 * MiB)
  for (const [i, size] of fileSizes(total).entries()) {
    const path = join(dir, `canister_${String(i % 16).padStart(2, '0')}`, `file_${i}.bin`)
    await mkdir(dirname(path), { recursive: true })
    const fh = await open(path, 'w')
    for (let o = 0; o < size; o += buf.length) {
      const n = Math.min(buf.length, size - o)
      randomFillSync(buf, 0, n)
      await fh.write(buf, 0, n)
    }
    await fh.close()
  }
}

/**
 * Changes one byte in `fraction` of the chunks of a checkpoint directory and returns how
 * many chunks and bytes that touched.
 *
 * Chunks differ in size (full 1 MiB chunks; 64-128 KiB small files and file tails), so a
 * plain random draw of 1% of the chunks moves between ~0.6% and ~1.5% of the bytes from
 * run to run. The draw is stratified instead: the same fraction of the full-size chunks
 * and of the shorter ones (largest-remainder rounding, so the total is still
 * round(chunks * fraction)), each picked at random within its class. Same expectation as a
 * plain draw, far less spread; the bytes actually changed are reported beside the bytes
 * fetched.
 */
async function touchChunks (store: FsCheckpointStore, info: CheckpointInfo, dir: string, fraction: number): Promise<{ chunks: number, bytes: number }> {
  const { manifest } = store.getManifest(info.stateHash)!
  const table = manifest.chunkTable
  const full = table.reduce((m, c) => Math.max(m, c.sizeBytes), 0)
  const strata = [table.flatMap((c, i) => c.sizeBytes === full ? [i] : []), table.flatMap((c, i) => c.sizeBytes === full ? [] : [i])]
  const n = Math.max(1, Math.round(table.length * fraction))
  const quota = strata.map(s => s.length * n / table.length)
  const counts = quota.map(Math.floor)
  const byRemainder = quota.map((_q, k) => k).sort((a, b) => (quota[b]! - counts[b]!) - (quota[a]! - counts[a]!))
  for (let k = 0; counts.reduce((a, b) => a + b, 0) < n; k++) counts[byRemainder[k]!]!++
  const picked: number[] = []
  strata.forEach((members, k) => {
    const pool = [...members]
    for (let j = 0; j < counts[k]! && pool.length > 0; j++) picked.push(pool.splice(randomInt(pool.length), 1)[0]!)
  })
  let bytes = 0
  for (const i of picked) {
    const c = table[i]!
    bytes += c.sizeBytes
    const fh = await open(join(dir, ...manifest.fileTable[c.fileIndex]!.relativePath.split('/')), 'r+')
    const b = Buffer.alloc(1)
    await fh.read(b, 0, 1, c.offset)
    b[0] = b[0]! ^ 0xff
    await fh.write(b, 0, 1, c.offset)
    await fh.close()
  }
  return { chunks: picked.length, bytes }
}

async function waitDrain (s: Stream): Promise<void> {
  if (!s.writableNeedsDrain) return
  await new Promise<void>((resolve, reject) => {
    const done = (): void => { s.removeEventListener('drain', ok); s.removeEventListener('close', ko) }
    const ok = (): void => { done(); resolve() }
    const ko = (): void => { done(); reject(new Error('stream closed')) }
    s.addEventListener('drain', ok)
    s.addEventListener('close', ko)
  })
}

/** One libp2p stream (TCP + noise + yamux) moving `bytes` in 1 MiB writes with backpressure. */
async function rawStream (bytes: number): Promise<number> {
  const [a, b] = [await createTestNode(), await createTestNode()]
  try {
    let resolve!: (t: number) => void
    const received = new Promise<number>(res => { resolve = res })
    await b.handle('/icnet/bench/raw/1.0.0', async (stream) => {
      let got = 0
      for await (const chunk of stream) {
        got += chunk.byteLength
        if (got >= bytes) { resolve(performance.now()); break }
      }
      await stream.close().catch(() => {})
    })
    await connectAll([a, b])
    const s = await a.dialProtocol(b.getMultiaddrs()[0]!, '/icnet/bench/raw/1.0.0')
    const buf = new Uint8Array(MiB)
    randomFillSync(buf)
    const t0 = performance.now()
    for (let sent = 0; sent < bytes; sent += MiB) {
      if (!s.send(buf.subarray(0, Math.min(MiB, bytes - sent)))) await waitDrain(s)
    }
    const t1 = await received
    await s.close().catch(() => {})
    return mbps(bytes, t1 - t0)
  } finally { await stopAll([a, b]) }
}

/**
 * Helia's package entry (and @helia/libp2p) load undici through @libp2p/http, which needs
 * Node 22. The Helia class itself does not, so load it from its module file and give it
 * our own libp2p node (what @helia/libp2p's withLibp2pLight does, minus the HTTP bits).
 */
async function heliaNode (blockstore: MemoryBlockstore): Promise<any> {
  const { Helia } = await import(import.meta.resolve('helia').replace(/index\.js$/, 'helia.js'))
  const { withBitswap } = await import('@helia/bitswap')
  const libp2p = await createTestNode()
  const helia: any = new Helia({ name: 'helia', version: 'bench', blockstore, routers: [] })
  Object.defineProperty(helia, 'libp2p', { value: libp2p, enumerable: true })
  withBitswap(helia)
  await helia.start()
  return helia
}

/** Helia's bitswap: `providers` nodes holding the same 1 MiB raw blocks, one node fetching all of them. */
async function heliaBitswap (dir: string, store: FsCheckpointStore, info: CheckpointInfo, bytes: number, providers: number): Promise<{ mbps: number, bytes: number }> {
  const shared = new MemoryBlockstore()
  const cids: CID[] = []
  const { manifest } = store.getManifest(info.stateHash)!
  let loaded = 0
  for (const c of manifest.chunkTable) {
    if (loaded >= bytes) break
    const fh = await open(join(dir, ...manifest.fileTable[c.fileIndex]!.relativePath.split('/')), 'r')
    const block = new Uint8Array(c.sizeBytes)
    await fh.read(block, 0, c.sizeBytes, c.offset)
    await fh.close()
    const cid = CID.createV1(raw.code, await sha256.digest(block))
    await shared.put(cid, block)
    cids.push(cid)
    loaded += block.length
  }
  const seeds = await Promise.all(Array.from({ length: providers }, async () => await heliaNode(shared)))
  const client = await heliaNode(new MemoryBlockstore())
  try {
    for (const s of seeds) await client.libp2p.dial(s.libp2p.getMultiaddrs()[0])
    const t0 = performance.now()
    let next = 0
    let got = 0
    const signal = AbortSignal.timeout(300_000)
    await Promise.all(Array.from({ length: 64 }, async () => {
      while (next < cids.length) {
        const cid = cids[next++]!
        const r = client.blockstore.get(cid, { signal })
        if (r != null && typeof r[Symbol.asyncIterator] === 'function') { for await (const part of r) got += part.byteLength } else got += (await r).byteLength
      }
    }))
    return { mbps: mbps(got, performance.now() - t0), bytes: got }
  } finally {
    await Promise.all([...seeds, client].map(async h => { await h.stop(); await h.libp2p.stop() }))
  }
}

async function main (): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'icnet-bench-state-sync-'))
  const nodes: Array<Libp2p<{ stateSync: StateSyncService }>> = []
  const stores: FsCheckpointStore[] = []
  try {
    const keys = dealThresholdKeys({ n: 4, t: 3 })
    const seedStore = await FsCheckpointStore.open(join(root, 'seed'))
    stores.push(seedStore)
    let t = performance.now()
    await generate(seedStore.checkpointDir(1n))
    const genMs = performance.now() - t
    t = performance.now()
    const info1 = await seedStore.addCheckpoint(1n)
    const manifest1 = seedStore.getManifest(info1.stateHash)!.manifest
    emit({ phase: 'generate', size_mib: sizeMiB, files: manifest1.fileTable.length, chunks: manifest1.chunkTable.length, generate_ms: Math.round(genMs), manifest_ms: Math.round(performance.now() - t), manifest_mb_per_s: mbps(total, performance.now() - t) })

    // Seeders share one store (read-only); each round's client starts empty.
    const seeders: Array<Libp2p<{ stateSync: StateSyncService }>> = []
    for (let i = 0; i < peerCount; i++) seeders.push(await createTestNode({ services: { stateSync: stateSync({ store: seedStore }) } }) as any)
    nodes.push(...seeders)
    const peers = seeders.map(n => n.peerId)
    const key = { publicKey: keys.publicKey }
    const cup1 = signCatchUpPackage(1n, info1.stateHash, keys.shares, 3)

    const results: Array<{ sync: number, raw: number, syncCpu: number, rawCpu: number }> = []
    let client!: Libp2p<{ stateSync: StateSyncService }>
    for (let r = 1; r <= rounds; r++) {
      const raw = await withCpu(async () => await rawStream(total))
      if (client !== undefined) {
        await stopAll([client])
        nodes.splice(nodes.indexOf(client), 1)
        const old = stores.pop()!
        await old.close()
        await rm(old.root, { recursive: true, force: true })
      }
      const clientStore = await FsCheckpointStore.open(join(root, `client-${r}`))
      stores.push(clientStore)
      client = await createTestNode({ services: { stateSync: stateSync({ store: clientStore }) } }) as any
      nodes.push(client)
      await connectAll([client, ...seeders])
      const sync = await withCpu(async () => await client.services.stateSync.sync({ cup: cup1, key, peers, reread }))
      const r1 = sync.value
      const syncMbps = mbps(total, r1.durationMs)
      results.push({ sync: syncMbps, raw: raw.value, syncCpu: sync.cpuMs / sizeMiB, rawCpu: raw.cpuMs / sizeMiB })
      emit({ phase: 'round', round: r, sync_mb_per_s: syncMbps, raw_stream_mb_per_s: raw.value, ratio_raw: round2(syncMbps / raw.value), sync_cpu_ms_per_mib: round2(sync.cpuMs / sizeMiB), raw_cpu_ms_per_mib: round2(raw.cpuMs / sizeMiB), duration_ms: Math.round(r1.durationMs), chunks_fetched: r1.chunksFetched, per_peer_blocks: Object.values(r1.perPeer).map(p => p.blocks), evicted: r1.evicted.length })
    }

    // 1% of the chunks change between checkpoints: only those should travel.
    await cp(seedStore.checkpointDir(1n), seedStore.checkpointDir(2n), { recursive: true })
    const touched = await touchChunks(seedStore, info1, seedStore.checkpointDir(2n), 0.01)
    const info2 = await seedStore.addCheckpoint(2n)
    const r2 = await client.services.stateSync.sync({ cup: signCatchUpPackage(2n, info2.stateHash, keys.shares, 3), key, peers, reread })
    // Chunk bytes and manifest bytes are counted apart: the target is on chunk bytes, plus the manifest.
    const refetch = r2.bytesFetched / total
    const manifestFraction = r2.manifestBytesFetched / total
    emit({ phase: 'refetch', chunks_changed: touched.chunks, bytes_changed: touched.bytes, changed_fraction: touched.bytes / total, chunks_fetched: r2.chunksFetched, bytes_fetched: r2.bytesFetched, chunks_copied: r2.chunksCopied, refetch_fraction: refetch, refetch_overhead: r2.bytesFetched / touched.bytes, manifest_bytes: r2.manifestBytesFetched, manifest_fraction: manifestFraction, refetch_fraction_with_manifest: refetch + manifestFraction, duration_ms: Math.round(r2.durationMs) })
    await stopAll(nodes)
    nodes.length = 0

    const helia = await heliaBitswap(seedStore.checkpointDir(1n), seedStore, info1, heliaMiB * MiB, peerCount)
    emit({ phase: 'helia_bitswap', mb_per_s: helia.mbps, bytes: helia.bytes })

    const syncMbps = median(results.map(x => x.sync))
    emit({
      bench: 'state-sync',
      size_mib: sizeMiB,
      peers: peerCount,
      rounds,
      reread,
      mb_per_s: syncMbps,
      raw_stream_mb_per_s: median(results.map(x => x.raw)),
      helia_mb_per_s: helia.mbps,
      ratio_raw: round2(median(results.map(x => x.sync / x.raw))),
      ratio_helia: round2(syncMbps / helia.mbps),
      refetch_fraction: Math.round(refetch * 10000) / 10000,
      changed_fraction: Math.round(touched.bytes / total * 10000) / 10000,
      manifest_fraction: Math.round(manifestFraction * 100000) / 100000,
      sync_cpu_ms_per_mib: round2(median(results.map(x => x.syncCpu))),
      raw_cpu_ms_per_mib: round2(median(results.map(x => x.rawCpu)))
    })
  } finally {
    await stopAll(nodes)
    for (const s of stores) await s.close()
    await rm(root, { recursive: true, force: true })
  }
}

await main()
await writeFile('/dev/null', '')
process.exit(0)
