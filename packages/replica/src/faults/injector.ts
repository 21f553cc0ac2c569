import { noopMetrics, type Counter, type Metrics, type SubnetId } from '@icnet/types'
import { InvalidRequestError } from './errors.js'
import { GossipFlood, type FloodPublisher } from './gossip-flood.js'
import { describeFaults, type ReplicaFaults } from './options.js'
import { Partition, closeDenied, partitionGater } from './partition.js'
import { LyingCheckpointStore } from './state-sync-chunks.js'
import { MaliciousSliceStore } from './xnet-slices.js'
import type { StructuredLog } from '../log.js'
import type { CheckpointStore } from '@icnet/state-sync'
import type { CertifiedStreamStore } from '@icnet/xnet-stream'
import type { Connection, ConnectionGater } from '@libp2p/interface'

/** Largest body of an admin request (a partition names at most MAX_PARTITION_PEERS ids of ~53 characters). */
export const MAX_ADMIN_BODY_BYTES = 64 * 1024

/** What the injector needs of the running libp2p node. */
export interface FaultHost {
  getConnections(): Connection[]
  services: { pubsub?: FloodPublisher }
}

/** The admin routes' backend (present only with `faults.admin`). */
export interface FaultsAdmin {
  /** `POST /api/faults/partition` with `{"deny": [peer ids]}`. */
  partition(body: unknown): Promise<void>
  /** `DELETE /api/faults/partition`. */
  heal(): Promise<void>
}

export interface FaultInjectorInit {
  faults?: ReplicaFaults
  log: StructuredLog
  /** This node's subnet (the flood's topics). */
  subnetId?: SubnetId
  metrics?: Metrics
}

/**
 * The replica's byzantine and test-only behaviour, configured by `replica.faults`.
 * It hands the replica wrapped versions of the interfaces it gives the protocol
 * services; with no faults configured every wrapper is the identity.
 * `icnet_replica_faults_injected_total{fault}` counts each misdeed, so a test
 * can compare what the node did with what its peers refused.
 */
export class FaultInjector {
  readonly faults: ReplicaFaults
  readonly admin?: FaultsAdmin
  private readonly log: StructuredLog
  private readonly partition = new Partition()
  private readonly subnetId?: SubnetId
  private readonly metrics: Metrics
  private injectedCounter?: Counter
  private host?: FaultHost
  private flood?: GossipFlood
  private floodStarted = false
  private lying?: LyingCheckpointStore

  constructor (init: FaultInjectorInit) {
    this.faults = init.faults ?? {}
    this.log = init.log
    this.metrics = init.metrics ?? noopMetrics
    if (init.subnetId !== undefined) this.subnetId = init.subnetId
    if (this.faults.admin === true) {
      this.admin = {
        partition: async (body) => { await this.applyPartition(body) },
        heal: async () => {
          this.partition.lift()
          this.log.warn('fault admin: partition lifted')
        }
      }
    }
  }

  /** Whether any fault is configured. */
  get active (): boolean { return describeFaults(this.faults).length > 0 }

  private injected (fault: 'slice_alter_payload' | 'slice_alter_hash' | 'slice_bad_signature' | 'chunk_corrupt' | 'chunk_stall' | 'gossip_invalid_artifact' | 'gossip_publish_failed'): void {
    this.injectedCounter ??= this.metrics.counter({ name: 'icnet_replica_faults_injected_total', help: 'Misbehaviour injected by replica.faults (test networks only), by fault', labelNames: ['fault'] })
    this.injectedCounter.inc(1, { fault })
  }

  /** The libp2p connection gater, with the admin partition checked first. */
  gater (inner: ConnectionGater): ConnectionGater {
    return this.faults.admin === true ? partitionGater(inner, this.partition) : inner
  }

  /** The store the XNet service serves slices from: corrupting every slice under `xnetSlices`. */
  streamStore (inner: CertifiedStreamStore): CertifiedStreamStore {
    const mode = this.faults.xnetSlices
    if (mode === undefined) return inner
    return new MaliciousSliceStore(inner, mode, applied => { this.injected(`slice_${applied.replace('-', '_')}` as 'slice_alter_hash') })
  }

  /** The store the state-sync service serves from: lying under `stateSyncChunks`. */
  checkpointStore (inner: CheckpointStore): CheckpointStore {
    const mode = this.faults.stateSyncChunks
    if (mode === undefined) return inner
    this.lying = new LyingCheckpointStore(inner, mode, m => { this.injected(m === 'corrupt' ? 'chunk_corrupt' : 'chunk_stall') })
    return this.lying
  }

  /** Called once the libp2p node runs: says what is injected, and starts the faults that act on their own. */
  attach (host: FaultHost): void {
    this.host = host
    if (!this.active) return
    this.log.warn('FAULTS INJECTED: this node misbehaves on purpose (test networks only)', { faults: describeFaults(this.faults) })
    const rate = this.faults.gossipFloodPerS
    if (rate !== undefined && host.services.pubsub != null && this.subnetId !== undefined) {
      this.flood = new GossipFlood({
        pubsub: host.services.pubsub,
        subnetId: this.subnetId,
        perSecond: rate,
        onPublished: ok => { this.injected(ok ? 'gossip_invalid_artifact' : 'gossip_publish_failed') }
      })
    }
  }

  /**
   * The node's state was certified at `height`. The flood starts at the first
   * certification: a flooder is cut off by its peers within seconds, and a
   * node that never reached a certified state would leave nothing to compare.
   */
  certified (height: number): void {
    if (this.flood === undefined || this.floodStarted || height < 1) return
    this.floodStarted = true
    this.log.warn('fault: gossip flood starts', { height, perSecond: this.faults.gossipFloodPerS })
    this.flood.start()
  }

  stop (): void {
    this.flood?.stop()
    this.lying?.release()
    this.partition.lift()
  }

  private async applyPartition (body: unknown): Promise<void> {
    const deny = (body as { deny?: unknown } | null)?.deny
    if (typeof body !== 'object' || body === null || !Array.isArray(deny) || !deny.every(p => typeof p === 'string')) {
      throw new InvalidRequestError('body must be {"deny": ["<peer id>", ...]}')
    }
    this.partition.deny(deny as string[])
    const closed = this.host == null ? 0 : await closeDenied(this.host.getConnections(), this.partition)
    this.log.warn('fault admin: partition applied', { denied: this.partition.size, connectionsClosed: closed })
  }
}
