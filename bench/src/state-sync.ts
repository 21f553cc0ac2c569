/**
 * State sync throughput: a generated checkpoint synced from 3 peers over loopback TCP,
 * against one raw libp2p stream and Helia's bitswap moving the same bytes in the same run,
 * plus the bytes fetched after 1% of the chunks change.
 *
 * Layout (`--layout`): `process` (default) runs the seeders in peer processes
 * (`--seeder-procs` of them, 1 by default) and the downloader here, and the raw stream the
 * same way (writer in a peer process, reader here), as nodes are deployed; `single` runs
 * every node in this one process and event loop.
 *
 * The machine this runs on is shared, so sync and raw stream alternate for `--rounds`
 * rounds; each round's ratio compares two measurements taken seconds apart, and the
 * headline is the median. CPU time (all threads of every process taking part) per MiB is
 * reported too: it does not depend on how busy the other tenants are.
 *
 * Each round also runs the verified copy (`_verified-copy.ts`): the same chunks over one raw
 * stream with no protocol, read from their files, hashed and written. It is the least any
 * verified sync must do, so `verified_copy_ratio_raw` bounds what `ratio_raw` can reach here,
 * and `sync_ratio_verified_copy` is what the protocol and the downloader cost on top.
 *
 *   npm run bench -- state-sync [--size MiB=1024] [--peers 3] [--rounds 3] [--helia-size MiB=size]
 *                               [--reread 1] [--layout process|single] [--seeder-procs 1]
 *                               [--copy-parts read,hash,write[,direct]]
 */
import '@icnet/types/polyfill'
import { fork } from 'node:child_process'
import { setMaxListeners } from 'node:events'
import type { ChildProcess } from 'node:child_process'
import { randomFillSync, randomInt } from 'node:crypto'
import { rmSync } from 'node:fs'
import { cp, mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Libp2p, PeerId } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import { dealThresholdKeys } from '@icnet/crypto'
import { FsCheckpointStore, signCatchUpPackage, stateSync } from '@icnet/state-sync'
import type { CheckpointInfo, StateSyncService } from '@icnet/state-sync'
import { connectAll, createTestNode, stopAll } from '@icnet/test-utils'
import { MemoryBlockstore } from 'blockstore-core'
import { CID } from 'multiformats/cid'
import { chunksAsBlocks, heliaNode, RAW_PROTOCOL, waitDrain } from './_state-sync-shared.js'
import { receiveChunks, sendChunks, VERIFIED_COPY_PROTOCOL } from './_verified-copy.js'
import type { CopyChunk, CopyParts } from './_verified-copy.js'

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
function argStr (name: string, def: string): string {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? args[i + 1]! : def
}
const layout = argStr('layout', 'process')
if (layout !== 'process' && layout !== 'single') throw new Error('--layout is process or single')
const remote = layout === 'process'
const seederProcCount = Math.max(1, arg('seeder-procs', 1))
/** The verified copy's jobs (`--copy-parts read,hash,write`, the default): leave one out to measure what it costs; add `direct` to write whole blocks with O_DIRECT. */
const copyPartList = argStr('copy-parts', 'read,hash,write').split(',')
const copyParts: CopyParts = { read: copyPartList.includes('read'), hash: copyPartList.includes('hash'), write: copyPartList.includes('write'), direct: copyPartList.includes('direct') }
/** Writes V8 CPU profiles of this process over the last round's sync to this path, and its raw stream and verified copy beside it (`.raw.cpuprofile`, `.copy.cpuprofile`). */
const profilePath = args.includes('--profile') ? argStr('profile', 'state-sync.cpuprofile') : undefined
/** Runs the peer processes under `--cpu-prof`, writing their profiles into this directory. */
const peerProfileDir = args.includes('--profile-peers') ? argStr('profile-peers', '.') : undefined

/** Runs `fn` under V8's sampling profiler when `path` is set, writing the profile there. */
async function profiled<T> (path: string | undefined, fn: () => Promise<T>): Promise<T> {
  if (path === undefined) return await fn()
  const { Session } = await import('node:inspector')
  const session = new Session()
  session.connect()
  const post = async (method: string, params?: object): Promise<any> => await new Promise((resolve, reject) => {
    session.post(method, params, (err, res) => { if (err != null) reject(err); else resolve(res) })
  })
  await post('Profiler.enable')
  await post('Profiler.setSamplingInterval', { interval: 200 })
  await post('Profiler.start')
  try { return await fn() } finally {
    const { profile } = await post('Profiler.stop')
    await writeFile(path, JSON.stringify(profile))
    session.disconnect()
  }
}
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

