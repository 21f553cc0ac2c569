/**
 * The verified copy: the least work any verified checkpoint transfer has to do, as a
 * baseline for `bench state-sync`. One raw libp2p stream carries the checkpoint's chunks
 * back to back in chunk-table order, with no protocol at all: the writer reads each chunk
 * from its file and sends it; the reader, which already knows the chunk table (sizes and
 * hashes), hashes each chunk as the IC does (`SHA-256(dsep("ic-state-chunk") ‖ chunk)`),
 * compares it, and writes it into its file at its offset.
 *
 * What a real sync adds on top (requests, framing, several peers, a manifest, scratch
 * files and a journal, the atomic install) is not here, so its speed is an upper bound
 * for any state sync over this stack on this machine. The writer reads each chunk into a
 * fresh buffer: a stream gives no signal for when its transport has encrypted the bytes,
 * so a buffer cannot safely be reused (the same holds for the state sync seeder).
 */
import { randomBytes } from 'node:crypto'
import { mkdir, open } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { dirname } from 'node:path'
import type { Libp2p, Stream } from '@libp2p/interface'
import { alignedRegions, chunkHash, DIRECT_IO_ALIGNMENT, DIRECT_WRITE_FLAGS } from '@icnet/state-sync'
import { equalBytes } from '@icnet/types'
import { waitDrain } from './_raw-stream.js'

export const VERIFIED_COPY_PROTOCOL = '/icnet/bench/verified-copy/1.0.0'

/** A chunk of a file: where it is, and (for the reader) what it must hash to. */
export interface CopyChunk { path: string, offset: number, size: number, hash?: Uint8Array }

/**
 * Which of its three jobs the copy does (all by default): with one left out it measures
 * what that job costs. Without `read` the writer sends one buffer of random bytes over
 * and over (as the raw stream does); without `hash` nothing is checked; without `write`
 * nothing reaches the files. `direct` writes whole blocks with O_DIRECT, around the page
 * cache.
 */
export interface CopyParts { read: boolean, hash: boolean, write: boolean, direct?: boolean }

export const ALL_PARTS: CopyParts = { read: true, hash: true, write: true }

/** Received chunks whose file writes may be in flight at once (each holds one buffer). */
const WRITES_IN_FLIGHT = 16

/** Sends every chunk, read from its file into a fresh buffer, on `stream`, with drain backpressure. */
export async function sendChunks (stream: Stream, chunks: readonly CopyChunk[], parts: CopyParts = ALL_PARTS): Promise<void> {
  let path: string | undefined
  let fh: FileHandle | undefined
  const constant = parts.read ? undefined : randomBytes(chunks.reduce((m, c) => Math.max(m, c.size), 0))
  try {
    for (const c of chunks) {
      if (constant !== undefined) {
        if (!stream.send(constant.subarray(0, c.size))) await waitDrain(stream)
        continue
      }
      if (c.path !== path) { await fh?.close(); fh = await open(c.path, 'r'); path = c.path }
      const buf = Buffer.allocUnsafe(c.size)
      for (let got = 0; got < c.size;) {
        const { bytesRead } = await fh!.read(buf, got, c.size - got, c.offset + got)
        if (bytesRead === 0) throw new Error(`${c.path} is shorter than its chunks`)
        got += bytesRead
      }
      if (!stream.send(buf)) await waitDrain(stream)
    }
  } finally { await fh?.close() }
}

/**
 * Registers the reader on `node`: the stream's bytes are cut into the chunks of `chunks`
 * (in order), each hashed, checked and written into its file (created on its first chunk).
 * Resolves with the time the last write finished; rejects on a chunk that does not hash
 * to its entry.
 */
export async function receiveChunks (node: Libp2p, chunks: readonly CopyChunk[], parts: CopyParts = ALL_PARTS): Promise<{ done: Promise<number> }> {
  for (const dir of new Set(chunks.map(c => dirname(c.path)))) await mkdir(dir, { recursive: true })
  const maxSize = chunks.reduce((m, c) => Math.max(m, c.size), 0)
  const direct = parts.direct === true
  const slots = (direct ? alignedRegions(WRITES_IN_FLIGHT, maxSize) : Array.from({ length: WRITES_IN_FLIGHT }, () => new Uint8Array(maxSize)))
    .map(buf => ({ buf, write: Promise.resolve() }))
  let resolve!: (t: number) => void
  let reject!: (e: Error) => void
  const done = new Promise<number>((res, rej) => { resolve = res; reject = rej })
  await node.handle(VERIFIED_COPY_PROTOCOL, async (stream) => {
    // One handle per file; with `direct`, a second one opened with O_DIRECT for whole blocks
    // (a chunk that ends mid-block, a file's tail, goes through the page cache).
    const files = new Map<string, Promise<FileHandle>>()
    const fileOf = async (path: string, viaDirect: boolean): Promise<FileHandle> => {
      const key = `${viaDirect ? 'direct' : 'cached'} ${path}`
      let f = files.get(key)
      if (f === undefined) {
        // A file system (or platform) without O_DIRECT refuses the open: its writes then go through the page cache.
        f = viaDirect
          ? fileOf(path, false).then(async cached => DIRECT_WRITE_FLAGS === undefined ? cached : await open(path, DIRECT_WRITE_FLAGS).catch(() => cached))
          : open(path, 'w')
        files.set(key, f)
      }
      return await f
    }
    const write = async (c: CopyChunk, bytes: Uint8Array): Promise<void> => {
      const fh = await fileOf(c.path, direct && c.size % DIRECT_IO_ALIGNMENT === 0)
      await fh.write(bytes, 0, c.size, c.offset)
    }
    let index = 0
    let got = 0
    let slot = slots[0]!
    const take = async (piece: Uint8Array): Promise<void> => {
      for (let pos = 0; pos < piece.length && index < chunks.length;) {
        const c = chunks[index]!
        const n = Math.min(c.size - got, piece.length - pos)
        slot.buf.set(piece.subarray(pos, pos + n), got)
        got += n
        pos += n
        if (got < c.size) continue
        const bytes = slot.buf.subarray(0, c.size)
        if (parts.hash) {
          const digest = chunkHash(bytes)
          // Without the read the bytes are not the chunk's, so there is nothing to compare.
          if (parts.read && c.hash !== undefined && !equalBytes(digest, c.hash)) throw new Error(`chunk ${index} does not hash to its entry`)
        }
        if (parts.write) slot.write = write(c, bytes)
        index++
        got = 0
        slot = slots[index % slots.length]!
        await slot.write
      }
    }
    try {
      for await (const data of stream) {
        if (data instanceof Uint8Array) await take(data)
        else for (const piece of data) await take(piece)
        if (index === chunks.length) break
      }
      if (index < chunks.length) throw new Error(`stream ended after ${index} of ${chunks.length} chunks`)
      await Promise.all(slots.map(async s => { await s.write }))
      resolve(performance.now())
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err))
      reject(e)
      stream.abort(e)
    } finally {
      await Promise.all([...files.values()].map(async f => { await (await f).close() }))
      await stream.close().catch(() => {})
    }
  })
  return { done }
}
