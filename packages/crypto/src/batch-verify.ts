/**
 * The verification step of the pool, independent of threads: verify a batch
 * in one go and, only if that fails, each set on its own to find the culprits.
 * An honest network pays for one batch; a bad signature costs one batch plus
 * a re-check of its companions.
 */
import { nodeVerify, verifyBatch, type NodeSignatureSet } from './node-keys.js'

export interface BatchOutcome {
  /** Per set, in order: whether it verified. */
  results: boolean[]
  /** Whether the batch check failed and sets were re-checked one by one. */
  batchFailed: boolean
}

export function verifyBatchFindingCulprits (sets: readonly NodeSignatureSet[]): BatchOutcome {
  if (sets.length === 0) return { results: [], batchFailed: false }
  if (verifyBatch(sets)) return { results: sets.map(() => true), batchFailed: false }
  if (sets.length === 1) return { results: [false], batchFailed: true }
  return { results: sets.map(s => nodeVerify(s.publicKey, s.message, s.signature)), batchFailed: true }
}
