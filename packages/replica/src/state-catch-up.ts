import {
  Downloader, FsCheckpointStore,
  type BlockKind, type CheckpointInfo, type CheckpointStore, type ManifestBundle, type PeerSession, type PendingCheckpoint, type StateSyncService
} from '@icnet/state-sync'
import { toHex } from '@icnet/types'
import type { StructuredLog } from './log.js'

/** Pause between attempts while no peer serves the checkpoint yet (peers index it right after writing it). */
export const SYNC_RETRY_MS = 1_000
/**
 * Peers an attempt evicted (a wrong block, a stall) left out of the next attempts
 * of the same catch-up, at most this many. A staller costs the chunk timeout once
 * per phase it is asked in, and a checkpoint is kept only a few intervals, so
 * asking it again each attempt could keep every attempt too slow to finish.
 */
export const MAX_EXCLUDED_PEERS = 64
/** A chunk not received within this long is asked of another peer. */
export const SYNC_CHUNK_TIMEOUT_MS = 10_000

export interface CheckpointTarget {
  height: number
  /** The state hash (meta-manifest hash) a verified consensus catch-up package names. */
  stateHash: Uint8Array
}

/** What one catch-up by state sync did (logged, and returned to the replica's own log line). */
export interface CheckpointSyncReport {
  height: number
  alreadyInstalled: boolean
  /** Chunk bytes received from peers (manifests not included). */
  bytesFetched: number
  /** Chunk bytes found in the node's own older checkpoint and copied instead of fetched. */
  bytesCopied: number
  /** Meta-manifest and sub-manifest bytes received from peers. */
  manifestBytesFetched: number
  chunksFetched: number
  chunksCopied: number
  /** Peers fetched from in the attempt that succeeded. */
  peers: number
  attempts: number
}

/**
 * Downloads and installs the checkpoint a consensus catch-up package names,
 * from the peers that serve it, retrying until it is installed or `signal`
 * aborts.
 *
 * Why not `StateSyncService.sync`: that takes state sync's own CUP, whose
 * threshold signature covers `(height, state hash)`; the consensus CUP's
 * signature covers the content hash of `(block, beacon, state hash)`. Consensus
 * verified that signature before it adopted the CUP, so the state hash is
 * already trusted here, and the `Downloader` checks every manifest and chunk
 * against it. Neither format has to be converted into the other, and no extra
 * signature round is needed.
 */
export async function syncCheckpoint (opts: {
  service: StateSyncService
  store: CheckpointStore
  /** The checkpoint to fetch, asked again before every attempt (consensus may move to a newer CUP meanwhile). */
  target: () => CheckpointTarget
  signal: AbortSignal
  log: StructuredLog
}): Promise<CheckpointSyncReport> {
  const { service, store, signal, log } = opts
  const excluded = new Set<string>()
  for (let attempt = 1; ; attempt++) {
    signal.throwIfAborted()
    const target = opts.target()
    const info = { height: BigInt(target.height), stateHash: target.stateHash }
    if (store.getManifest(target.stateHash) !== undefined) {
      return { height: target.height, alreadyInstalled: true, bytesFetched: 0, bytesCopied: 0, manifestBytesFetched: 0, chunksFetched: 0, chunksCopied: 0, peers: 0, attempts: attempt }
    }
    const serving = await service.peersServing(target.stateHash, { signal }).catch(() => [])
    let peers = serving.filter(p => !excluded.has(p.toString()))
    // Every serving peer misbehaved once: give them another chance rather than wait forever.
    if (peers.length === 0 && serving.length > 0) { excluded.clear(); peers = serving }
    const sessions: PeerSession[] = []
    for (const p of peers) {
      try { sessions.push(await service.openSession(p, { signal })) } catch { /* another peer may serve it */ }
    }
    if (sessions.length > 0) {
      try {
        // The service's metrics: chunks, bytes and evicted peers show on /metrics (icnet_state_sync_*).
        const downloader = new Downloader({ store, target: info, sources: sessions, signal, chunkTimeoutMs: SYNC_CHUNK_TIMEOUT_MS, metrics: service.metrics })
        downloader.on('evicted', e => {
          log.warn('state sync evicted a peer', { peer: e.detail.peer, reason: e.detail.reason, height: target.height })
          if (e.detail.reason !== 'gone' && excluded.size < MAX_EXCLUDED_PEERS) excluded.add(e.detail.peer)
        })
        const result = await downloader.run()
        const report: CheckpointSyncReport = {
          height: target.height,
          alreadyInstalled: result.alreadyInstalled,
          bytesFetched: result.bytesFetched,
          bytesCopied: result.bytesCopied,
          manifestBytesFetched: result.manifestBytesFetched,
          chunksFetched: result.chunksFetched,
          chunksCopied: result.chunksCopied,
          peers: sessions.length,
          attempts: attempt
        }
        log.info('state synced from peers', { ...report, stateHash: toHex(target.stateHash).slice(0, 16), downloadMs: result.durationMs })
        return report
      } catch (err) {
        if (signal.aborted) throw err
        log.warn('state sync attempt failed', { height: target.height, attempt, err })
      } finally {
        for (const s of sessions) s.close()
      }
    } else if (attempt % 10 === 1) {
      log.info('waiting for a peer that serves the checkpoint', { height: target.height, stateHash: toHex(target.stateHash).slice(0, 16) })
    }
    await new Promise(resolve => setTimeout(resolve, SYNC_RETRY_MS))
  }
}

/**
 * The state-sync store over message routing's checkpoint directory, reopened
 * after every checkpoint. Message routing prunes old checkpoints itself; an
 * `FsCheckpointStore` indexes each chunk at the first checkpoint that had it,
 * so a long-lived index would point at pruned files. A fresh index of what is
 * on disk (manifests are read, not recomputed) avoids that.
 */
export class LiveCheckpointStore implements CheckpointStore {
  private current: FsCheckpointStore
  /** The one before `current`, closed at the next refresh (reads in flight finish). */
  private previous?: FsCheckpointStore
  private readonly root: string

  private constructor (root: string, store: FsCheckpointStore) {
    this.root = root
    this.current = store
  }

  static async open (root: string): Promise<LiveCheckpointStore> {
    return new LiveCheckpointStore(root, await FsCheckpointStore.open(root))
  }

  get store (): FsCheckpointStore { return this.current }

  /** Re-indexes the directory; returns what it now serves, newest first. */
  async refresh (): Promise<CheckpointInfo[]> {
    const next = await FsCheckpointStore.open(this.root)
    await this.previous?.close()
    this.previous = this.current
    this.current = next
    return next.list()
  }

  list (): CheckpointInfo[] { return this.current.list() }
  getManifest (stateHash: Uint8Array): ManifestBundle | undefined { return this.current.getManifest(stateHash) }
  async readBlock (kind: BlockKind, hash: Uint8Array): Promise<Uint8Array | undefined> { return await this.current.readBlock(kind, hash) }
  hasChunk (hash: Uint8Array): boolean { return this.current.hasChunk(hash) }
  async openPending (info: CheckpointInfo, bundle: ManifestBundle): Promise<PendingCheckpoint> { return await this.current.openPending(info, bundle) }

  async close (): Promise<void> {
    await this.previous?.close()
    await this.current.close()
  }
}
