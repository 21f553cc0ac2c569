import { logger } from '@libp2p/logger'
import { equalBytes, noopMetrics, toHex } from '@icnet/types'
import { stateSyncMetrics } from './metrics.js'
import type { StateSyncMetrics } from './metrics.js'
import { SyncAbortedError } from './errors.js'
import { chunkHash, subManifestHash } from './hashing.js'
import { decodeMetaManifest, manifestFromSubManifests } from './manifest.js'
import type { ManifestBundle, MetaManifest } from './manifest.js'
import { BlockKind, contiguous } from './messages.js'
import type { CheckpointInfo } from './messages.js'
import { LOCAL_COPY_CONCURRENCY, MAX_PENDING_DELIVERIES } from './constants.js'
import { ChunkBufferPool, releaseChunk, verifyIntoBuffer } from './block-buffers.js'
import { FetchScheduler } from './scheduler.js'
import type { EvictionReason } from './scheduler.js'
import type { BlockSource } from './session.js'
import type { CheckpointStore, PendingCheckpoint } from './store.js'

const log = logger('icnet:state-sync:downloader')

export type ChunkSource = 'fetched' | 'copied' | 'resumed'

/** Emitted as the sync advances; enough for a progress bar. */
export interface SyncProgress {
  chunksTotal: number
  chunksDone: number
  bytesTotal: number
  bytesDone: number
  /** Chunk bytes that came over the network. */
  bytesFetched: number
  /** Chunk bytes taken from local data (older checkpoints, duplicates, an earlier partial download). */
  bytesCopied: number
  /** Peers still in use. */
  peers: number
  /** Network rate since the first fetch, bytes per second. */
  rate: number
}

export interface ChunkEventDetail {
  /** Indices in the chunk table that received these bytes. */
  indices: number[]
  hash: Uint8Array
  source: ChunkSource
  peer?: string
}

export interface SyncResult {
  height: bigint
  stateHash: Uint8Array
  /** True when the checkpoint was already installed and nothing was done. */
  alreadyInstalled: boolean
  chunksTotal: number
  chunksFetched: number
  chunksCopied: number
  chunksResumed: number
  bytesFetched: number
  bytesCopied: number
  /** Meta-manifest and sub-manifest bytes fetched. */
  manifestBytesFetched: number
  durationMs: number
  /** Blocks and bytes each peer delivered (chunks and manifest pieces). */
  perPeer: Record<string, { blocks: number, bytes: number }>
  evicted: Array<{ peer: string, reason: EvictionReason }>
}

export interface DownloaderOptions {
  /** Where to look for local chunks and where the checkpoint is written. */
  store: CheckpointStore
  /** The checkpoint to fetch; its state hash must already be trusted (a verified CUP). */
  target: CheckpointInfo
  /** Peers to fetch from. */
  sources: BlockSource[]
  signal?: AbortSignal
  chunkTimeoutMs?: number
  maxWindow?: number
  /** Re-read and re-hash every file from disk before installing (default false: file hashes come from the chunk hashes verified on receipt). */
  reread?: boolean
  metrics?: StateSyncMetrics
  /** Buffers for received chunks; pass the pool the sessions stream chunks into, so they are reused (default: a pool of its own). */
  buffers?: ChunkBufferPool
  /** Told about peers that sent a wrong block (for scoring). */
  onBadBlock?(peer: string): void
}

export interface DownloaderEvents {
  progress: CustomEvent<SyncProgress>
  chunk: CustomEvent<ChunkEventDetail>
  evicted: CustomEvent<{ peer: string, reason: EvictionReason }>
}

interface ChunkGroup { hash: Uint8Array, size: number, indices: number[] }

/**
 * Downloads one checkpoint: meta-manifest, sub-manifests (each checked against the state
 * hash), then every chunk not available locally, from all sources in parallel; writes each
 * verified chunk into the scratch area and installs the checkpoint once every file checks out.
 */