/** A peer process (`_state-sync-peer.js`) driven over its IPC channel. */
class PeerProcess {
  private static readonly all = new Set<ChildProcess>()
  private nextId = 1
  private readonly waiting = new Map<number, { resolve(v: any): void, reject(e: Error): void }>()

  private constructor (private readonly child: ChildProcess) {
    child.on('message', (m: any) => {
      const w = this.waiting.get(m.id)
      if (w === undefined) return
      this.waiting.delete(m.id)
      if (m.error !== undefined) w.reject(new Error(`peer process: ${m.error}`))
      else w.resolve(m)
    })
    child.on('exit', (code) => {
      PeerProcess.all.delete(child)
      for (const w of this.waiting.values()) w.reject(new Error(`peer process exited (${code})`))
      this.waiting.clear()
    })
  }

  static async start (): Promise<PeerProcess> {
    if (PeerProcess.all.size === 0) {
      // Children also exit when their IPC channel closes; this covers an orderly exit and
      // a fatal error of the bench without waiting for that.
      process.once('exit', () => { for (const c of PeerProcess.all) c.kill('SIGKILL') })
    }
    const child = fork(join(dirname(fileURLToPath(import.meta.url)), '_state-sync-peer.js'), [], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      execArgv: peerProfileDir === undefined ? process.execArgv : [...process.execArgv, '--cpu-prof', '--cpu-prof-dir', peerProfileDir]
    })
    PeerProcess.all.add(child)
    const p = new PeerProcess(child)
    const ready = new Promise<void>((resolve, reject) => { p.waiting.set(0, { resolve: () => { resolve() }, reject }) })
    await ready
    return p
  }

  async call (op: string, args: object = {}): Promise<any> {
    const id = this.nextId++
    const answer = new Promise<any>((resolve, reject) => { this.waiting.set(id, { resolve, reject }) })
    this.child.send({ id, op, ...args })
    return await answer
  }

  async cpuMs (): Promise<number> { return (await this.call('cpu')).ms }

  async stop (): Promise<void> {
    await this.call('stop').catch(() => {})
    // Let it exit by itself when it can (a profiled child writes its profile on exit).
    const exited = new Promise<void>(resolve => { this.child.once('exit', () => { resolve() }) })
    this.child.disconnect()
    const timer = setTimeout(() => { this.child.kill('SIGKILL') }, 5000)
    await exited
    clearTimeout(timer)
  }
}

/** CPU (ms, all threads) of this process and of `remotes` while `fn` runs. */
async function withCpuOf<T> (remotes: PeerProcess[], fn: () => Promise<T>): Promise<{ value: T, localMs: number, remoteMs: number }> {
  const before = await Promise.all(remotes.map(async r => await r.cpuMs()))
  const { value, cpuMs } = await withCpu(fn)
  const after = await Promise.all(remotes.map(async r => await r.cpuMs()))
  return { value, localMs: cpuMs, remoteMs: after.reduce((n, a, i) => n + a - before[i]!, 0) }
}

/** Reader side of a raw stream: a fresh node whose handler resolves when `bytes` have arrived. */
async function rawReader (bytes: number): Promise<{ node: Libp2p, received: Promise<number> }> {
  const node = await createTestNode()
  let resolve!: (t: number) => void
  const received = new Promise<number>(res => { resolve = res })
  await node.handle(RAW_PROTOCOL, async (stream) => {
    let got = 0
    for await (const chunk of stream) {
      got += chunk.byteLength
      if (got >= bytes) { resolve(performance.now()); break }
    }
    await stream.close().catch(() => {})
  })
  return { node, received }
}

