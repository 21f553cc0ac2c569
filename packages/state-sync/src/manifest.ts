import { open, readdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { equalBytes, LimitExceededError } from '@icnet/types'
import {
  DEFAULT_CHUNK_SIZE, DEFAULT_SUB_MANIFEST_SIZE, MANIFEST_VERSION, MAX_BLOCK_BYTES, MAX_MANIFEST_CHUNKS,
  MAX_MANIFEST_FILES, MAX_PATH_BYTES, MAX_SUB_MANIFESTS
} from './constants.js'
import { InvalidManifestError } from './errors.js'
import { chunkHash, fileHash, HASH_BYTES, metaManifestHash, subManifestHash } from './hashing.js'
import { Manifest as ManifestCodec, MetaManifest as MetaManifestCodec } from './pb/manifest.js'
import type { ChunkInfo, FileInfo } from './pb/manifest.js'

export type FileEntry = FileInfo
export type ChunkEntry = ChunkInfo

/** A checkpoint's manifest: files in path order, chunks grouped by file in offset order. */
export interface Manifest {
  version: number
  fileTable: FileEntry[]
  chunkTable: ChunkEntry[]
}

/** The meta-manifest: the hashes of the encoded manifest's pieces. Its hash is the state hash. */
export interface MetaManifest {
  version: number
  subManifestHashes: Uint8Array[]
}

/** A manifest with everything a peer serves for it: the meta-manifest and the sub-manifests. */
export interface ManifestBundle {
  manifest: Manifest
  meta: MetaManifest
  metaBytes: Uint8Array
  subManifests: Uint8Array[]
  stateHash: Uint8Array
}

export interface ManifestOptions {
  /** Chunk size in bytes (default 1 MiB, at most 1 MiB so every chunk fits one block). */
  chunkSize?: number
  /** Sub-manifest size in bytes (default 1 MiB). */
  subManifestSize?: number
}

function chunkSizeOf (opts: ManifestOptions): number {
  const cs = opts.chunkSize ?? DEFAULT_CHUNK_SIZE
  if (!Number.isInteger(cs) || cs <= 0 || cs > MAX_BLOCK_BYTES) throw new LimitExceededError(`chunk size must be in 1..${MAX_BLOCK_BYTES}`)
  return cs
}

const utf8 = new TextEncoder()

/** Paths are ordered by their UTF-8 bytes, so every implementation sorts alike. */
export function comparePaths (a: string, b: string): number {
  return Buffer.compare(utf8.encode(a), utf8.encode(b))
}

/** Every regular file under `dir`, as `/`-separated relative paths in byte order. Symlinks are refused. */
export async function listFiles (dir: string): Promise<Array<{ path: string, size: number }>> {
  const out: Array<{ path: string, size: number }> = []
  const walk = async (rel: string): Promise<void> => {
    const entries = await readdir(join(dir, rel), { withFileTypes: true })
    for (const e of entries) {
      const r = rel === '' ? e.name : `${rel}/${e.name}`
      if (e.isDirectory()) await walk(r)
      else if (e.isFile()) out.push({ path: r, size: (await stat(join(dir, r))).size })
      else throw new InvalidManifestError(`not a regular file: ${r}`)
    }
  }
  await walk('')
  if (out.length > MAX_MANIFEST_FILES) throw new LimitExceededError(`more than ${MAX_MANIFEST_FILES} files`)
  return out.sort((a, b) => comparePaths(a.path, b.path))
}

export function localPath (dir: string, relativePath: string): string {
  return join(dir, ...relativePath.split('/'))
}

/** Hashes the chunks `indices` of one file (all when omitted), reading each once. */
async function hashFileChunks (path: string, size: number, chunkSize: number, indices: Iterable<number>): Promise<Map<number, Uint8Array>> {
  const out = new Map<number, Uint8Array>()
  const fh = await open(path, 'r')
  try {
    const buf = Buffer.allocUnsafe(Math.min(chunkSize, Math.max(size, 1)))
    for (const i of indices) {
      const offset = i * chunkSize
      const len = Math.min(chunkSize, size - offset)
      let got = 0
      while (got < len) {
        const { bytesRead } = await fh.read(buf, got, len - got, offset + got)
        if (bytesRead === 0) throw new InvalidManifestError(`file shrank while hashing: ${path}`)
        got += bytesRead
      }
      out.set(i, chunkHash(buf.subarray(0, len)))
    }
  } finally {
    await fh.close()
  }
  return out
}

function chunkCount (size: number, chunkSize: number): number {
  return Math.ceil(size / chunkSize)
}

function range (n: number): number[] {
  return Array.from({ length: n }, (_, i) => i)
}

function assemble (files: Array<{ path: string, size: number, chunkHashes: Uint8Array[] }>, chunkSize: number): Manifest {
  const fileTable: FileEntry[] = []
  const chunkTable: ChunkEntry[] = []
  files.forEach((f, fileIndex) => {
    const chunks: ChunkEntry[] = f.chunkHashes.map((hash, i) => ({
      fileIndex, offset: i * chunkSize, sizeBytes: Math.min(chunkSize, f.size - i * chunkSize), hash
    }))
    chunkTable.push(...chunks)
    fileTable.push({ relativePath: f.path, sizeBytes: f.size, hash: fileHash(chunks) })
  })
  if (chunkTable.length > MAX_MANIFEST_CHUNKS) throw new LimitExceededError(`more than ${MAX_MANIFEST_CHUNKS} chunks`)
  return { version: MANIFEST_VERSION, fileTable, chunkTable }
}

/** Computes the manifest of a checkpoint directory from scratch. */
export async function computeManifest (dir: string, opts: ManifestOptions = {}): Promise<Manifest> {
  const chunkSize = chunkSizeOf(opts)
  const files = []
  for (const f of await listFiles(dir)) {
    const hashes = await hashFileChunks(localPath(dir, f.path), f.size, chunkSize, range(chunkCount(f.size, chunkSize)))
    files.push({ ...f, chunkHashes: [...hashes.values()] })
  }
  return assemble(files, chunkSize)
}

/** What changed in a file since the previous manifest: the chunk indices written to. */
export interface DirtyFile {
  path: string
  /** Chunk indices (offset / chunkSize) that may have changed; omit to rehash the whole file. */
  dirtyChunks?: Iterable<number>
}

/**
 * Recomputes a manifest after writes, rehashing only dirty chunks. Files that are not
 * listed are taken as unchanged if their size is; a file whose size changed without being
 * listed, and every new file, is hashed in full; removed files drop out. The result equals
 * `computeManifest(dir)` whenever the dirty list covers every write.
 */
export async function updateManifest (dir: string, previous: Manifest, dirty: readonly DirtyFile[], opts: ManifestOptions = {}): Promise<Manifest> {
  const chunkSize = chunkSizeOf(opts)
  const prevByPath = new Map<string, { size: number, chunks: ChunkEntry[] }>()
  for (const f of previous.fileTable) prevByPath.set(f.relativePath, { size: f.sizeBytes, chunks: [] })
  for (const c of previous.chunkTable) prevByPath.get(previous.fileTable[c.fileIndex]!.relativePath)?.chunks.push(c)
  const dirtyByPath = new Map<string, Set<number> | undefined>()
  for (const d of dirty) {
    const prevSet = dirtyByPath.get(d.path)
    if (dirtyByPath.has(d.path) && prevSet === undefined) continue
    if (d.dirtyChunks === undefined) dirtyByPath.set(d.path, undefined)
    else dirtyByPath.set(d.path, new Set([...(prevSet ?? []), ...d.dirtyChunks]))
  }

  const files = []
  for (const f of await listFiles(dir)) {
    const n = chunkCount(f.size, chunkSize)
    const prev = prevByPath.get(f.path)
    const listed = dirtyByPath.has(f.path)
    const dirtySet = dirtyByPath.get(f.path)
    let todo: number[]
    if (prev === undefined || (listed && dirtySet === undefined) || (!listed && prev.size !== f.size)) {
      todo = range(n)
    } else {
      // A chunk is reusable when it was not written and its extent did not change.
      todo = range(n).filter(i => {
        const old = prev.chunks[i]
        const size = Math.min(chunkSize, f.size - i * chunkSize)
        return dirtySet?.has(i) === true || old === undefined || old.offset !== i * chunkSize || old.sizeBytes !== size
      })
    }
    const fresh = todo.length > 0 ? await hashFileChunks(localPath(dir, f.path), f.size, chunkSize, todo) : new Map()
    files.push({ ...f, chunkHashes: range(n).map(i => fresh.get(i) ?? prev!.chunks[i]!.hash) })
  }
  return assemble(files, chunkSize)
}

export function encodeManifest (m: Manifest): Uint8Array {
  return ManifestCodec.encode(m)
}

/** Decodes and validates a manifest: bounded counts, well-formed paths and tables, file hashes that match their chunks. */
export function decodeManifest (bytes: Uint8Array): Manifest {
  let m: Manifest
  try {
    m = ManifestCodec.decode(bytes, { limits: { fileTable: MAX_MANIFEST_FILES, chunkTable: MAX_MANIFEST_CHUNKS } })
  } catch (err) {
    throw new InvalidManifestError('manifest does not decode', { cause: err })
  }
  validateManifest(m)
  return m
}

function checkPath (p: string): void {
  if (p.length === 0 || utf8.encode(p).length > MAX_PATH_BYTES) throw new InvalidManifestError('bad path length')
  for (const part of p.split('/')) {
    if (part === '' || part === '.' || part === '..' || part.includes('\\') || part.includes('\0')) throw new InvalidManifestError(`unsafe path: ${JSON.stringify(p)}`)
  }
}

/** Structural checks on a manifest from a peer, so that nothing it names escapes the target directory. */
export function validateManifest (m: Manifest): void {
  if (m.version !== MANIFEST_VERSION) throw new InvalidManifestError(`unsupported manifest version ${m.version}`)
  let prevPath: string | undefined
  for (const f of m.fileTable) {
    checkPath(f.relativePath)
    if (prevPath !== undefined && comparePaths(prevPath, f.relativePath) >= 0) throw new InvalidManifestError('file table not sorted')
    if (f.hash.length !== HASH_BYTES) throw new InvalidManifestError('bad file hash length')
    prevPath = f.relativePath
  }
  const perFile: ChunkEntry[][] = m.fileTable.map(() => [])
  let lastFile = 0
  for (const c of m.chunkTable) {
    if (c.fileIndex >= m.fileTable.length || c.fileIndex < lastFile) throw new InvalidManifestError('chunk table out of order')
    if (c.sizeBytes === 0 || c.sizeBytes > MAX_BLOCK_BYTES) throw new InvalidManifestError('bad chunk size')
    if (c.hash.length !== HASH_BYTES) throw new InvalidManifestError('bad chunk hash length')
    const list = perFile[c.fileIndex]!
    const expectedOffset = list.length === 0 ? 0 : list[list.length - 1]!.offset + list[list.length - 1]!.sizeBytes
    if (c.offset !== expectedOffset) throw new InvalidManifestError('chunk offsets not contiguous')
    list.push(c)
    lastFile = c.fileIndex
  }
  m.fileTable.forEach((f, i) => {
    const chunks = perFile[i]!
    const total = chunks.reduce((s, c) => s + c.sizeBytes, 0)
    if (total !== f.sizeBytes) throw new InvalidManifestError(`chunks do not cover ${f.relativePath}`)
    if (!equalBytes(fileHash(chunks), f.hash)) throw new InvalidManifestError(`file hash mismatch for ${f.relativePath}`)
  })
}

/** Encodes the manifest and splits it into sub-manifests under a meta-manifest whose hash is the state hash. */
export function bundleManifest (manifest: Manifest, opts: ManifestOptions = {}): ManifestBundle {
  const size = opts.subManifestSize ?? DEFAULT_SUB_MANIFEST_SIZE
  if (!Number.isInteger(size) || size <= 0 || size > MAX_BLOCK_BYTES) throw new LimitExceededError(`sub-manifest size must be in 1..${MAX_BLOCK_BYTES}`)
  const encoded = encodeManifest(manifest)
  const subManifests: Uint8Array[] = []
  for (let o = 0; o < encoded.length || subManifests.length === 0; o += size) subManifests.push(encoded.subarray(o, o + size))
  if (subManifests.length > MAX_SUB_MANIFESTS) throw new LimitExceededError(`manifest needs more than ${MAX_SUB_MANIFESTS} sub-manifests`)
  const meta: MetaManifest = { version: manifest.version, subManifestHashes: subManifests.map(subManifestHash) }
  return { manifest, meta, metaBytes: MetaManifestCodec.encode(meta), subManifests, stateHash: metaManifestHash(meta.version, meta.subManifestHashes) }
}

/** Decodes a meta-manifest from a peer and checks that it hashes to the expected state hash. */
export function decodeMetaManifest (bytes: Uint8Array, expectedStateHash: Uint8Array): MetaManifest {
  let meta: MetaManifest
  try {
    meta = MetaManifestCodec.decode(bytes, { limits: { subManifestHashes: MAX_SUB_MANIFESTS } })
  } catch (err) {
    throw new InvalidManifestError('meta-manifest does not decode', { cause: err })
  }
  if (meta.version !== MANIFEST_VERSION) throw new InvalidManifestError(`unsupported manifest version ${meta.version}`)
  if (meta.subManifestHashes.length === 0 || meta.subManifestHashes.some(h => h.length !== HASH_BYTES)) throw new InvalidManifestError('bad sub-manifest hashes')
  if (!equalBytes(metaManifestHash(meta.version, meta.subManifestHashes), expectedStateHash)) throw new InvalidManifestError('meta-manifest does not match the state hash')
  return meta
}

/** Reassembles a manifest from verified sub-manifests and checks the whole against the state hash. */
export function manifestFromSubManifests (meta: MetaManifest, subs: readonly Uint8Array[], expectedStateHash: Uint8Array): ManifestBundle {
  subs.forEach((s, i) => {
    if (!equalBytes(subManifestHash(s), meta.subManifestHashes[i]!)) throw new InvalidManifestError(`sub-manifest ${i} does not match the meta-manifest`)
  })
  const total = subs.reduce((n, s) => n + s.length, 0)
  const joined = new Uint8Array(total)
  let o = 0
  for (const s of subs) { joined.set(s, o); o += s.length }
  const manifest = decodeManifest(joined)
  const bundle: ManifestBundle = { manifest, meta, metaBytes: MetaManifestCodec.encode(meta), subManifests: [...subs], stateHash: metaManifestHash(meta.version, meta.subManifestHashes) }
  if (!equalBytes(bundle.stateHash, expectedStateHash)) throw new InvalidManifestError('manifest does not match the state hash')
  return bundle
}

/** The state hash of a manifest (its meta-manifest hash). */
export function stateHashOf (manifest: Manifest, opts: ManifestOptions = {}): Uint8Array {
  return bundleManifest(manifest, opts).stateHash
}
