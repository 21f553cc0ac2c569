import { noopMetrics, type Counter, type Gauge, type Histogram, type Metrics } from '@icnet/types'

/** The endpoint's metrics; label values come from bounded sets (endpoint names, status codes or 'aborted', refusal reasons). */
export interface HttpMetrics {
  duration: Histogram
  requests: Counter
  bodySize: Histogram
  connections: Gauge
  refusals: Counter
  queued: Gauge
  inFlight: Gauge
  syncWaiters: Gauge
}

export function httpMetrics (metrics: Metrics = noopMetrics): HttpMetrics {
  return {
    duration: metrics.histogram({ name: 'http_request_duration_seconds', help: 'Time from request to answer', labelNames: ['endpoint'], buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10] }),
    requests: metrics.counter({ name: 'http_requests_total', help: 'Requests answered, by endpoint and HTTP status', labelNames: ['endpoint', 'status'] }),
    bodySize: metrics.histogram({ name: 'http_request_body_size_bytes', help: 'Request body sizes', labelNames: ['endpoint'], buckets: [256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304] }),
    connections: metrics.gauge({ name: 'http_connections_active', help: 'Open HTTP connections' }),
    refusals: metrics.counter({ name: 'http_requests_refused_total', help: 'Requests refused, by reason', labelNames: ['reason'] }),
    queued: metrics.gauge({ name: 'http_requests_queued', help: 'Requests admitted and waiting for a slot', labelNames: ['endpoint'] }),
    inFlight: metrics.gauge({ name: 'http_requests_in_flight', help: 'Requests of the queued endpoints from arrival to answer (queued, running, or waiting for a certified status)', labelNames: ['endpoint'] }),
    syncWaiters: metrics.gauge({ name: 'http_sync_call_waiters', help: 'v3 calls waiting for their certified status' })
  }
}
