/**
 * @packageDocumentation
 *
 * The icnet replica: the composition root that runs one node (libp2p with
 * gossipsub, artifact gossip, XNet streams and state sync; consensus; the
 * replicated state machine; certification; `/metrics` and `/health`), and the
 * `icnet` command line that creates and runs testnets.
 */
export { Replica, type ReplicaInit } from './replica.js'
export { loadReplicaConfig, parseReplicaOptions, type ReplicaConfig, type ReplicaOptions } from './config.js'
export { PromMetrics } from './prom-metrics.js'
export { createLog, type StructuredLog, type LogLevel } from './log.js'
export { ReplicaHttpServer, type Health } from './http.js'
export { ConfigError, UsageError, TestnetLayoutError } from './errors.js'
export * from './faults/index.js'
export * from './genesis-canisters.js'
export { LoadMonitor, type LoadReport } from './load-monitor.js'
export { IngressPool, ingressPayloadSection, encodeIngressPayload, decodeIngressPayload, ingressRequestId, INGRESS_SECTION } from './ingress.js'
export type { IngressSubmission } from './http.js'
export { LiveCheckpointStore, syncCheckpoint } from './state-catch-up.js'
export { encodeXNetPayload, decodeXNetPayload, xnetPayloadSection, XNET_SECTION } from './xnet-payload.js'
export { GossipConsensusTransport, CATCH_UP_PROTOCOL } from './consensus-transport.js'
export { consensusArtifactKinds } from './consensus-artifacts.js'
export { openTestnet, type TestnetDir } from './testnet/layout.js'
export { runTestnet, summaryTable, type RunOptions, type RunSummary } from './testnet/run.js'
export { TestnetSupervisor, probeNode } from './testnet/supervisor.js'
export { main as cliMain, USAGE } from './cli/commands.js'
