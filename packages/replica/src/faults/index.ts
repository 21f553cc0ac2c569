/**
 * Byzantine and test-only behaviour of a replica (`replica.faults` in its
 * config), for fault tests on test networks. Each fault wraps an interface the
 * replica hands a protocol service; the protocol packages stay honest.
 */
export { FaultInjector, MAX_ADMIN_BODY_BYTES, type FaultHost, type FaultsAdmin } from './injector.js'
export { CHUNK_FAULTS, MAX_GOSSIP_FLOOD_PER_S, SLICE_FAULTS, describeFaults, parseReplicaFaults, setNodeFaults, type ChunkFault, type ReplicaFaults, type SliceFault } from './options.js'
export { MAX_PARTITION_PEERS, Partition, closeDenied, partitionGater } from './partition.js'
export { InvalidRequestError } from './errors.js'
