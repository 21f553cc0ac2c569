import type { Counter, Gauge, Histogram, Metrics } from '@icnet/types'

/** Every metric of the gossip layer. Labels: kind (registered set), outcome/reason/mode (fixed sets). */
export interface ArtifactGossipMetrics {
  /** Gossip messages received per kind and mode (inline | advert). */
  received: Counter
  /** Artifacts we already held when they arrived again. */
  duplicates: Counter
  /** Validation outcomes per kind: accept | reject | ignore. */
  validated: Counter
  /** Artifacts discarded before validation, per reason: priority | purged | queue_full | stash_full | pool_full | fetch_failed. */
  dropped: Counter
  /** Artifacts awaiting validation, per kind. */
  queueDepth: Gauge
  /** Adverts awaiting a fetch slot. */
  fetchQueueDepth: Gauge
  /** Stashed artifacts per kind. */
  stashDepth: Gauge
  /** Seconds from the first fetch attempt to verified bytes (all attempts). */
  fetchLatency: Histogram
  /** Fetch attempts per outcome: ok | not_found | bad_bytes | timeout | error. */
  fetchAttempts: Counter
  /** Fetch requests served per outcome: ok | not_found | unknown_kind | bad_request. */
  served: Counter
  /** Signature sets handed to the verifier. */
  signatureSets: Counter
  /** Connections closed because the peer's score fell below the disconnect threshold. */
  disconnected: Counter
  /** Messages refused because the sender is not a member of the subnet. */
  nonMember: Counter
  /** Artifacts we published, per mode. */
  published: Counter
}

export function createArtifactGossipMetrics (m: Metrics): ArtifactGossipMetrics {
  return {
    received: m.counter({ name: 'icnet_artifact_received_total', help: 'Gossip messages received', labelNames: ['kind', 'mode'] }),
    duplicates: m.counter({ name: 'icnet_artifact_duplicates_total', help: 'Artifacts received that were already held', labelNames: ['kind'] }),
    validated: m.counter({ name: 'icnet_artifact_validated_total', help: 'Validation outcomes', labelNames: ['kind', 'outcome'] }),
    dropped: m.counter({ name: 'icnet_artifact_dropped_total', help: 'Artifacts dropped before validation', labelNames: ['kind', 'reason'] }),
    queueDepth: m.gauge({ name: 'icnet_artifact_queue_depth', help: 'Artifacts awaiting validation', labelNames: ['kind'] }),
    fetchQueueDepth: m.gauge({ name: 'icnet_artifact_fetch_queue_depth', help: 'Adverts awaiting a fetch slot' }),
    stashDepth: m.gauge({ name: 'icnet_artifact_stash_depth', help: 'Artifacts stashed by the priority function', labelNames: ['kind'] }),
    fetchLatency: m.histogram({ name: 'icnet_artifact_fetch_seconds', help: 'Time to fetch a large artifact', labelNames: ['kind'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] }),
    fetchAttempts: m.counter({ name: 'icnet_artifact_fetch_attempts_total', help: 'Fetch attempts', labelNames: ['kind', 'outcome'] }),
    served: m.counter({ name: 'icnet_artifact_fetch_served_total', help: 'Fetch requests served', labelNames: ['outcome'] }),
    signatureSets: m.counter({ name: 'icnet_artifact_signature_sets_total', help: 'Signature sets verified', labelNames: ['kind'] }),
    disconnected: m.counter({ name: 'icnet_artifact_peers_disconnected_total', help: 'Peers disconnected for a low score' }),
    nonMember: m.counter({ name: 'icnet_artifact_non_member_total', help: 'Messages refused from peers outside the subnet', labelNames: ['kind'] }),
    published: m.counter({ name: 'icnet_artifact_published_total', help: 'Artifacts published', labelNames: ['kind', 'mode'] })
  }
}
