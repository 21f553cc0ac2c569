/**
 * @packageDocumentation
 *
 * icnet consensus: random beacon, ranked block makers, notarization and
 * finalization with node multi-signatures, certification of executed heights
 * and catch-up packages with threshold signatures; finalized batches for the
 * host in height order, exactly once. A network-free core (`Consensus`) over a
 * small `ArtifactTransport`, with an in-memory bus and a libp2p transport.
 */
export { Consensus, type ConsensusInit, type ConsensusParams, type ConsensusFaults, genesisBeacon, genesisProposal } from './consensus.js'
export { Committee, NodeSigner, type CommitteeInit, type NodeSecrets } from './committee.js'
export { committeeFromRegistry, paramsFromRegistry, signerFromConfig } from './from-registry.js'
export type { Batch, PayloadBuilder, PayloadContext } from './payload.js'
export { type ArtifactTransport, type ArtifactKindName, type ArtifactHandler, type CatchUpHandler, ARTIFACT_KINDS, isArtifactKind, InMemoryBus } from './transport.js'
export { LmdbConsensusStore, MemoryConsensusStore, type ConsensusStore, type StoredState, type StoredFinalized, type SignedRecord } from './store.js'
export { InvalidArtifactError, ConsensusStoppedError, InvalidSubmissionError } from './errors.js'
export { genesisCup } from './genesis.js'
export { rankNodes } from './ranking.js'
export * as hashing from './hashing.js'
export * from './constants.js'
export * as pb from './pb/consensus.js'
export { ArtifactFrame } from './pb/transport.js'
export { ConsensusTransport, consensusTransport, type ConsensusTransportComponents, type ConsensusTransportInit } from './libp2p-transport.js'
export { GossipArtifactTransport, consensusArtifactKinds, type GossipedArtifact, type ArtifactGossipLike } from './gossip-transport.js'
