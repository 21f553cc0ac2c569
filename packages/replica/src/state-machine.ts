import type { SubnetId } from '@icnet/types'
import type { CertifiedStreamSlice, CertifiedStreamStore, ExpectedIndices, OwnStreamPosition } from '@icnet/xnet-stream'

/** A finalized batch as the replicated state machine executes it. */
export interface BatchInput {
  height: number
  /** Block time, ms since the Unix epoch. */
  time: number
  randomness: Uint8Array
  /** Ingress messages, encoded (empty until an ingress pool feeds blocks). */
  ingress: Uint8Array[]
  /** Verified slices from other subnets, at most one per source. */
  xnetSlices: Array<{ subnet: SubnetId, slice: CertifiedStreamSlice }>
}

export interface ExecutedBatch {
  height: number
  /** Root hash of the canonical state tree after the batch: what the subnet certifies. */
  stateRoot: Uint8Array
  /** Present at checkpoint heights: the checkpoint written to the data directory. */
  checkpoint?: { height: number, stateHash: Uint8Array, dir: string }
}

/** Cross-subnet traffic as the load generator on this subnet sees it (all counters since genesis). */
export interface LoadStats {
  sent: number
  replied: number
  rejected: number
  seqErrors: number
  /** Requests from other subnets inducted here (each one answered). */
  received: number
  /** Requests sent and not yet answered. */
  inFlight: number
  latencySumMs: number
  latencyCount: number
  /** Recent latencies (bounded sample) for percentiles. */
  latencySampleMs: number[]
}

/**
 * What the replica drives each round: execute finalized batches in height
 * order, return the state root, accept the subnet's certification of it, and
 * serve certified stream slices from the latest certified height.
 * `@icnet/message-routing` is the real implementation.
 */
export interface ReplicatedStateMachine {
  /** The latest executed height. */
  readonly height: number
  readonly certifiedHeight: number
  executeBatch(batch: BatchInput): Promise<ExecutedBatch>
  setCertification(height: number, signature: Uint8Array): void
  readonly certifiedStreamStore: CertifiedStreamStore
  /** Where the executed state is in the stream from `source` (for the slice pool and payloads). */
  expectedIndices(source: SubnetId): ExpectedIndices
  /** Our stream towards `remote` in the executed state. */
  ownStream(remote: SubnetId): OwnStreamPosition | undefined
  /** The root hash certified at `height`, if still known. */
  stateRootAt(height: number): Uint8Array | undefined
  loadStats(): LoadStats
  close(): Promise<void>
}
