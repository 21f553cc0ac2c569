import { noopMetrics, type Counter, type Gauge, type Histogram, type Metrics } from '@icnet/types'

/** The package's metrics, with the IC's names (`xnet_builder_*`, `xnet_slice_*`). Labels are bounded sets. */
export interface XNetMetrics {
  buildPayloadDuration: Histogram
  validatePayloadDuration: Histogram
  /** status: success | no_stream | bad_begin | forbidden | busy | timeout | error | invalid | stale | no_peer */
  pullAttemptCount: Counter
  querySliceDuration: Histogram
  sliceMessages: Histogram
  slicePayloadSize: Histogram
  outstandingQueries: Gauge
  /** reason: an InvalidSliceReason */
  invalidSlices: Counter
  /** reason: stale (authentic, but older than what we have: the sender is behind) */
  droppedSlices: Counter
  poolBytes: Gauge
  poolSlices: Gauge
  /** outcome: served | no_stream | bad_begin | forbidden | busy | bad_request | internal */
  servedRequests: Counter
  advertsReceived: Counter
  advertsCoalesced: Counter
  /** Advert streams this node opened (each carries many adverts; see AdvertChannels). */
  advertStreamsOpened: Counter
  countBytesInvalid: Counter
}

const SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

export function createXNetMetrics (m: Metrics = noopMetrics): XNetMetrics {
  return {
    buildPayloadDuration: m.histogram({ name: 'xnet_builder_build_payload_duration_seconds', help: 'Time to build an XNet payload', labelNames: ['status'], buckets: SECONDS }),
    validatePayloadDuration: m.histogram({ name: 'xnet_builder_validate_payload_duration_seconds', help: 'Time to validate an XNet payload', labelNames: ['status'], buckets: SECONDS }),
    pullAttemptCount: m.counter({ name: 'xnet_builder_pull_attempt_count', help: 'Slice pull attempts by status', labelNames: ['status'] }),
    querySliceDuration: m.histogram({ name: 'xnet_builder_query_slice_duration_seconds', help: 'Time to pull one slice, by status', labelNames: ['status'], buckets: SECONDS }),
    sliceMessages: m.histogram({ name: 'xnet_builder_slice_messages', help: 'Messages per pulled slice', buckets: [0, 1, 10, 100, 1000, 10_000] }),
    slicePayloadSize: m.histogram({ name: 'xnet_builder_slice_payload_size_bytes', help: 'Encoded size of pulled slices', buckets: [1024, 16_384, 131_072, 1_048_576, 4_194_304, 16_777_216] }),
    outstandingQueries: m.gauge({ name: 'xnet_builder_outstanding_queries', help: 'Slice pulls in flight' }),
    invalidSlices: m.counter({ name: 'xnet_slice_invalid_total', help: 'Slices refused, by reason', labelNames: ['reason'] }),
    droppedSlices: m.counter({ name: 'xnet_slice_dropped_total', help: 'Authentic slices dropped without blaming the sender, by reason', labelNames: ['reason'] }),
    poolBytes: m.gauge({ name: 'xnet_slice_pool_bytes', help: 'Bytes held by the certified slice pool' }),
    poolSlices: m.gauge({ name: 'xnet_slice_pool_slices', help: 'Slices held by the certified slice pool' }),
    servedRequests: m.counter({ name: 'xnet_endpoint_requests_total', help: 'Slice requests served, by outcome', labelNames: ['outcome'] }),
    advertsReceived: m.counter({ name: 'xnet_adverts_received_total', help: 'Stream adverts received' }),
    advertsCoalesced: m.counter({ name: 'xnet_adverts_coalesced_total', help: 'Adverts of a height whose pull had already started (no pull of their own)' }),
    advertStreamsOpened: m.counter({ name: 'xnet_advert_streams_opened_total', help: 'Advert streams opened to receiving nodes (each carries many adverts)' }),
    countBytesInvalid: m.counter({ name: 'xnet_slice_count_bytes_invalid', help: 'Slices whose byte count did not match' })
  }
}
