import { createHash } from 'node:crypto'
import { toHex } from '@icnet/types'

/** An artifact's id: SHA-256 of its canonical bytes (node:crypto is the fastest hash here). */
export function artifactId (bytes: Uint8Array): Uint8Array {
  return createHash('sha256').update(bytes).digest()
}

/** The id as lowercase hex: the pool key, and the gossipsub message id string. */
export function artifactIdHex (bytes: Uint8Array): string {
  return toHex(artifactId(bytes))
}
