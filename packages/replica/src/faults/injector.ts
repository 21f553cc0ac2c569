import { InvalidRequestError } from './errors.js'
import { describeFaults, type ReplicaFaults } from './options.js'
import { Partition, closeDenied, partitionGater } from './partition.js'
import type { StructuredLog } from '../log.js'
import type { Connection, ConnectionGater } from '@libp2p/interface'

/** Largest body of an admin request (a partition names at most MAX_PARTITION_PEERS ids of ~53 characters). */
export const MAX_ADMIN_BODY_BYTES = 64 * 1024

/** What the injector needs of the running libp2p node. */
export interface FaultHost {
  getConnections(): Connection[]
}

/** The admin routes' backend (present only with `faults.admin`). */
export interface FaultsAdmin {
  /** `POST /api/faults/partition` with `{"deny": [peer ids]}`. */
  partition(body: unknown): Promise<void>
  /** `DELETE /api/faults/partition`. */
  heal(): Promise<void>
}

/**
 * The replica's byzantine and test-only behaviour, configured by `replica.faults`.
 * It hands the replica wrapped versions of the interfaces it gives the protocol
 * services; with no faults configured every wrapper is the identity.
 */
export class FaultInjector {
  readonly faults: ReplicaFaults
  private readonly log: StructuredLog
  private readonly partition = new Partition()
  private host?: FaultHost
  readonly admin?: FaultsAdmin

  constructor (init: { faults?: ReplicaFaults, log: StructuredLog }) {
    this.faults = init.faults ?? {}
    this.log = init.log
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

  /** The libp2p connection gater, with the admin partition checked first. */
  gater (inner: ConnectionGater): ConnectionGater {
    return this.faults.admin === true ? partitionGater(inner, this.partition) : inner
  }

  /** Called once the libp2p node runs: starts the faults that act on their own. */
  attach (host: FaultHost): void {
    this.host = host
    if (this.active) this.log.warn('FAULTS INJECTED: this node misbehaves on purpose (test networks only)', { faults: describeFaults(this.faults) })
  }

  stop (): void {
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
