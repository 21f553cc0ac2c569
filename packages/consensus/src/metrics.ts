import type { Counter, Gauge, Histogram, Metrics } from '@icnet/types'

const LATENCY_BUCKETS = [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10]

/** Consensus metrics. Labels come from bounded sets: artifact kind, pool section, outcome. */
export class ConsensusMetrics {
  readonly finalizedHeight: Gauge
  readonly notarizedHeight: Gauge
  readonly roundsTotal: Counter
  readonly roundsPerSecond: Gauge
  readonly notarizationLatency: Histogram
  readonly finalizationLatency: Histogram
  readonly poolArtifacts: Gauge
  readonly invalidArtifacts: Counter
  readonly droppedArtifacts: Counter
  readonly sentArtifacts: Counter
  readonly catchUps: Counter
  readonly certifications: Counter
  readonly cups: Counter
  readonly resends: Counter
  /** Finalization times of the last rounds, for the rounds/s gauge. */
  private readonly recent: number[] = []

  constructor (metrics: Metrics) {
    this.finalizedHeight = metrics.gauge({ name: 'icnet_consensus_finalized_height', help: 'Highest finalized height' })
    this.notarizedHeight = metrics.gauge({ name: 'icnet_consensus_notarized_height', help: 'Highest notarized height' })
    this.roundsTotal = metrics.counter({ name: 'icnet_consensus_finalized_rounds_total', help: 'Heights finalized by this node' })
    this.roundsPerSecond = metrics.gauge({ name: 'icnet_consensus_rounds_per_second', help: 'Finalized heights per second over the last 64 heights' })
    this.notarizationLatency = metrics.histogram({ name: 'icnet_consensus_notarization_latency_seconds', help: 'Round start (beacon known) to notarized block', buckets: LATENCY_BUCKETS })
    this.finalizationLatency = metrics.histogram({ name: 'icnet_consensus_finalization_latency_seconds', help: 'Round start (beacon known) to finalized block', buckets: LATENCY_BUCKETS })
    this.poolArtifacts = metrics.gauge({ name: 'icnet_consensus_pool_artifacts', help: 'Artifacts held in the in-memory pool', labelNames: ['section'] })
    this.invalidArtifacts = metrics.counter({ name: 'icnet_consensus_invalid_artifacts_total', help: 'Artifacts that failed validation', labelNames: ['kind'] })
    this.droppedArtifacts = metrics.counter({ name: 'icnet_consensus_dropped_artifacts_total', help: 'Artifacts dropped unvalidated (out of window, pool full, duplicate)', labelNames: ['reason'] })
    this.sentArtifacts = metrics.counter({ name: 'icnet_consensus_artifacts_sent_total', help: 'Artifacts this node broadcast (own and re-sent)', labelNames: ['kind'] })
    this.catchUps = metrics.counter({ name: 'icnet_consensus_catch_ups_total', help: 'Catch-up requests made', labelNames: ['result'] })
    this.certifications = metrics.counter({ name: 'icnet_consensus_certifications_total', help: 'Heights certified' })
    this.cups = metrics.counter({ name: 'icnet_consensus_catch_up_packages_total', help: 'Catch-up packages made or adopted' })
    this.resends = metrics.counter({ name: 'icnet_consensus_resends_total', help: 'Times this node re-sent its open rounds\' artifacts', labelNames: ['reason'] })
  }

  finalizedRound (now: number): void {
    this.roundsTotal.inc()
    this.recent.push(now)
    if (this.recent.length > 64) this.recent.shift()
    if (this.recent.length >= 2) {
      const span = (this.recent[this.recent.length - 1]! - this.recent[0]!) / 1000
      if (span > 0) this.roundsPerSecond.set((this.recent.length - 1) / span)
    }
  }
}
