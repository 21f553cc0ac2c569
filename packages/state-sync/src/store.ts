import { copyFile, constants as fsConstants, link, mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { logger } from '@libp2p/logger'
import { equalBytes, NotFoundError, toHex } from '@icnet/types'
import { deferred } from './deferred.js'
import type { Deferred } from './deferred.js'
import { InstallVerificationError, InvalidManifestError } from './errors.js'
import { ChunkBufferPool, CHUNK_OFFSET, digestBufferedChunk } from './block-buffers.js'
import { DIRECT_WRITE_FLAGS, directWritable, isDirectIoRefusal } from './direct-io.js'
import { FdCache } from './fd-cache.js'
import { chunkHash, fileHash } from './hashing.js'
import { bundleManifest, computeManifest, decodeManifest, encodeManifest, localPath } from './manifest.js'
import type { ChunkEntry, Manifest, ManifestBundle, ManifestOptions } from './manifest.js'
import { BlockKind } from './messages.js'
import type { BlockData, CheckpointInfo } from './messages.js'

const log = logger('icnet:state-sync:store')

/**
 * Where checkpoints live. The service serves blocks from it and the downloader writes
 * into it; any libp2p project can implement it over its own storage.
 */
export interface CheckpointStore {
  /** Checkpoints this node can serve, newest first. */
  list(): CheckpointInfo[]
  /** The manifest bundle of an installed checkpoint. */
  getManifest(stateHash: Uint8Array): ManifestBundle | undefined
  /** A block by kind and hash: a chunk of any installed checkpoint, a sub-manifest, or a meta-manifest (by state hash). */
  readBlock(kind: BlockKind, hash: Uint8Array): Promise<Uint8Array | undefined>
  /** Whether an installed checkpoint holds a chunk with this hash (so a sync can copy it instead of fetching). */
  hasChunk(hash: Uint8Array): boolean
  /** Opens (or resumes) the scratch area for a checkpoint being downloaded. */
  openPending(info: CheckpointInfo, bundle: ManifestBundle): Promise<PendingCheckpoint>
}

/** A checkpoint being downloaded: verified chunks go into place, progress survives a restart. */
export interface PendingCheckpoint {
  /** Indices (into the chunk table) of chunks already verified and written, e.g. before a restart. */
  readonly completed: ReadonlySet<number>
  /** Writes a chunk whose hash the caller has verified, and records it as done. */
  writeChunk(index: number, bytes: BlockData): Promise<void>
  /**
   * Optional: gives file `fileIndex` the bytes of an identical file (same file hash) of an
   * installed checkpoint without copying them through the caller (the file-system store
   * hard-links it). Every chunk of the file is re-hashed from disk before it counts as
   * complete; resolves true when all of them matched and were recorded, false when there
   * was nothing to adopt or the local file did not check out (the scratch file is then as before).
   */
  adoptFile?(fileIndex: number): Promise<boolean>
  /** Optional: chunks written so far with O_DIRECT and through the page cache (for metrics and tests). */
  readonly writeCounts?: { readonly direct: number, readonly cached: number }
  /** Reads back a completed chunk (to copy it to a duplicate). */
  readChunk(index: number): Promise<Uint8Array>
  /**
   * Checks every file against the manifest and atomically moves the checkpoint into place.
   * By default file hashes are recomputed from the chunk hashes verified on receipt;
   * `reread: true` re-reads and re-hashes every file from disk first.
   */
  install(opts?: { reread?: boolean }): Promise<void>
  /** Closes files, keeping progress for a later resume. */
  close(): Promise<void>
  /** Deletes the scratch area. */
  discard(): Promise<void>
}

interface ChunkLocation { dir: string, path: string, offset: number, size: number }

interface InstalledCheckpoint { info: CheckpointInfo, dir: string, bundle: ManifestBundle }

function heightName (h: bigint): string { return h.toString().padStart(20, '0') }

async function readExactly (fh: FileHandle, len: number, offset: number): Promise<Uint8Array> {
  const buf = Buffer.allocUnsafe(len)
  let got = 0
  while (got < len) {
    const { bytesRead } = await fh.read(buf, got, len - got, offset + got)
    if (bytesRead === 0) throw new NotFoundError('file shorter than its manifest')
    got += bytesRead
  }
  return new Uint8Array(buf.buffer, buf.byteOffset, len)
}

/** Reads up to `len` bytes at `offset` into `buf` at `at`; returns how many it got (fewer only at the end of the file). */
async function readInto (fh: FileHandle, buf: Uint8Array, at: number, len: number, offset: number): Promise<number> {
  let got = 0
  while (got < len) {
    const { bytesRead } = await fh.read(buf, at + got, len - got, offset + got)
    if (bytesRead === 0) break
    got += bytesRead
  }
  return got
}

/** Writes all of `bytes` at `offset` (null: at the end of a file opened for appending). */
async function writeFully (fh: FileHandle, bytes: Uint8Array, offset: number | null): Promise<void> {
  let done = 0
  while (done < bytes.length) {
    const { bytesWritten } = await fh.write(bytes, done, bytes.length - done, offset === null ? null : offset + done)
    done += bytesWritten
  }
}

/** Writes a chunk that may be in pieces with one vectored write (no joining copy). */
async function writeBlock (fh: FileHandle, data: BlockData, offset: number): Promise<void> {
  if (data instanceof Uint8Array) { await writeFully(fh, data, offset); return }
  const parts = [...data]
  const { bytesWritten } = await fh.writev(parts, offset)
  // A short vectored write is rare; finish it with plain writes.
  if (bytesWritten < data.byteLength) await writeFully(fh, data.subarray(bytesWritten), offset + bytesWritten)
}

/**
 * Open files kept per store (serving) and per download (writing). A chunk is 1 MiB, so an
 * open and a close per chunk cost as much as the read or write itself; 64 handles cover
 * the files a sync touches at once (chunks are fetched roughly in file order).
 */
const READ_HANDLES = 64
const WRITE_HANDLES = 64

/** File creations (and install's size checks) in flight at once: enough to keep libuv's 4 pool threads busy. */
const FILE_SETUP_CONCURRENCY = 16

/** Runs `fn(0..count-1)` with at most `limit` calls in flight; rejects with the first failure. */
async function forEachLimited (count: number, limit: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0
  let failed = false
  await Promise.all(Array.from({ length: Math.min(limit, count) }, async () => {
    while (!failed && next < count) {
      try { await fn(next++) } catch (err) { failed = true; throw err }
    }
  }))
}

export interface FsCheckpointStoreOptions extends ManifestOptions {
  /**
   * Write downloaded chunks with O_DIRECT where the file system takes it (default true):
   * they then bypass the page cache, which is far cheaper on virtual machines that give
   * freed memory back to their host, and leaves the node's cached state alone. See
   * `direct-io.ts`; false writes everything through the page cache.
   */
  directWrites?: boolean
}

/**
 * A file-system checkpoint store:
 * `root/checkpoints/<height>/…` (state files), `root/manifests/<height>.manifest`
 * (encoded manifest), `root/scratch/<height>-<state hash>/` plus `.journal` (downloads in progress).
 * Installed checkpoints are immutable; the chunk index covers all of them.
 */
export class FsCheckpointStore implements CheckpointStore {
  readonly root: string
  private readonly opts: FsCheckpointStoreOptions
  private readonly checkpoints = new Map<string, InstalledCheckpoint>()
  private readonly chunks = new Map<string, ChunkLocation>()
  private readonly subManifests = new Map<string, Uint8Array>()
  /** Installed files by file hash (V3 file hashes cover sizes, offsets and chunk hashes, not the path). */
  private readonly files = new Map<string, { dir: string, path: string, size: number }>()
  /** Installed checkpoints are immutable, so their files can stay open for serving. */
  private readonly readers = new FdCache('r', READ_HANDLES)

  private constructor (root: string, opts: FsCheckpointStoreOptions) {
    this.root = root
    this.opts = opts
  }

  /** Opens a store, loading (or computing, for a checkpoint written without one) every manifest. */
  static async open (root: string, opts: FsCheckpointStoreOptions = {}): Promise<FsCheckpointStore> {
    const store = new FsCheckpointStore(root, opts)
    await mkdir(join(root, 'checkpoints'), { recursive: true })
    await mkdir(join(root, 'manifests'), { recursive: true })
    await mkdir(join(root, 'scratch'), { recursive: true })
    for (const name of (await readdir(join(root, 'checkpoints'))).sort()) {
      if (!/^\d{20}$/.test(name)) continue
      await store.load(BigInt(name))
    }
    return store
  }

  /** The directory to write a new local checkpoint into before calling `addCheckpoint`. */
  checkpointDir (height: bigint): string {
    return join(this.root, 'checkpoints', heightName(height))
  }

  /** Registers a checkpoint written into `checkpointDir(height)`: computes and stores its manifest. */
  async addCheckpoint (height: bigint): Promise<CheckpointInfo> {
    const manifestPath = join(this.root, 'manifests', `${heightName(height)}.manifest`)
    await rm(manifestPath, { force: true })
    return await this.load(height)
  }

  /**
   * Registers a checkpoint written into `checkpointDir(height)` whose manifest the caller
   * already has (computed incrementally from dirty chunks): stores and indexes it without
   * re-reading the files, so a running store serves it at once. The caller vouches that the
   * manifest describes the directory; a sync peer still checks every chunk it receives.
   */
  async registerCheckpoint (height: bigint, manifest: Manifest): Promise<CheckpointInfo> {
    const manifestPath = join(this.root, 'manifests', `${heightName(height)}.manifest`)
    await writeFile(`${manifestPath}.tmp`, encodeManifest(manifest))
    await rename(`${manifestPath}.tmp`, manifestPath)
    const bundle = bundleManifest(manifest, this.opts)
    const info = { height, stateHash: bundle.stateHash }
    this.index({ info, dir: this.checkpointDir(height), bundle })
    return info
  }

  /** Forgets a checkpoint and deletes its files; chunks it shared with others stay served. */
  async removeCheckpoint (height: bigint): Promise<void> {
    const dir = this.checkpointDir(height)
    for (const [key, cp] of this.checkpoints) {
      if (cp.info.height === height) this.checkpoints.delete(key)
    }
    await this.readers.closeUnder(dir)
    // Rebuild the indexes from what is left, so no chunk or sub-manifest points into the removed files.
    this.chunks.clear()
    this.subManifests.clear()
    this.files.clear()
    for (const cp of [...this.checkpoints.values()]) this.index(cp)
    await rm(dir, { recursive: true, force: true })
    await rm(join(this.root, 'manifests', `${heightName(height)}.manifest`), { force: true })
  }

  private async load (height: bigint): Promise<CheckpointInfo> {
    const dir = this.checkpointDir(height)
    const manifestPath = join(this.root, 'manifests', `${heightName(height)}.manifest`)
    let manifest: Manifest
    try {
      manifest = decodeManifest(await readFile(manifestPath))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' && !(err instanceof InvalidManifestError)) throw err
      manifest = await computeManifest(dir, this.opts)
      await writeFile(`${manifestPath}.tmp`, encodeManifest(manifest))
      await rename(`${manifestPath}.tmp`, manifestPath)
    }
    const bundle = bundleManifest(manifest, this.opts)
    const info = { height, stateHash: bundle.stateHash }
    this.index({ info, dir, bundle })
    return info
  }

  private index (cp: InstalledCheckpoint): void {
    this.checkpoints.set(toHex(cp.info.stateHash), cp)
    const { fileTable, chunkTable } = cp.bundle.manifest
    for (const f of fileTable) {
      const key = toHex(f.hash)
      if (!this.files.has(key)) this.files.set(key, { dir: cp.dir, path: f.relativePath, size: f.sizeBytes })
    }
    for (const c of chunkTable) {
      const key = toHex(c.hash)
      if (!this.chunks.has(key)) this.chunks.set(key, { dir: cp.dir, path: fileTable[c.fileIndex]!.relativePath, offset: c.offset, size: c.sizeBytes })
    }
    cp.bundle.subManifests.forEach((s, i) => { this.subManifests.set(toHex(cp.bundle.meta.subManifestHashes[i]!), s) })
    log('indexed checkpoint %d (%s): %d files, %d chunks', cp.info.height, toHex(cp.info.stateHash).slice(0, 16), fileTable.length, chunkTable.length)
  }

  list (): CheckpointInfo[] {
    return [...this.checkpoints.values()].map(c => c.info).sort((a, b) => (a.height < b.height ? 1 : a.height > b.height ? -1 : 0))
  }

  getManifest (stateHash: Uint8Array): ManifestBundle | undefined {
    return this.checkpoints.get(toHex(stateHash))?.bundle
  }

  /** The path of an installed file with this file hash and size, if any (installed checkpoints are immutable). */
  installedFile (hash: Uint8Array, size: number): string | undefined {
    const f = this.files.get(toHex(hash))
    return f !== undefined && f.size === size ? localPath(f.dir, f.path) : undefined
  }

  hasChunk (hash: Uint8Array): boolean {
    return this.chunks.has(toHex(hash))
  }

  async readBlock (kind: BlockKind, hash: Uint8Array): Promise<Uint8Array | undefined> {
    const key = toHex(hash)
    switch (kind) {
      case BlockKind.META_MANIFEST: return this.checkpoints.get(key)?.bundle.metaBytes
      case BlockKind.SUB_MANIFEST: return this.subManifests.get(key)
      case BlockKind.CHUNK: {
        const loc = this.chunks.get(key)
        if (loc === undefined) return undefined
        return await this.readers.use(localPath(loc.dir, loc.path), async fh => await readExactly(fh, loc.size, loc.offset))
      }
      default: return undefined
    }
  }

  async openPending (info: CheckpointInfo, bundle: ManifestBundle): Promise<PendingCheckpoint> {
    const dir = join(this.root, 'scratch', `${heightName(info.height)}-${toHex(info.stateHash)}`)
    const pending = new FsPendingCheckpoint(this, info, bundle, dir, this.opts.directWrites ?? true)
    await pending.open()
    return pending
  }

  /** Closes the files kept open for serving. The store must not be used afterwards. */
  async close (): Promise<void> {
    await this.readers.close()
  }

  /** Moves a finished scratch directory into place and indexes it. */
  async installFrom (scratchDir: string, info: CheckpointInfo, bundle: ManifestBundle): Promise<void> {
    const dir = this.checkpointDir(info.height)
    const existing = await stat(dir).catch(() => undefined)
    if (existing !== undefined) throw new InstallVerificationError(`a checkpoint at height ${info.height} is already installed`)
    const manifestPath = join(this.root, 'manifests', `${heightName(info.height)}.manifest`)
    await writeFile(`${manifestPath}.tmp`, encodeManifest(bundle.manifest))
    await rename(`${manifestPath}.tmp`, manifestPath)
    // The rename is the commit point: a crash before it leaves only scratch data behind.
    await rename(scratchDir, dir)
    this.index({ info, dir, bundle })
  }
}

const JOURNAL_ENTRY_BYTES = 4

/**
 * Scratch directory plus an append-only journal of verified chunk indices (u32 BE).
 *
 * Ordering: a chunk's bytes are written before its index is appended, so the journal never
 * names a chunk whose write had not completed. Neither is fsynced: after a crash the
 * journal may name a chunk whose bytes did not reach the disk, so a resume re-hashes every
 * journaled chunk and refetches the ones that do not match. A verified chunk is therefore
 * either recorded and on disk, or fetched again — never installed unverified.
 */
class FsPendingCheckpoint implements PendingCheckpoint {
  readonly completed = new Set<number>()
  private journal?: FileHandle
  private readonly journalPath: string
  private readonly writers = new FdCache('r+', WRITE_HANDLES)
  /** Handles opened with O_DIRECT, while `direct` (see `writeChunk`). */
  private readonly directWriters = DIRECT_WRITE_FLAGS === undefined ? undefined : new FdCache(DIRECT_WRITE_FLAGS, WRITE_HANDLES)
  /** Group commit: indices written while the previous append was running go out in one append. */
  private batch: number[] = []
  private batchDone?: Deferred<void>
  private appending?: Promise<void>

  readonly writeCounts = { direct: 0, cached: 0 }
  /** Whether chunks are still tried with O_DIRECT: off when asked, or once the file system refused to open a file with it. */
  private direct: boolean

  constructor (private readonly store: FsCheckpointStore, private readonly info: CheckpointInfo, private readonly bundle: ManifestBundle, private readonly dir: string, directWrites: boolean) {
    this.direct = directWrites && this.directWriters !== undefined
    this.journalPath = `${dir}.journal`
  }

  async open (): Promise<void> {
    const { fileTable, chunkTable } = this.bundle.manifest
    // Every file gets its final size up front (sparse), so chunks can land in any order.
    // A checkpoint has a file per canister memory, queue…: thousands of small files, so
    // they are created FILE_SETUP_CONCURRENCY at a time, with one mkdir per directory.
    const paths = fileTable.map(f => localPath(this.dir, f.relativePath))
    for (const d of new Set(paths.map(p => dirname(p)))) await mkdir(d, { recursive: true })
    await forEachLimited(fileTable.length, FILE_SETUP_CONCURRENCY, async i => {
      // O_CREAT without O_TRUNC keeps what an earlier partial download wrote; ftruncate to
      // the size it already has is a no-op.
      const fh = await open(paths[i]!, fsConstants.O_CREAT | fsConstants.O_WRONLY)
      try { await fh.truncate(fileTable[i]!.sizeBytes) } finally { await fh.close() }
    })
    // Resume: a journaled chunk counts only if what is on disk still hashes right.
    const journal = await readFile(this.journalPath).catch(() => new Uint8Array(0))
    const view = new DataView(journal.buffer, journal.byteOffset, journal.byteLength)
    const claimed = new Set<number>()
    for (let o = 0; o + JOURNAL_ENTRY_BYTES <= journal.byteLength; o += JOURNAL_ENTRY_BYTES) {
      const i = view.getUint32(o, false)
      if (i < chunkTable.length) claimed.add(i)
    }
    for (const i of claimed) {
      const bytes = await this.readChunk(i).catch(() => undefined)
      if (bytes !== undefined && equalBytes(chunkHash(bytes), chunkTable[i]!.hash)) this.completed.add(i)
    }
    if (claimed.size > 0) log('resuming %s: %d/%d journaled chunks verified', this.dir, this.completed.size, claimed.size)
    this.journal = await open(this.journalPath, 'a')
  }

  async writeChunk (index: number, bytes: BlockData): Promise<void> {
    const c = this.chunk(index)
    if (bytes.byteLength !== c.sizeBytes) throw new InstallVerificationError(`chunk ${index} has the wrong size`)
    if (await this.writeDirect(c, bytes)) this.writeCounts.direct++
    else {
      await this.writers.use(this.pathOf(c), async fh => { await writeBlock(fh, bytes, c.offset) })
      this.writeCounts.cached++
    }
    await this.record(index)
    this.completed.add(index)
  }

  /**
   * Writes a chunk with O_DIRECT when it can: whole blocks at an aligned offset, from one
   * buffer. False when it did not, and the caller writes the whole chunk through the page
   * cache: a tail, a buffer the kernel finds misaligned, or a file that does not open with
   * O_DIRECT (then no later chunk of this download tries again).
   */
  private async writeDirect (c: ChunkEntry, bytes: BlockData): Promise<boolean> {
    if (!this.direct || !(bytes instanceof Uint8Array) || !directWritable(c.sizeBytes, c.offset)) return false
    let opened = false
    try {
      await this.directWriters!.use(this.pathOf(c), async fh => { opened = true; await writeFully(fh, bytes, c.offset) })
      return true
    } catch (err) {
      // An open that fails with O_DIRECT (EINVAL on file systems without it; other codes on
      // some) ends O_DIRECT for this download: the page-cache path opens the file as before
      // and reports any real error. A refused write (this buffer) falls back for this chunk.
      if (!opened) {
        this.direct = false
        log('%s: cannot open with O_DIRECT (%s), writing through the page cache', this.dir, (err as { code?: string }).code)
        return false
      }
      if (isDirectIoRefusal(err)) return false
      throw err
    }
  }

  /** Appends `index` to the journal together with every other index recorded meanwhile. */
  private async record (index: number): Promise<void> {
    this.batch.push(index)
    this.batchDone ??= deferred<void>()
    const done = this.batchDone.promise
    this.appending ??= this.appendBatches().finally(() => { this.appending = undefined })
    await done
  }

  private async appendBatches (): Promise<void> {
    while (this.batch.length > 0) {
      const indices = this.batch
      const done = this.batchDone!
      this.batch = []
      this.batchDone = undefined
      try {
        if (this.journal === undefined) throw new InstallVerificationError('download closed')
        const entries = new Uint8Array(indices.length * JOURNAL_ENTRY_BYTES)
        const view = new DataView(entries.buffer)
        indices.forEach((i, k) => { view.setUint32(k * JOURNAL_ENTRY_BYTES, i, false) })
        await writeFully(this.journal, entries, null)
        done.resolve()
      } catch (err) {
        done.reject(err as Error)
      }
    }
  }

  async adoptFile (fileIndex: number): Promise<boolean> {
    const { fileTable, chunkTable } = this.bundle.manifest
    const f = fileTable[fileIndex]
    if (f === undefined) throw new NotFoundError(`no file ${fileIndex}`)
    const source = this.store.installedFile(f.hash, f.sizeBytes)
    if (source === undefined || f.sizeBytes === 0) return false
    const indices: number[] = []
    chunkTable.forEach((c, i) => { if (c.fileIndex === fileIndex) indices.push(i) })
    if (indices.every(i => this.completed.has(i))) return false
    const target = localPath(this.dir, f.relativePath)
    if (!await this.writers.forget(target) || !(await this.directWriters?.forget(target) ?? true)) return false
    // Installed checkpoints are never written in place, so the scratch file may share their
    // inode (message routing links unchanged files between its checkpoints the same way).
    // Across file systems, a copy (a reflink where the file system has them) does instead.
    // Staged beside the scratch directory, not in it: a crash here must not leave a stray file in the checkpoint.
    const staged = `${this.dir}.adopt-${fileIndex}`
    await rm(staged, { force: true })
    await link(source, staged).catch(async () => { await copyFile(source, staged, fsConstants.COPYFILE_FICLONE) })
    // Local data is verified like a peer's before any of it counts.
    const buffers = new ChunkBufferPool(1)
    const buffer = buffers.acquire()
    let ok = true
    const fh = await open(staged, 'r')
    try {
      for (const i of indices) {
        const c = chunkTable[i]!
        const got = await readInto(fh, buffer, CHUNK_OFFSET, c.sizeBytes, c.offset)
        if (got !== c.sizeBytes || !equalBytes(await digestBufferedChunk(buffer, c.sizeBytes), c.hash)) { ok = false; break }
      }
    } finally { await fh.close() }
    if (!ok) {
      await rm(staged, { force: true })
      return false
    }
    await rename(staged, target)
    const fresh = indices.filter(i => !this.completed.has(i))
    await Promise.all(fresh.map(async i => { await this.record(i) }))
    for (const i of fresh) this.completed.add(i)
    return true
  }

  async readChunk (index: number): Promise<Uint8Array> {
    const c = this.chunk(index)
    return await this.writers.use(this.pathOf(c), async fh => await readExactly(fh, c.sizeBytes, c.offset))
  }

  private pathOf (c: ChunkEntry): string {
    return localPath(this.dir, this.bundle.manifest.fileTable[c.fileIndex]!.relativePath)
  }

  private chunk (index: number): ChunkEntry {
    const c = this.bundle.manifest.chunkTable[index]
    if (c === undefined) throw new NotFoundError(`no chunk ${index}`)
    return c
  }

  /**
   * With `reread: false` the check rests on two facts: the manifest was validated so that
   * each file hash is the hash of its chunk table (`validateManifest`), and `completed`
   * only holds chunks whose bytes hashed to their table entry before they were written
   * (or were re-hashed from disk on resume). So every chunk being complete and every file
   * having its size means every file hashes to the manifest, without reading it again.
   * `reread: true` re-reads and re-hashes every byte, which also catches the disk losing
   * a write between download and install.
   */
  async install (opts: { reread?: boolean } = {}): Promise<void> {
    const { fileTable, chunkTable } = this.bundle.manifest
    if (this.completed.size !== chunkTable.length) throw new InstallVerificationError(`${chunkTable.length - this.completed.size} chunks missing`)
    await this.close()
    const perFile: ChunkEntry[][] = fileTable.map(() => [])
    for (const c of chunkTable) perFile[c.fileIndex]!.push(c)
    await forEachLimited(fileTable.length, FILE_SETUP_CONCURRENCY, async i => {
      const f = fileTable[i]!
      const st = await stat(localPath(this.dir, f.relativePath))
      if (st.size !== f.sizeBytes) throw new InstallVerificationError(`${f.relativePath} has the wrong size`)
      let chunks = perFile[i]!
      if (opts.reread === true) {
        const fh = await open(localPath(this.dir, f.relativePath), 'r')
        try {
          const fresh: ChunkEntry[] = []
          for (const c of chunks) fresh.push({ ...c, hash: chunkHash(await readExactly(fh, c.sizeBytes, c.offset)) })
          chunks = fresh
        } finally { await fh.close() }
      }
      if (!equalBytes(fileHash(chunks), f.hash)) throw new InstallVerificationError(`${f.relativePath} does not hash to the manifest`)
    })
    await this.store.installFrom(this.dir, this.info, this.bundle)
    await rm(this.journalPath, { force: true })
  }

  async close (): Promise<void> {
    await this.appending?.catch(() => {})
    await this.writers.close()
    await this.directWriters?.close()
    await this.journal?.close()
    this.journal = undefined
  }

  async discard (): Promise<void> {
    await this.close()
    await rm(this.dir, { recursive: true, force: true })
    await rm(this.journalPath, { force: true })
  }
}
