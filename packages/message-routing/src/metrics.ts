import { noopMetrics, type Counter, type Gauge, type Histogram, type Metrics } from '@icnet/types'

/** Kinds of critical error (IC: `mr_*` critical errors): a bounded label set. */
export type CriticalErrorKind =
  | 'sender_subnet_mismatch'
  | 'receiver_subnet_mismatch'
  | 'invalid_signals'
  | 'stream_gap'
  | 'response_not_inducted'
  | 'unknown_callback'
  | 'rejected_response'

/** Where a request was refused and got a reject instead of running: a bounded label set. */
export type RequestRejectKind =
  | 'queue_full'            // the receiver's input queue had no room (reject signal or local reject)
  | 'canister_not_found'
  | 'canister_migrating'
  | 'canister_stopping'     // the receiver is stopping: it takes responses only
  | 'canister_stopped'
  | 'destination_invalid'   // no subnet hosts the receiver
  | 'calls_in_flight'       // the caller's output queue or callback table was full

export interface MessageRoutingMetrics {
  inducted: Counter
  rejectedRequests: Counter
  criticalErrors: Counter
  executed: Counter
  roundInstructions: Histogram
  roundDuration: Histogram
  streamMessages: Gauge
  streamBytes: Gauge
  outputsWaiting: Gauge
  ingressHistory: Gauge
  stoppingCanisters: Gauge
  pendingStopCalls: Gauge
  checkpointDuration: Histogram
  height: Gauge
  certifiedHeight: Gauge
}

export function createMetrics (m: Metrics = noopMetrics): MessageRoutingMetrics {
  return {
    inducted: m.counter({ name: 'icnet_mr_inducted_messages_total', help: 'Messages inducted, by source (loopback, xnet, ingress) and outcome', labelNames: ['source', 'outcome'] }),
    rejectedRequests: m.counter({ name: 'icnet_mr_rejected_requests_total', help: 'Requests refused with a reject (signal or response) instead of being executed, by reason', labelNames: ['reason'] }),
    criticalErrors: m.counter({ name: 'icnet_mr_critical_errors_total', help: 'Critical errors of message routing, by kind', labelNames: ['kind'] }),
    executed: m.counter({ name: 'icnet_mr_executed_messages_total', help: 'Messages executed, by kind', labelNames: ['kind'] }),
    roundInstructions: m.histogram({ name: 'icnet_mr_round_instructions', help: 'Instructions used per round', buckets: [1e5, 1e6, 1e7, 1e8, 1e9, 4e9] }),
    roundDuration: m.histogram({ name: 'icnet_mr_round_duration_seconds', help: 'Wall time to execute a batch', buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 2] }),
    streamMessages: m.gauge({ name: 'icnet_mr_stream_messages', help: 'Messages in the stream towards a subnet', labelNames: ['subnet'] }),
    streamBytes: m.gauge({ name: 'icnet_mr_stream_bytes', help: 'Message bytes in the stream towards a subnet', labelNames: ['subnet'] }),
    outputsWaiting: m.gauge({ name: 'icnet_mr_outputs_waiting', help: 'Messages waiting in canister output queues (stream backpressure)' }),
    ingressHistory: m.gauge({ name: 'icnet_mr_ingress_history_entries', help: 'Entries in the ingress history' }),
    stoppingCanisters: m.gauge({ name: 'icnet_mr_stopping_canisters', help: 'Canisters in the stopping phase (waiting for their open call contexts to close)' }),
    pendingStopCalls: m.gauge({ name: 'icnet_mr_pending_stop_calls', help: 'stop_canister calls waiting for their canister to stop' }),
    checkpointDuration: m.histogram({ name: 'icnet_mr_checkpoint_duration_seconds', help: 'Wall time to write a checkpoint', buckets: [0.01, 0.1, 0.5, 2, 10] }),
    height: m.gauge({ name: 'icnet_mr_executed_height', help: 'Last executed height' }),
    certifiedHeight: m.gauge({ name: 'icnet_mr_certified_height', help: 'Last certified height' })
  }
}
