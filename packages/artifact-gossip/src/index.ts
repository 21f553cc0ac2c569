/**
 * @packageDocumentation
 *
 * Artifact gossip for icnet subnets: per-kind artifact pools over one gossipsub mesh per
 * subnet, with inline delivery of small artifacts, advert + fetch for large ones,
 * priority, bounded queues, batched asynchronous validation and peer scoring.
 *
 * ```ts
 * const node = await createLibp2p({
 *   connectionGater: subnetConnectionGater({ subnetId, registry, bans }),
 *   services: {
 *     identify: identify(),
 *     pubsub: gossipsub(artifactGossipsubOptions({ subnetId, registry, kinds: ['block'] })),
 *     artifacts: artifactGossip({ subnetId, registry, verifier, bans, kinds: [blockKind] })
 *   }
 * })
 * await node.services.artifacts.publish('block', bytes)
 * ```
 */
import { ArtifactGossipService, type ArtifactGossipComponents, type ArtifactGossipInit } from './service.js'

export { ArtifactGossipService }
export type { ArtifactGossipComponents, ArtifactGossipInit, ArtifactGossipEvents, GossipsubRouter, PeerSubscribed, PublishedArtifact } from './service.js'
export { InMemoryArtifactPool } from './pool.js'
export type { ArtifactPool, PoolEntry, PoolSection, AddResult, InMemoryArtifactPoolOptions } from './pool.js'
export { checkArtifactKind } from './artifact-kind.js'
export type { ArtifactKind, ValidationContext, Verdict } from './artifact-kind.js'
export type { SignatureSet, SignatureVerifier } from './verifier.js'
export { defaultPriority, windowPriority } from './priority.js'
export type { Priority, PriorityFn, PriorityInput, PriorityContext } from './priority.js'
export { ArtifactProcessor } from './processor.js'
export type { AcceptedArtifact, DropPolicy, KindRegistration, ProcessorInit, ProcessorTuning } from './processor.js'
export { ArtifactFetcher } from './fetcher.js'
export type { FetcherInit, FetchOutcome } from './fetcher.js'
export { serveFetch, requestArtifact } from './fetch-protocol.js'
export type { ArtifactSource, ServeOutcome } from './fetch-protocol.js'
export { artifactGossipsubOptions, artifactTopicScoreParams, artifactScoreThresholds } from './gossipsub-options.js'
export type { ArtifactGossipsubOptionsInit } from './gossipsub-options.js'
export { subnetConnectionGater, PeerBanList } from './gater.js'
export type { SubnetConnectionGaterInit } from './gater.js'
export { isSubnetMember, resolveRegistry } from './membership.js'
export type { RegistrySource } from './membership.js'
export { artifactTopic, parseArtifactTopic } from './topics.js'
export { artifactId, artifactIdHex } from './artifact-id.js'
export { artifactMessageId, artifactMessageIdFn, messageIdToString, decodeGossipMessage, readGossipMessage, encodeAdvert, encodeInline } from './envelope.js'
export type { Advert, ArtifactIdFn, GossipBody } from './envelope.js'
export { createArtifactGossipMetrics } from './metrics.js'
export type { ArtifactGossipMetrics } from './metrics.js'
export { UnknownKindError, FetchFailedError, NotStartedError } from './errors.js'
export * from './constants.js'

/** The libp2p service factory: `services: { artifacts: artifactGossip(init) }`. */
export function artifactGossip (init: ArtifactGossipInit): (components: ArtifactGossipComponents) => ArtifactGossipService {
  return (components) => new ArtifactGossipService(components, init)
}
