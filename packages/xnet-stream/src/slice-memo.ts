import { LruMap, toHex } from '@icnet/types'
import { VERIFIED_CERTIFICATIONS_CACHE_SIZE } from './constants.js'
import type { CertifiedStreamSlice } from './slice.js'

/**
 * What this package knows about slice objects it made, kept beside them (slices
 * are immutable plain objects, so a WeakMap keyed by the object is exact and
 * frees with it). Internal: not exported from the package, so no host can claim
 * a root for a slice.
 */

/** The exact wire bytes of a slice (decoded from them, or assembled). */
export const sliceWireBytes = new WeakMap<CertifiedStreamSlice, Uint8Array>()

/**
 * State roots computed from a slice's own wire bytes on a worker thread
 * (`SliceRootWorkers`), by the same function `sliceRootHash` runs: the caller's
 * thread then only checks the signature against it.
 */
export const precomputedRoots = new WeakMap<CertifiedStreamSlice, Uint8Array>()

/**
 * (public key, state root, signature) triples whose threshold signature verified,
 * on this thread or on a `SliceRootWorkers` thread. Verifying is a function of the
 * triple, so a check passed once need not run again (e.g. for the next slice cut
 * from the same certified state). Bounded, least recently used goes first.
 */
export const verifiedCertifications = new LruMap<string, true>(VERIFIED_CERTIFICATIONS_CACHE_SIZE)

export function certificationKey (publicKey: Uint8Array, root: Uint8Array, signature: Uint8Array): string {
  return `${toHex(publicKey)}/${toHex(root)}/${toHex(signature)}`
}
