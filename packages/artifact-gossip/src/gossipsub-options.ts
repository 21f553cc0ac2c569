import { MiB, type SubnetId } from '@icnet/types'
import {
  BEHAVIOUR_PENALTY_DECAY, BEHAVIOUR_PENALTY_THRESHOLD, BEHAVIOUR_PENALTY_WEIGHT, DEFAULT_INLINE_THRESHOLD_BYTES, GOSSIP_THRESHOLD, GRAYLIST_THRESHOLD, INVALID_DELIVERY_DECAY,
  INVALID_DELIVERY_WEIGHT, NON_MEMBER_APP_SCORE, PUBLISH_THRESHOLD
} from './constants.js'
import { artifactMessageId, artifactMessageIdFn, messageIdToString, type ArtifactIdFn } from './envelope.js'
import { isSubnetMember, resolveRegistry, type RegistrySource } from './membership.js'
import { artifactTopic } from './topics.js'
import type { ArtifactKind } from './artifact-kind.js'
import type { GossipsubOpts } from '@libp2p/gossipsub'
import type { PeerScoreParams, PeerScoreThresholds, TopicScoreParams } from '@libp2p/gossipsub/score'

export interface ArtifactGossipsubOptionsInit {
  subnetId: SubnetId
  /**
   * The kinds that will be registered (names, or the kind definitions themselves); their
   * topics get score parameters. Pass definitions for kinds with their own `id` function,
   * so message ids equal artifact ids.
   */
  kinds: Array<string | Pick<ArtifactKind<unknown>, 'kind' | 'id'>>
  /** The registry (or a getter for the current one): non-members are scored below the graylist. */
  registry: RegistrySource
  /** Must match the service's inlineThresholdBytes (default 64 KiB). */
  inlineThresholdBytes?: number
  /** Per-topic score overrides. */
  topicScoreParams?: Partial<TopicScoreParams>
}

/**
 * Score parameters for one artifact topic. Quiet topics are normal (a beacon share per
 * round), so mesh-delivery deficits are not penalised; first deliveries earn a little,
 * and invalid deliveries cost quadratically: three invalid artifacts within a few
 * seconds take a peer below the graylist threshold.
 */
export function artifactTopicScoreParams (overrides: Partial<TopicScoreParams> = {}): Partial<TopicScoreParams> {
  return {
    topicWeight: 1,
    timeInMeshWeight: 0.01,
    timeInMeshQuantum: 1000,
    timeInMeshCap: 300,
    firstMessageDeliveriesWeight: 0.5,
    firstMessageDeliveriesDecay: 0.9,
    firstMessageDeliveriesCap: 20,
    meshMessageDeliveriesWeight: 0,
    meshFailurePenaltyWeight: 0,
    invalidMessageDeliveriesWeight: INVALID_DELIVERY_WEIGHT,
    invalidMessageDeliveriesDecay: INVALID_DELIVERY_DECAY,
    ...overrides
  }
}

export const artifactScoreThresholds: Partial<PeerScoreThresholds> = {
  gossipThreshold: GOSSIP_THRESHOLD,
  publishThreshold: PUBLISH_THRESHOLD,
  graylistThreshold: GRAYLIST_THRESHOLD
}

/**
 * Options for the host's `gossipsub(...)` so it carries artifact gossip correctly:
 * artifact ids as message ids, no libp2p signatures (artifacts carry their own),
 * asynchronous validation (nothing is forwarded before it is validated), per-topic
 * scoring, and non-members of the subnet scored out of every mesh.
 */
export function artifactGossipsubOptions (init: ArtifactGossipsubOptionsInit): Partial<GossipsubOpts> {
  const topics: Record<string, Partial<TopicScoreParams>> = {}
  const idFns = new Map<string, ArtifactIdFn>()
  for (const k of init.kinds) {
    const name = typeof k === 'string' ? k : k.kind
    if (typeof k !== 'string' && k.id != null) idFns.set(name, k.id)
    topics[artifactTopic(init.subnetId, name)] = artifactTopicScoreParams(init.topicScoreParams)
  }
  const scoreParams: Partial<PeerScoreParams> = {
    topics: topics as Record<string, TopicScoreParams>,
    appSpecificScore: (peer: string) => isSubnetMember(resolveRegistry(init.registry), init.subnetId, peer) ? 0 : NON_MEMBER_APP_SCORE,
    appSpecificWeight: 1,
    behaviourPenaltyWeight: BEHAVIOUR_PENALTY_WEIGHT,
    behaviourPenaltyThreshold: BEHAVIOUR_PENALTY_THRESHOLD,
    behaviourPenaltyDecay: BEHAVIOUR_PENALTY_DECAY,
    // All nodes of a local testnet share 127.0.0.1; colocation says nothing here.
    IPColocationFactorWeight: 0
  }
  const inline = init.inlineThresholdBytes ?? DEFAULT_INLINE_THRESHOLD_BYTES
  return {
    globalSignaturePolicy: 'StrictNoSign',
    msgIdFn: idFns.size === 0 ? artifactMessageId : artifactMessageIdFn(kind => idFns.get(kind)),
    msgIdToStrFn: messageIdToString,
    asyncValidation: true,
    allowPublishToZeroTopicPeers: true,
    ignoreDuplicatePublishError: true,
    scoreParams,
    scoreThresholds: artifactScoreThresholds,
    // One RPC carries at most one inline artifact plus control messages (IHAVE lists of ids).
    maxInboundDataLength: Math.max(1 * MiB, inline + 256 * 1024)
  }
}
