import { webcrypto } from 'node:crypto'
import { equalBytes } from '@icnet/types'
import { MAX_BLOCK_BYTES } from './constants.js'
import { DSEP_CHUNK } from './hashing.js'
import type { BlockData } from './messages.js'

const PREFIX = DSEP_CHUNK.length

/**
 * Reusable buffers for received chunks, each laid out as `dsep("ic-state-chunk") ‖ chunk`
 * with the separator written once, when the buffer is made. A received block is copied
 * out of the pieces it was decrypted into (so those die young instead of being held until
 * the write finishes), hashed on libuv's thread pool straight from the buffer, and written
 * from it; then the buffer goes back to the pool.
 *
 * Why a copy pays: holding the decrypted pieces across an asynchronous write keeps
 * their socket buffers alive long enough to be promoted, and on a busy event loop the
 * resulting old-space collections cost far more than one memcpy of the chunk.
 */
export class ChunkBufferPool {
  private readonly free: Uint8Array[] = []

  /** `keep`: buffers kept for reuse (each MAX_BLOCK_BYTES plus the separator); more are made on demand and dropped on release. */
  constructor (private readonly keep: number) {}

  /** Buffers waiting for reuse (for tests and metrics). */
  get idle (): number { return this.free.length }

  acquire (): Uint8Array {
    const reused = this.free.pop()
    if (reused !== undefined) return reused
    const buf = new Uint8Array(PREFIX + MAX_BLOCK_BYTES)
    buf.set(DSEP_CHUNK, 0)
    return buf
  }

  release (buf: Uint8Array): void {
    if (this.free.length < this.keep) this.free.push(buf)
  }
}

/** Hashes the chunk of `size` bytes held in `buffer` after the separator (as `acquire` lays it out), on the thread pool. */
export async function digestBufferedChunk (buffer: Uint8Array, size: number): Promise<Uint8Array> {
  return new Uint8Array(await webcrypto.subtle.digest('SHA-256', buffer.subarray(0, PREFIX + size)))
}

/** Where chunk bytes go in a pooled buffer. */
export const CHUNK_OFFSET = PREFIX

/**
 * A received chunk in a pooled buffer, verified against `expected` with SHA-256 running
 * on the thread pool (WebCrypto), so the event loop keeps moving bytes meanwhile.
 * Resolves with the chunk bytes (a view of the pooled buffer) when they hash right, or
 * undefined (the buffer already released) when they do not.
 */
export async function verifyIntoBuffer (pool: ChunkBufferPool, data: BlockData, expected: Uint8Array): Promise<{ bytes: Uint8Array, buffer: Uint8Array } | undefined> {
  const size = data.byteLength
  if (size > MAX_BLOCK_BYTES) return undefined
  const buffer = pool.acquire()
  if (data instanceof Uint8Array) buffer.set(data, PREFIX)
  else {
    let o = PREFIX
    for (const piece of data) { buffer.set(piece, o); o += piece.byteLength }
  }
  let digest: Uint8Array
  try {
    digest = await digestBufferedChunk(buffer, size)
  } catch (err) {
    pool.release(buffer)
    throw err
  }
  if (!equalBytes(digest, expected)) { pool.release(buffer); return undefined }
  return { bytes: buffer.subarray(PREFIX, PREFIX + size), buffer }
}