/** One libp2p stream (TCP + noise + yamux) moving `bytes` in 1 MiB writes with backpressure, both ends in this process. */
async function rawStreamLocal (bytes: number): Promise<number> {
  const reader = await rawReader(bytes)
  const a = await createTestNode()
  try {
    await connectAll([a, reader.node])
    const s = await a.dialProtocol(reader.node.getMultiaddrs()[0]!, RAW_PROTOCOL)
    const buf = new Uint8Array(MiB)
    randomFillSync(buf)
    const t0 = performance.now()
    for (let sent = 0; sent < bytes; sent += MiB) {
      if (!s.send(buf.subarray(0, Math.min(MiB, bytes - sent)))) await waitDrain(s)
    }
    const t1 = await reader.received
    await s.close().catch(() => {})
    return mbps(bytes, t1 - t0)
  } finally { await stopAll([a, reader.node]) }
}

/** The same stream with the writer in a peer process and the reader here (the sync's direction). */
async function rawStreamRemote (writer: PeerProcess, writerAddr: string, bytes: number): Promise<number> {
  const reader = await rawReader(bytes)
  try {
    await reader.node.dial(multiaddr(writerAddr))
    const t0 = performance.now()
    const sent = writer.call('rawSend', { peer: reader.node.peerId.toString(), bytes })
    const t1 = await reader.received
    await sent
    return mbps(bytes, t1 - t0)
  } finally { await stopAll([reader.node]) }
}

/** The checkpoint's chunks for the verified copy: read from `from`, written under `to` (with the hash each must have). */
function copyChunks (store: FsCheckpointStore, info: CheckpointInfo, from: string, to: string): { source: CopyChunk[], target: CopyChunk[] } {
  const { manifest } = store.getManifest(info.stateHash)!
  const at = (dir: string, fileIndex: number): string => join(dir, ...manifest.fileTable[fileIndex]!.relativePath.split('/'))
  return {
    source: manifest.chunkTable.map(c => ({ path: at(from, c.fileIndex), offset: c.offset, size: c.sizeBytes })),
    target: manifest.chunkTable.map(c => ({ path: at(to, c.fileIndex), offset: c.offset, size: c.sizeBytes, hash: c.hash }))
  }
}

/** The verified copy (`_verified-copy.ts`) between two fresh nodes in this process. */
async function verifiedCopyLocal (chunks: { source: CopyChunk[], target: CopyChunk[] }): Promise<number> {
  const reader = await createTestNode()
  const a = await createTestNode()
  try {
    const { done } = await receiveChunks(reader, chunks.target, copyParts)
    await connectAll([a, reader])
    const t0 = performance.now()
    const s = await a.dialProtocol(reader.getMultiaddrs()[0]!, VERIFIED_COPY_PROTOCOL)
    await sendChunks(s, chunks.source, copyParts)
    const t1 = await done
    await s.close().catch(() => {})
    return mbps(total, t1 - t0)
  } finally { await stopAll([a, reader]) }
}

/** The verified copy with its writer in a peer process and its reader here (the sync's direction). */
async function verifiedCopyRemote (writer: PeerProcess, writerAddr: string, chunks: { source: CopyChunk[], target: CopyChunk[] }): Promise<number> {
  const reader = await createTestNode()
  try {
    const { done } = await receiveChunks(reader, chunks.target, copyParts)
    await reader.dial(multiaddr(writerAddr))
    const t0 = performance.now()
    const sent = writer.call('copySend', { peer: reader.peerId.toString(), chunks: chunks.source, parts: copyParts })
    const t1 = await done
    await sent
    return mbps(total, t1 - t0)
  } finally { await stopAll([reader]) }
}

/** The checkpoint's chunks as Helia raw blocks (up to `bytes`): where to read each. */
function heliaChunks (dir: string, store: FsCheckpointStore, info: CheckpointInfo, bytes: number): Array<{ path: string, offset: number, size: number }> {
  const { manifest } = store.getManifest(info.stateHash)!
  const out: Array<{ path: string, offset: number, size: number }> = []
  let loaded = 0
  for (const c of manifest.chunkTable) {
    if (loaded >= bytes) break
    out.push({ path: join(dir, ...manifest.fileTable[c.fileIndex]!.relativePath.split('/')), offset: c.offset, size: c.sizeBytes })
    loaded += c.sizeBytes
  }
  return out
}

