/**
 * Threshold signatures this process has already verified. A replica checks
 * the same subnet signature several times: consensus verifies the
 * certification it combined, then message routing checks it against its own
 * state root; a remote subnet's certification comes with every slice pulled
 * at that height and with every block proposal that carries one. Each check
 * is a pairing (~3.4 ms with mcl); a repeat is a map lookup.
 *
 * Only successes are kept, keyed by the exact bytes verified (raw public key,
 * signature, message), so a hit answers exactly the question the pairing
 * answered before. Bounded, oldest first out.
 */
import { THRESHOLD_PUBLIC_KEY_BYTES, THRESHOLD_SIGNATURE_BYTES } from './constants.js'

/**
 * Entries kept. A replica verifies a few threshold signatures per round per
 * subnet it talks to; 4,096 covers minutes of rounds on a large testnet, at
 * about 300 bytes each (~1.2 MiB at most).
 */
export const VERIFIED_SIGNATURE_CACHE_SIZE = 4096

/** How the cache has answered since the process started (for metrics and tests). */
export interface VerifiedSignatureCacheStats {
  hits: number
  misses: number
  size: number
  capacity: number
}

export class VerifiedSignatureCache {
  readonly capacity: number
  private readonly entries = new Set<string>()
  private hits = 0
  private misses = 0

  constructor (capacity = VERIFIED_SIGNATURE_CACHE_SIZE) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be a positive integer, got ${capacity}`)
    this.capacity = capacity
  }

  /**
   * The key of one verification. The raw key and the signature have fixed
   * sizes and come first, so the concatenation is unambiguous; undefined for
   * inputs of other sizes (they are never cached).
   */
  static key (rawPublicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): string | undefined {
    if (rawPublicKey.length !== THRESHOLD_PUBLIC_KEY_BYTES || signature.length !== THRESHOLD_SIGNATURE_BYTES) return undefined
    return Buffer.concat([rawPublicKey, signature, message]).toString('latin1')
  }

  /** True if this exact verification succeeded before (counts a hit or a miss). */
  has (key: string): boolean {
    if (this.entries.has(key)) { this.hits++; return true }
    this.misses++
    return false
  }

  /** Remembers a successful verification, dropping the oldest beyond the capacity. */
  add (key: string): void {
    if (this.entries.has(key)) return
    this.entries.add(key)
    if (this.entries.size > this.capacity) {
      const oldest = this.entries.values().next().value!
      this.entries.delete(oldest)
    }
  }

  stats (): VerifiedSignatureCacheStats {
    return { hits: this.hits, misses: this.misses, size: this.entries.size, capacity: this.capacity }
  }
}
