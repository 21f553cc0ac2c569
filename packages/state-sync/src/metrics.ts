import type { Counter, Gauge, Histogram, Metrics } from '@icnet/types'

/** Every metric state sync records. Labels come from bounded sets (outcome, kind, source). */
export interface StateSyncMetrics {
  /** Chunks a downloader obtained, by source (`fetched`, `copied`, `resumed`) and outcome. */
  chunks: Counter
  /** Bytes a downloader obtained, by source. */
  bytes: Counter
  /** Blocks this node served, by kind and outcome (`block`, `dont_have`, `error`). */
  served: Counter
  /** Bytes this node served. */
  servedBytes: Counter
  /** Peers a downloader is fetching from right now. */
  peersInUse: Gauge
  /** Peers evicted by a downloader, by reason (`bad_block`, `stalled`, `gone`, `dont_have`). */
  evictions: Counter
  /** Open serving ledgers (inbound sessions). */
  ledgers: Gauge
  /** Inbound streams refused or reset for protocol violations, by reason. */
  violations: Counter
  /** Duration of a whole sync in seconds, by result. */
  syncDuration: Histogram
}

export function stateSyncMetrics (m: Metrics): StateSyncMetrics {
  return {
    chunks: m.counter({ name: 'icnet_state_sync_chunks_total', help: 'Chunks obtained by a state sync', labelNames: ['source', 'outcome'] }),
    bytes: m.counter({ name: 'icnet_state_sync_bytes_total', help: 'Bytes obtained by a state sync', labelNames: ['source'] }),
    served: m.counter({ name: 'icnet_state_sync_served_total', help: 'Blocks served to peers', labelNames: ['kind', 'outcome'] }),
    servedBytes: m.counter({ name: 'icnet_state_sync_served_bytes_total', help: 'Bytes served to peers' }),
    peersInUse: m.gauge({ name: 'icnet_state_sync_peers_in_use', help: 'Peers a running sync fetches from' }),
    evictions: m.counter({ name: 'icnet_state_sync_evictions_total', help: 'Peers dropped by a sync', labelNames: ['reason'] }),
    ledgers: m.gauge({ name: 'icnet_state_sync_ledgers', help: 'Inbound sessions being served' }),
    violations: m.counter({ name: 'icnet_state_sync_violations_total', help: 'Inbound protocol violations', labelNames: ['reason'] }),
    syncDuration: m.histogram({ name: 'icnet_state_sync_duration_seconds', help: 'Duration of a state sync', labelNames: ['result'], buckets: [1, 5, 15, 60, 300, 1800, 7200] })
  }
}