/** Helia's client fetching every CID from the providers it is connected to, 64 gets in flight. */
async function heliaFetch (client: any, cids: CID[]): Promise<{ mbps: number, bytes: number }> {
  const t0 = performance.now()
  let next = 0
  let got = 0
  const signal = AbortSignal.timeout(300_000)
  // 64 gets share the signal: more listeners than Node's leak warning expects, on purpose.
  setMaxListeners(Infinity, signal)
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (next < cids.length) {
      const cid = cids[next++]!
      const r = client.blockstore.get(cid, { signal })
      if (r != null && typeof r[Symbol.asyncIterator] === 'function') { for await (const part of r) got += part.byteLength } else got += (await r).byteLength
    }
  }))
  return { mbps: mbps(got, performance.now() - t0), bytes: got }
}

/** Helia's bitswap: `providers` nodes holding the same 1 MiB raw blocks (here, or in one peer process), one node here fetching all of them. */
async function heliaBitswap (chunks: Array<{ path: string, offset: number, size: number }>, providers: number, remote: boolean): Promise<{ mbps: number, bytes: number }> {
  if (remote) {
    const peer = await PeerProcess.start()
    const client = await heliaNode(new MemoryBlockstore())
    try {
      const { addrs, cids } = await peer.call('helia', { chunks, count: providers })
      for (const a of addrs as string[]) await client.libp2p.dial(multiaddr(a))
      return await heliaFetch(client, (cids as string[]).map(c => CID.parse(c)))
    } finally {
      await client.stop(); await client.libp2p.stop()
      await peer.stop()
    }
  }
  const { blockstore: shared, cids } = await chunksAsBlocks(chunks)
  const seeds = await Promise.all(Array.from({ length: providers }, async () => await heliaNode(shared)))
  const client = await heliaNode(new MemoryBlockstore())
  try {
    for (const s of seeds) await client.libp2p.dial(s.libp2p.getMultiaddrs()[0])
    return await heliaFetch(client, cids)
  } finally {
    await Promise.all([...seeds, client].map(async h => { await h.stop(); await h.libp2p.stop() }))
  }
}