export class Downloader extends EventTarget {
  private readonly opts: DownloaderOptions
  private readonly metrics: StateSyncMetrics
  private readonly progress: SyncProgress
  private readonly evicted: SyncResult['evicted'] = []
  private fetchStarted = 0
  private readonly counts = { fetched: 0, copied: 0, resumed: 0, manifestBytes: 0 }
  /** Received chunks wait here (at most MAX_PENDING_DELIVERIES at once) between the network and the disk. */
  private readonly buffers: ChunkBufferPool

  constructor (opts: DownloaderOptions) {
    super()
    this.opts = opts
    this.metrics = opts.metrics ?? stateSyncMetrics(noopMetrics)
    this.buffers = opts.buffers ?? new ChunkBufferPool(MAX_PENDING_DELIVERIES)
    this.progress = { chunksTotal: 0, chunksDone: 0, bytesTotal: 0, bytesDone: 0, bytesFetched: 0, bytesCopied: 0, peers: opts.sources.length, rate: 0 }
  }

  /** Typed `addEventListener`. */
  on<K extends keyof DownloaderEvents> (type: K, listener: (e: DownloaderEvents[K]) => void): void {
    this.addEventListener(type, listener as unknown as (e: Event) => void)
  }

  async run (): Promise<SyncResult> {
    const started = performance.now()
    const { store, target, signal } = this.opts
    const result = (alreadyInstalled: boolean, scheduler?: FetchScheduler): SyncResult => ({
      height: target.height,
      stateHash: target.stateHash,
      alreadyInstalled,
      chunksTotal: this.progress.chunksTotal,
      chunksFetched: this.counts.fetched,
      chunksCopied: this.counts.copied,
      chunksResumed: this.counts.resumed,
      bytesFetched: this.progress.bytesFetched,
      bytesCopied: this.progress.bytesCopied,
      manifestBytesFetched: this.counts.manifestBytes,
      durationMs: performance.now() - started,
      perPeer: Object.fromEntries((scheduler?.peers ?? []).map(p => [p.source.peer, { blocks: p.blocks, bytes: p.bytes }])),
      evicted: [...this.evicted]
    })
    if (store.getManifest(target.stateHash) !== undefined) return result(true)

    const scheduler = new FetchScheduler(this.opts.sources, {
      chunkTimeoutMs: this.opts.chunkTimeoutMs,
      maxWindow: this.opts.maxWindow,
      maxPendingDeliveries: MAX_PENDING_DELIVERIES,
      signal,
      onEvict: (peer, reason) => {
        this.evicted.push({ peer, reason })
        this.metrics.evictions.inc(1, { reason })
        this.progress.peers = scheduler.livePeers.length
        this.metrics.peersInUse.set(this.progress.peers)
        this.dispatchEvent(new CustomEvent('evicted', { detail: { peer, reason } }))
      },
      onBadBlock: (peer) => {
        this.metrics.chunks.inc(1, { source: 'fetched', outcome: 'bad_hash' })
        this.opts.onBadBlock?.(peer)
      }
    })
    this.metrics.peersInUse.set(this.opts.sources.length)
    const endTimer = (result: string): void => { this.metrics.syncDuration.observe((performance.now() - started) / 1000, { result }) }
    let pending: PendingCheckpoint | undefined
    try {
      const bundle = await this.fetchManifest(scheduler)
      pending = await store.openPending(target, bundle)
      await this.fetchChunks(scheduler, bundle, pending)
      if (signal?.aborted === true) throw new SyncAbortedError()
      await pending.install({ reread: this.opts.reread })
      endTimer('ok')
      log('installed checkpoint %d: %d fetched, %d copied, %d resumed', target.height, this.counts.fetched, this.counts.copied, this.counts.resumed)
      return result(false, scheduler)
    } catch (err: any) {
      endTimer(signal?.aborted === true ? 'aborted' : 'error')
      await pending?.close().catch(() => {})
      if (signal?.aborted === true && !(err instanceof SyncAbortedError)) throw new SyncAbortedError(undefined, { cause: err })
      throw err
    } finally {
      this.metrics.peersInUse.set(0)
    }
  }

