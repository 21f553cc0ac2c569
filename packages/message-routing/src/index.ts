/**
 * @packageDocumentation
 *
 * Message routing: a subnet's replicated state and its deterministic round —
 * induction (loopback, stream GC from signals, XNet slices, ingress), execution
 * through the sandbox interface under a round budget, routing of outputs into
 * input queues and XNet streams with backpressure, the canonical state tree
 * (updated incrementally) and its certification, certified slices for
 * xnet-stream, read_state certificates, and checkpoints with incremental
 * manifests for state sync.
 */
export { MessageRouting, DEFAULT_LIMITS } from './message-routing.js'
export { limitsFromSubnetParams, type SubnetLimitParams } from './subnet-limits.js'
export * from './types.js'
export * from './errors.js'
export * from './constants.js'
export { SnapshotStreamStore, readStateCertificate, type CertifiedState, type StateSnapshot } from './certification.js'
export { checkpointDir, listCheckpointHeights } from './checkpoint.js'
export type { CriticalErrorKind } from './metrics.js'
export type { MigrationTrace, MigrationSource } from './round-context.js'
