import { webcrypto } from 'node:crypto'
import { equalBytes } from '@icnet/types'
import { MAX_BLOCK_BYTES } from './constants.js'
import { alignedRegions, DIRECT_IO_ALIGNMENT } from './direct-io.js'
import { DSEP_CHUNK } from './hashing.js'
import type { BlockData } from './messages.js'

const PREFIX = DSEP_CHUNK.length

/** A pooled buffer and the pool it goes back to. */
export interface PooledBuffer { buffer: Uint8Array, pool: ChunkBufferPool }

/** Pooled buffers (and their pools) behind the chunk views handed out by `ChunkBufferPool.view`. */
const owners = new WeakMap<Uint8Array, PooledBuffer>()

/**
 * Reusable buffers for received chunks, each laid out as `dsep("ic-state-chunk") ‖ chunk`
 * with the separator written once, when the buffer is made. A session streams a block's
 * bytes into one as they are decrypted (so the decrypted pieces die young, as they do on a
 * plain stream, instead of being held across the rest of the frame and the write), the
 * chunk is hashed in place and written from it, then the buffer goes back to the pool.
 *
 * The first `keep` buffers come out of one aligned memory with the chunk at a
 * DIRECT_IO_ALIGNMENT boundary (the separator just before it), so the store can write a
 * chunk with O_DIRECT straight from the buffer it arrived in (see `direct-io.ts`).
 *
 * A buffer that is never released is simply collected: the pool only saves allocations
 * (and the collector work they cause), it never owns correctness.
 */
export class ChunkBufferPool {
  private readonly free: Uint8Array[] = []
  /** Aligned buffers not handed out yet (made on the first `acquire`). */
  private unused?: Uint8Array[]

  /** `keep`: buffers kept for reuse (each MAX_BLOCK_BYTES plus the separator); more are made on demand and dropped on release. */
  constructor (private readonly keep: number) {}

  /** Buffers waiting for reuse (for tests and metrics). */
  get idle (): number { return this.free.length }

  acquire (): Uint8Array {
    const reused = this.free.pop()
    if (reused !== undefined) return reused
    this.unused ??= alignedChunkBuffers(this.keep)
    const buf = this.unused.pop() ?? new Uint8Array(PREFIX + MAX_BLOCK_BYTES)
    buf.set(DSEP_CHUNK, 0)
    return buf
  }

  /** A buffer for a chunk of `size` bytes, as the view its bytes go into (`pooledBufferOf` finds the buffer again). */
  view (size: number): Uint8Array {
    const buf = this.acquire()
    const v = buf.subarray(PREFIX, PREFIX + size)
    owners.set(v, { buffer: buf, pool: this })
    return v
  }

  release (buf: Uint8Array): void {
    if (this.free.length < this.keep) this.free.push(buf)
  }
}

/**
 * `count` buffers laid out as `dsep ‖ chunk` with the chunk on a DIRECT_IO_ALIGNMENT
 * boundary; none where the aligned memory cannot be had (a process whose address space is
 * capped, say): the pool then makes ordinary buffers, written through the page cache.
 */
function alignedChunkBuffers (count: number): Uint8Array[] {
  try {
    return alignedRegions(count, DIRECT_IO_ALIGNMENT + MAX_BLOCK_BYTES).map(r => r.subarray(DIRECT_IO_ALIGNMENT - PREFIX))
  } catch {
    return []
  }
}

/** The pooled buffer (and its pool) behind a view made by `ChunkBufferPool.view`, if `data` is one. */
export function pooledBufferOf (data: BlockData): PooledBuffer | undefined {
  return data instanceof Uint8Array ? owners.get(data) : undefined
}

/** Gives the buffer behind a pooled view back to its pool (nothing for other data). */
export function releaseChunk (data: BlockData): void {
  const owner = pooledBufferOf(data)
  owner?.pool.release(owner.buffer)
}

/**
 * Hashes the chunk of `size` bytes held in `buffer` after the separator (as `acquire` lays
 * it out) with SHA-256 on libuv's thread pool (WebCrypto), so the event loop keeps moving
 * bytes meanwhile. Measured against one-shot `crypto.hash` on the event loop (which costs
 * the loop the whole hash but allocates nothing), this kept the sync faster: WebCrypto
 * costs the loop only the copy of its input, and the hash runs on the other core.
 */
export async function digestBufferedChunk (buffer: Uint8Array, size: number): Promise<Uint8Array> {
  return new Uint8Array(await webcrypto.subtle.digest('SHA-256', buffer.subarray(0, PREFIX + size)))
}

/** Where chunk bytes go in a pooled buffer. */
export const CHUNK_OFFSET = PREFIX

/**
 * A received chunk in a pooled buffer, verified against `expected`. Data already in a
 * pooled buffer (streamed there by a session) is hashed from there; anything else is copied
 * into one of `pool`'s first. Hashing runs on the thread pool (`digestBufferedChunk`). Returns the chunk bytes (a view of the pooled buffer) and the
 * buffer with the pool to give it back to once written, when they hash right; undefined
 * (the buffer already released) when they do not.
 */
export async function verifyIntoBuffer (pool: ChunkBufferPool, data: BlockData, expected: Uint8Array): Promise<{ bytes: Uint8Array } & PooledBuffer | undefined> {
  const size = data.byteLength
  if (size > MAX_BLOCK_BYTES) return undefined
  let owner = pooledBufferOf(data)
  let bytes = data as Uint8Array
  if (owner === undefined) {
    owner = { buffer: pool.acquire(), pool }
    if (data instanceof Uint8Array) owner.buffer.set(data, PREFIX)
    else {
      let o = PREFIX
      for (const piece of data) { owner.buffer.set(piece, o); o += piece.byteLength }
    }
    bytes = owner.buffer.subarray(PREFIX, PREFIX + size)
  }
  let digest: Uint8Array
  try {
    digest = await digestBufferedChunk(owner.buffer, size)
  } catch (err) {
    owner.pool.release(owner.buffer)
    throw err
  }
  if (!equalBytes(digest, expected)) { owner.pool.release(owner.buffer); return undefined }
  return { bytes, ...owner }
}