  private async fetchManifest (scheduler: FetchScheduler): Promise<ManifestBundle> {
    const { stateHash } = this.opts.target
    let meta: MetaManifest | undefined
    await scheduler.fetchAll([{
      kind: BlockKind.META_MANIFEST,
      hash: stateHash,
      verify: (bytes) => { try { meta = decodeMetaManifest(contiguous(bytes), stateHash); return true } catch { return false } },
      deliver: async (bytes) => { this.counts.manifestBytes += bytes.byteLength }
    }])
    const m = meta!
    const subs: Uint8Array[] = new Array(m.subManifestHashes.length)
    await scheduler.fetchAll(m.subManifestHashes.map((hash, i) => ({
      kind: BlockKind.SUB_MANIFEST,
      hash,
      verify: (bytes) => equalBytes(subManifestHash(contiguous(bytes)), hash),
      deliver: async (bytes) => { subs[i] = contiguous(bytes); this.counts.manifestBytes += bytes.byteLength }
    })))
    // Every piece matched the meta-manifest, which matched the state hash; decoding also
    // validates the tables and each file hash against its chunks.
    return manifestFromSubManifests(m, subs, stateHash)
  }

  private async fetchChunks (scheduler: FetchScheduler, bundle: ManifestBundle, pending: PendingCheckpoint): Promise<void> {
    const { chunkTable } = bundle.manifest
    this.progress.chunksTotal = chunkTable.length
    this.progress.bytesTotal = chunkTable.reduce((n, c) => n + c.sizeBytes, 0)

    // Identical content is fetched or copied once per hash, then written to every place it occurs.
    const groups = new Map<string, ChunkGroup>()
    chunkTable.forEach((c, i) => {
      const key = toHex(c.hash)
      const g = groups.get(key)
      if (g === undefined) groups.set(key, { hash: c.hash, size: c.sizeBytes, indices: [i] })
      else g.indices.push(i)
    })

    // Whole files identical to a file of an installed checkpoint are adopted (linked and
    // re-hashed by the store) instead of copied chunk by chunk.
    const resumed = new Set(pending.completed)
    await this.adoptFiles(bundle, pending)

    // Chunks present locally (an installed checkpoint, or a duplicate of a chunk resumed from
    // the journal) are copied while the network fetches the rest.
    const toFetch: ChunkGroup[] = []
    const toCopy: Array<{ g: ChunkGroup, from?: number }> = []
    for (const g of groups.values()) {
      const done = g.indices.filter(i => pending.completed.has(i))
      const todo = g.indices.filter(i => !pending.completed.has(i))
      const wasResumed = done.filter(i => resumed.has(i))
      if (wasResumed.length > 0) this.account(wasResumed, g, 'resumed')
      if (todo.length === 0) continue
      const rest = { ...g, indices: todo }
      if (done.length > 0) toCopy.push({ g: rest, from: done[0] })
      else if (this.opts.store.hasChunk(g.hash)) toCopy.push({ g: rest })
      else toFetch.push(rest)
    }

    const copyFailed: ChunkGroup[] = []
    const copyOne = async ({ g, from }: { g: ChunkGroup, from?: number }): Promise<void> => {
      const local = from !== undefined
        ? await pending.readChunk(from).catch(() => undefined)
        : await this.opts.store.readBlock(BlockKind.CHUNK, g.hash).catch(() => undefined)
      // Local data is verified like a peer's: a damaged local file is fetched instead.
      if (local === undefined || local.byteLength !== g.size || !equalBytes(chunkHash(local), g.hash)) { copyFailed.push(g); return }
      for (const i of g.indices) await pending.writeChunk(i, local)
      this.account(g.indices, g, 'copied')
    }
    const copyAll = async (): Promise<void> => {
      let next = 0
      await Promise.all(Array.from({ length: Math.min(LOCAL_COPY_CONCURRENCY, toCopy.length) }, async () => {
        while (next < toCopy.length) {
          if (this.opts.signal?.aborted === true) throw new SyncAbortedError()
          await copyOne(toCopy[next++]!)
        }
      }))
    }

    this.fetchStarted = performance.now()
    await Promise.all([copyAll(), this.fetchGroups(scheduler, toFetch, pending)])
    await this.fetchGroups(scheduler, copyFailed, pending)
  }

