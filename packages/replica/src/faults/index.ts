/**
 * Byzantine and test-only behaviour of a replica (`replica.faults` in its
 * config), for fault tests on test networks. Each fault wraps an interface the
 * replica hands a protocol service; the protocol packages stay honest.
 */
export { FaultInjector, MAX_ADMIN_BODY_BYTES, type FaultHost, type FaultInjectorInit, type FaultsAdmin } from './injector.js'
export { CHUNK_FAULTS, MAX_GOSSIP_FLOOD_PER_S, SLICE_FAULTS, describeFaults, parseReplicaFaults, setNodeFaults, type ChunkFault, type ReplicaFaults, type SliceFault } from './options.js'
export { MAX_PARTITION_PEERS, Partition, closeDenied, partitionGater } from './partition.js'
export { MaliciousSliceStore, corruptSlice, type SliceCorruption } from './xnet-slices.js'
export { LyingCheckpointStore, MAX_STALLED_READS } from './state-sync-chunks.js'
export { FLOOD_KINDS, FLOOD_TICK_MS, GossipFlood, MAX_FLOOD_IN_FLIGHT, invalidArtifact, type FloodPublisher } from './gossip-flood.js'
export { InvalidRequestError } from './errors.js'
