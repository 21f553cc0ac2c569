import { LruMap, toHex } from '@icnet/types'
import { VERIFIED_CERTIFICATIONS_CACHE_SIZE } from './constants.js'
import type { CertifiedStreamSlice } from './slice.js'
import { leafDigest } from '@icnet/hashtree'

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

/**
 * Leaf digests (`H(dsep("ic-hashtree-leaf") ‖ bytes)`) of slice messages, each
 * computed by this package from that message object's own bytes (on this thread
 * or on a root worker, from the same wire bytes). Message objects carry over from
 * a pooled slice into the slice a suffix merges it with, so verifying the merge
 * re-hashes none of the pooled messages' bytes: only the witness around them.
 */
const leafDigests = new WeakMap<object, Uint8Array>()

/** The leaf digest of `m`, computed once per message object. */
export function messageLeafDigest (m: { readonly bytes: Uint8Array }): Uint8Array {
  let d = leafDigests.get(m)
  if (d === undefined) {
    d = leafDigest(m.bytes)
    leafDigests.set(m, d)
  }
  return d
}

/** Remembers digests a root worker computed for `messages` (32 bytes each, in order, in `digests`). */
export function rememberLeafDigests (messages: ReadonlyArray<{ readonly bytes: Uint8Array }>, digests: Uint8Array): void {
  if (digests.length !== messages.length * 32) return
  for (let k = 0; k < messages.length; k++) leafDigests.set(messages[k]!, digests.subarray(k * 32, k * 32 + 32))
}