  /** Offers every file that has chunks left to the store for adoption (when it can), a few at a time. */
  private async adoptFiles (bundle: ManifestBundle, pending: PendingCheckpoint): Promise<void> {
    if (pending.adoptFile === undefined) return
    const { fileTable, chunkTable } = bundle.manifest
    const chunksOf: number[][] = fileTable.map(() => [])
    chunkTable.forEach((c, i) => { chunksOf[c.fileIndex]!.push(i) })
    const candidates = fileTable.map((_f, i) => i).filter(i => chunksOf[i]!.some(c => !pending.completed.has(c)) && this.opts.store.hasChunk(chunkTable[chunksOf[i]![0]!]!.hash))
    let next = 0
    await Promise.all(Array.from({ length: Math.min(LOCAL_COPY_CONCURRENCY, candidates.length) }, async () => {
      while (next < candidates.length) {
        if (this.opts.signal?.aborted === true) throw new SyncAbortedError()
        const f = candidates[next++]!
        const before = chunksOf[f]!.filter(i => !pending.completed.has(i))
        if (!await pending.adoptFile!(f)) continue
        for (const i of before) {
          const c = chunkTable[i]!
          this.account([i], { hash: c.hash, size: c.sizeBytes, indices: [i] }, 'copied')
        }
      }
    }))
  }

  private async fetchGroups (scheduler: FetchScheduler, groups: ChunkGroup[], pending: PendingCheckpoint): Promise<void> {
    await scheduler.fetchAll(groups.map(g => {
      // Set by a successful verify, taken by the delivery that always follows it (a task is
      // with one peer at a time, so one verification per group runs at once).
      let verified: Awaited<ReturnType<typeof verifyIntoBuffer>>
      return {
        kind: BlockKind.CHUNK,
        hash: g.hash,
        verify: async (bytes) => {
          if (bytes.byteLength !== g.size) { releaseChunk(bytes); return false }
          verified = await verifyIntoBuffer(this.buffers, bytes, g.hash)
          return verified !== undefined
        },
        deliver: async (_bytes, peer) => {
          const v = verified!
          verified = undefined
          try {
            for (const i of g.indices) await pending.writeChunk(i, v.bytes)
          } finally {
            v.pool.release(v.buffer)
          }
          // The first index came over the network; duplicates of it count as copies.
          this.account(g.indices.slice(0, 1), g, 'fetched', peer)
          if (g.indices.length > 1) this.account(g.indices.slice(1), g, 'copied')
          this.progress.peers = scheduler.livePeers.length
        }
      }
    }))
  }

  private account (indices: number[], g: ChunkGroup, source: ChunkSource, peer?: string): void {
    const bytes = indices.length * g.size
    this.counts[source] += indices.length
    this.progress.chunksDone += indices.length
    this.progress.bytesDone += bytes
    if (source === 'fetched') this.progress.bytesFetched += bytes
    else if (source === 'copied') this.progress.bytesCopied += bytes
    const elapsed = (performance.now() - this.fetchStarted) / 1000
    this.progress.rate = this.fetchStarted > 0 && elapsed > 0 ? this.progress.bytesFetched / elapsed : 0
    this.metrics.chunks.inc(indices.length, { source, outcome: 'ok' })
    this.metrics.bytes.inc(bytes, { source })
    this.dispatchEvent(new CustomEvent('chunk', { detail: { indices, hash: g.hash, source, peer } }))
    this.dispatchEvent(new CustomEvent('progress', { detail: { ...this.progress } }))
  }
}