async function main (): Promise<void> {
  const root = await mkdtemp(join(tmpdir(), 'icnet-bench-state-sync-'))
  // Ctrl-C or a timeout: the peer processes go (the 'exit' hook) and so does the data.
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      rmSync(root, { recursive: true, force: true })
      process.exit(sig === 'SIGINT' ? 130 : 143)
    })
  }
  const nodes: Libp2p[] = []
  const stores: FsCheckpointStore[] = []
  const procs: PeerProcess[] = []
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
    emit({ phase: 'generate', size_mib: sizeMiB, files: manifest1.fileTable.length, chunks: manifest1.chunkTable.length, generate_ms: Math.round(genMs), manifest_ms: Math.round(performance.now() - t), manifest_mb_per_s: mbps(total, performance.now() - t), layout })

    // Seeders serve the seed store read-only: here, or in peer processes that open the same directory.
    const seederAddrs: Multiaddr[] = []
    const seederProcs: PeerProcess[] = []
    let rawWriter: { proc: PeerProcess, addr: string } | undefined
    if (remote) {
      // Seeders spread as evenly as they go over the processes (the first ones take the remainder).
      const procCount = Math.min(seederProcCount, peerCount)
      const perProc = Array.from({ length: procCount }, (_x, k) => Math.floor(peerCount / procCount) + (k < peerCount % procCount ? 1 : 0))
      for (const count of perProc) {
        const p = await PeerProcess.start()
        procs.push(p)
        seederProcs.push(p)
        const { addrs } = await p.call('seeders', { root: seedStore.root, count })
        seederAddrs.push(...(addrs as string[]).map(a => multiaddr(a)))
      }
      const w = await PeerProcess.start()
      procs.push(w)
      rawWriter = { proc: w, addr: (await w.call('rawWriter')).addrs[0] }
    } else {
      for (let i = 0; i < peerCount; i++) {
        const n = await createTestNode({ services: { stateSync: stateSync({ store: seedStore }) } })
        nodes.push(n)
        seederAddrs.push(n.getMultiaddrs()[0]!)
      }
    }
    const key = { publicKey: keys.publicKey }
    const cup1 = signCatchUpPackage(1n, info1.stateHash, keys.shares, 3)

    const results: Array<{ sync: number, raw: number, copy: number, syncCpu: number, rawCpu: number, copyCpu: number, syncClientCpu: number, rawReaderCpu: number }> = []
    let client!: Libp2p<{ stateSync: StateSyncService }>
    let peers: PeerId[] = []
    for (let r = 1; r <= rounds; r++) {
      const rawProfile = r === rounds && profilePath !== undefined ? `${profilePath.replace(/\.cpuprofile$/, '')}.raw.cpuprofile` : undefined
      const raw = rawWriter !== undefined
        ? await withCpuOf([rawWriter.proc], async () => await profiled(rawProfile, async () => await rawStreamRemote(rawWriter!.proc, rawWriter!.addr, total)))
        : await withCpuOf([], async () => await profiled(rawProfile, async () => await rawStreamLocal(total)))
      if (client !== undefined) {
        await stopAll([client])
        nodes.splice(nodes.indexOf(client), 1)
        const old = stores.pop()!
        await old.close()
        await rm(old.root, { recursive: true, force: true })
      }
      // The verified copy: the same bytes, hashed and written, with no protocol (an upper bound for any sync).
      const copyDir = join(root, `copy-${r}`)
      const chunks = copyChunks(seedStore, info1, seedStore.checkpointDir(1n), copyDir)
      const copyProfile = r === rounds && profilePath !== undefined ? `${profilePath.replace(/\.cpuprofile$/, '')}.copy.cpuprofile` : undefined
      const copy = rawWriter !== undefined
        ? await withCpuOf([rawWriter.proc], async () => await profiled(copyProfile, async () => await verifiedCopyRemote(rawWriter!.proc, rawWriter!.addr, chunks)))
        : await withCpuOf([], async () => await profiled(copyProfile, async () => await verifiedCopyLocal(chunks)))
      await rm(copyDir, { recursive: true, force: true })
      const clientStore = await FsCheckpointStore.open(join(root, `client-${r}`))
      stores.push(clientStore)
      client = await createTestNode({ services: { stateSync: stateSync({ store: clientStore }) } }) as any
      nodes.push(client)
      peers = []
      for (const a of seederAddrs) peers.push((await client.dial(a)).remotePeer)
      let firstChunkAt: number | undefined
      const syncStart = performance.now()
      const sync = await withCpuOf(seederProcs, async () => await profiled(r === rounds ? profilePath : undefined, async () => await client.services.stateSync.sync({
        cup: cup1,
        key,
        peers,
        reread,
        onDownloader: (d) => { d.on('chunk', () => { firstChunkAt ??= performance.now() }) }
      })))
      const r1 = sync.value
      const syncMbps = mbps(total, r1.durationMs)
      const x = {
        sync: syncMbps,
        raw: raw.value,
        copy: copy.value,
        copyCpu: (copy.localMs + copy.remoteMs) / sizeMiB,
        syncCpu: (sync.localMs + sync.remoteMs) / sizeMiB,
        rawCpu: (raw.localMs + raw.remoteMs) / sizeMiB,
        syncClientCpu: sync.localMs / sizeMiB,
        rawReaderCpu: raw.localMs / sizeMiB
      }
      results.push(x)
      emit({
        phase: 'round',
        round: r,
        sync_mb_per_s: syncMbps,
        raw_stream_mb_per_s: raw.value,
        ratio_raw: round2(syncMbps / raw.value),
        verified_copy_mb_per_s: copy.value,
        verified_copy_ratio_raw: round2(copy.value / raw.value),
        sync_ratio_verified_copy: round2(syncMbps / copy.value),
        sync_cpu_ms_per_mib: round2(x.syncCpu),
        raw_cpu_ms_per_mib: round2(x.rawCpu),
        verified_copy_cpu_ms_per_mib: round2(x.copyCpu),
        ...(remote ? { verified_copy_reader_cpu_ms_per_mib: round2(copy.localMs / sizeMiB) } : {}),
        ...(remote ? { sync_client_cpu_ms_per_mib: round2(x.syncClientCpu), raw_reader_cpu_ms_per_mib: round2(x.rawReaderCpu) } : {}),
        duration_ms: Math.round(r1.durationMs),
        // CUP check, sessions, manifest and scratch files: the time before the first chunk lands.
        first_chunk_ms: firstChunkAt === undefined ? null : Math.round(firstChunkAt - syncStart),
        chunks_fetched: r1.chunksFetched,
        per_peer_blocks: Object.values(r1.perPeer).map(p => p.blocks),
        evicted: r1.evicted.length
      })
    }

    // 1% of the chunks change between checkpoints: only those should travel.
    await cp(seedStore.checkpointDir(1n), seedStore.checkpointDir(2n), { recursive: true })
    const touched = await touchChunks(seedStore, info1, seedStore.checkpointDir(2n), 0.01)
    const info2 = await seedStore.addCheckpoint(2n)
    for (const p of seederProcs) await p.call('register', { root: seedStore.root, height: '2' })
    const r2 = await client.services.stateSync.sync({ cup: signCatchUpPackage(2n, info2.stateHash, keys.shares, 3), key, peers, reread })
    // Chunk bytes and manifest bytes are counted apart: the target is on chunk bytes, plus the manifest.
    const refetch = r2.bytesFetched / total
    const manifestFraction = r2.manifestBytesFetched / total
    emit({ phase: 'refetch', chunks_changed: touched.chunks, bytes_changed: touched.bytes, changed_fraction: touched.bytes / total, chunks_fetched: r2.chunksFetched, bytes_fetched: r2.bytesFetched, chunks_copied: r2.chunksCopied, refetch_fraction: refetch, refetch_overhead: r2.bytesFetched / touched.bytes, manifest_bytes: r2.manifestBytesFetched, manifest_fraction: manifestFraction, refetch_fraction_with_manifest: refetch + manifestFraction, duration_ms: Math.round(r2.durationMs) })
    await stopAll(nodes)
    nodes.length = 0
    await Promise.all(procs.map(async p => { await p.stop() }))
    procs.length = 0

    const helia = await heliaBitswap(heliaChunks(seedStore.checkpointDir(1n), seedStore, info1, heliaMiB * MiB), peerCount, remote)
    emit({ phase: 'helia_bitswap', mb_per_s: helia.mbps, bytes: helia.bytes, layout })

    const syncMbps = median(results.map(x => x.sync))
    emit({
      bench: 'state-sync',
      size_mib: sizeMiB,
      peers: peerCount,
      rounds,
      reread,
      layout,
      ...(remote ? { seeder_processes: Math.min(seederProcCount, peerCount) } : {}),
      mb_per_s: syncMbps,
      raw_stream_mb_per_s: median(results.map(x => x.raw)),
      helia_mb_per_s: helia.mbps,
      ratio_raw: round2(median(results.map(x => x.sync / x.raw))),
      ratio_helia: round2(syncMbps / helia.mbps),
      verified_copy_mb_per_s: median(results.map(x => x.copy)),
      verified_copy_ratio_raw: round2(median(results.map(x => x.copy / x.raw))),
      sync_ratio_verified_copy: round2(median(results.map(x => x.sync / x.copy))),
      refetch_fraction: Math.round(refetch * 10000) / 10000,
      changed_fraction: Math.round(touched.bytes / total * 10000) / 10000,
      manifest_fraction: Math.round(manifestFraction * 100000) / 100000,
      sync_cpu_ms_per_mib: round2(median(results.map(x => x.syncCpu))),
      raw_cpu_ms_per_mib: round2(median(results.map(x => x.rawCpu))),
      verified_copy_cpu_ms_per_mib: round2(median(results.map(x => x.copyCpu))),
      ...(copyPartList.join(',') !== 'read,hash,write' ? { verified_copy_parts: copyPartList.join(',') } : {}),
      ...(remote ? { sync_client_cpu_ms_per_mib: round2(median(results.map(x => x.syncClientCpu))), raw_reader_cpu_ms_per_mib: round2(median(results.map(x => x.rawReaderCpu))) } : {})
    })
  } finally {
    await stopAll(nodes)
    await Promise.all(procs.map(async p => { await p.stop() }))
    for (const s of stores) await s.close()
    await rm(root, { recursive: true, force: true })
  }
}

await main()
await writeFile('/dev/null', '')
process.exit(0)
