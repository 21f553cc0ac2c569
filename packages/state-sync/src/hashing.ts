import { createHash } from 'node:crypto'
import { domainSeparator } from '@icnet/types'

/** The IC's domain separators for state sync hashes (`dsep(s) = len(s) ‖ s`). */
export const DSEP_CHUNK = domainSeparator('ic-state-chunk')
export const DSEP_FILE = domainSeparator('ic-state-file')
export const DSEP_SUB_MANIFEST = domainSeparator('ic-state-sub-manifest')
export const DSEP_META_MANIFEST = domainSeparator('ic-state-meta-manifest')

export const HASH_BYTES = 32

/** Plain Uint8Array view of a digest, so hashes compare equal however they were made. */
function bytes (b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
}

function u32 (n: number): Uint8Array {
  const b = new Uint8Array(4)
  new DataView(b.buffer).setUint32(0, n, false)
  return b
}

function u64 (n: number): Uint8Array {
  const b = new Uint8Array(8)
  new DataView(b.buffer).setBigUint64(0, BigInt(n), false)
  return b
}

/** `H(dsep("ic-state-chunk") ‖ bytes)`; `data` may be the pieces of a frame (hashed in place). */
export function chunkHash (data: Uint8Array | Iterable<Uint8Array>): Uint8Array {
  const h = createHash('sha256').update(DSEP_CHUNK)
  if (data instanceof Uint8Array) h.update(data)
  else for (const piece of data) h.update(piece)
  return bytes(h.digest())
}

export interface ChunkRef { sizeBytes: number, offset: number, hash: Uint8Array }

/** `H(dsep("ic-state-file") ‖ n u32 ‖ (size u32 ‖ offset u64 ‖ chunk_hash)*)`, the V3 file hash. */
export function fileHash (chunks: readonly ChunkRef[]): Uint8Array {
  const h = createHash('sha256').update(DSEP_FILE).update(u32(chunks.length))
  for (const c of chunks) h.update(u32(c.sizeBytes)).update(u64(c.offset)).update(c.hash)
  return bytes(h.digest())
}

/** `H(dsep("ic-state-sub-manifest") ‖ bytes)`. */
export function subManifestHash (data: Uint8Array): Uint8Array {
  return bytes(createHash('sha256').update(DSEP_SUB_MANIFEST).update(data).digest())
}

/** The state hash: `H(dsep("ic-state-meta-manifest") ‖ version u32 ‖ n u32 ‖ sub_hash*)`. */
export function metaManifestHash (version: number, subHashes: readonly Uint8Array[]): Uint8Array {
  const h = createHash('sha256').update(DSEP_META_MANIFEST).update(u32(version)).update(u32(subHashes.length))
  for (const s of subHashes) h.update(s)
  return bytes(h.digest())
}
