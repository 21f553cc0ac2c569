import { LimitExceededError, type RegistryView, type SubnetId } from '@icnet/types'
import { KIND_NAME_PATTERN, MAX_ARTIFACT_BYTES } from './constants.js'
import type { ArtifactIdFn } from './envelope.js'
import type { ArtifactPool } from './pool.js'
import type { Priority, PriorityFn } from './priority.js'
import type { SignatureSet } from './verifier.js'

/**
 * What the validator concludes about one artifact, in gossipsub's terms:
 * - `accept`: valid; keep it and forward it;
 * - `ignore`: not useful or not decidable now (stale, from the future); no penalty;
 * - `reject`: invalid; drop it and penalise the peer that sent it.
 */
export type Verdict = 'accept' | 'ignore' | 'reject'

export interface ValidationContext<A> {
  /** The subnet this gossip layer serves. */
  subnetId: SubnetId
  /** The registry at the time of validation. */
  registry: RegistryView
  /** The kind's pool (read it to check, e.g., that a share refers to a known block). */
  pool: ArtifactPool<A>
  /** The peer the artifact came from (`undefined` for local publishes). */
  from?: string
}

/**
 * One artifact kind: how to decode it, where it sits in height, and which signatures
 * make it valid. Consensus registers block proposals, notarization shares and the
 * like through this; the gossip layer knows nothing else about them.
 */
export interface ArtifactKind<A> {
  /** The kind's name, part of the topic: lowercase letters, digits and `-`, at most 32 characters. */
  readonly kind: string
  /** Largest encoding accepted; checked before `decode` sees the bytes. At most MAX_ARTIFACT_BYTES. */
  readonly maxBytes: number
  /** Decodes canonical bytes; throws on anything malformed (the sender is then penalised). */
  decode(bytes: Uint8Array): A
  /** The artifact's height (round), used for priority and purging. A safe non-negative integer. */
  height(artifact: A): number
  /** The signature checks that must all hold; verified in batches on the injected verifier. */
  signatureSets(artifact: A): SignatureSet[]
  /** Further checks after the signatures hold (membership, references to other artifacts...). */
  validate?(artifact: A, ctx: ValidationContext<A>): Verdict | Promise<Verdict>
  /** Overrides the pool's default priority (drop below the purge height, else fetch now). */
  priority?: PriorityFn
  /**
   * The artifact's id from its canonical bytes: 32 bytes, a collision-resistant hash
   * (default SHA-256 of the bytes). It is also the gossipsub message id, so the host's
   * gossipsub must compute it the same way: pass this kind (not just its name) to
   * `artifactGossipsubOptions({ kinds })`. Called once per received message.
   */
  id?: ArtifactIdFn
}

/** Checks a kind definition once, at registration, so bad names never reach a topic. */
export function checkArtifactKind (def: ArtifactKind<unknown>): void {
  if (!KIND_NAME_PATTERN.test(def.kind)) {
    throw new RangeError(`artifact kind name "${def.kind}" must match ${KIND_NAME_PATTERN}`)
  }
  if (!Number.isSafeInteger(def.maxBytes) || def.maxBytes <= 0 || def.maxBytes > MAX_ARTIFACT_BYTES) {
    throw new LimitExceededError(`artifact kind ${def.kind}: maxBytes must be in 1..${MAX_ARTIFACT_BYTES}`)
  }
}

export type { Priority }
