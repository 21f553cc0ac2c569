import type { IncomingMessage, ServerResponse } from 'node:http'
import { httpEndpoint, type HttpEndpoint } from '@icnet/http-endpoint'
import type { MessageRouting } from '@icnet/message-routing'
import { principalEquals, type Metrics, type RegistryView, type SubnetId } from '@icnet/types'
import type { IngressPool } from '../ingress.js'
import type { StructuredLog } from '../log.js'
import { ReplicaHttpBackend } from './backend.js'
import { RootDelegation } from './delegation.js'

export { ReplicaHttpBackend, type ReplicaHttpBackendInit } from './backend.js'
export { RootDelegation } from './delegation.js'

export interface PublicApiInit {
  subnetId: SubnetId
  libp2pPrivateKey: string
  registry: () => RegistryView
  state: () => MessageRouting
  pool: IngressPool
  running: () => boolean
  log: StructuredLog
  metrics?: Metrics
}

/**
 * The IC interface specification's HTTP API of a node (`/api/v2/…`,
 * `/api/v3/…`), served on the node's own HTTP port: the replica's server hands
 * those paths to `handle`. On a non-root subnet it keeps the root delegation.
 */
export class PublicApi {
  readonly backend: ReplicaHttpBackend
  readonly endpoint: HttpEndpoint
  readonly delegation?: RootDelegation

  constructor (init: PublicApiInit) {
    const isRoot = principalEquals(init.registry().rootSubnetId(), init.subnetId)
    if (!isRoot) this.delegation = new RootDelegation({ subnetId: init.subnetId, registry: init.registry, log: init.log })
    this.backend = new ReplicaHttpBackend({ ...init, ...(this.delegation !== undefined ? { delegation: this.delegation } : {}) })
    this.endpoint = httpEndpoint({ backend: this.backend, ...(init.metrics !== undefined ? { metrics: init.metrics } : {}) })
    this.delegation?.start()
  }

  /** Whether `path` belongs to the interface (and so to `handle`). */
  static owns (path: string): boolean { return path.startsWith('/api/v2/') || path.startsWith('/api/v3/') }

  handle (req: IncomingMessage, res: ServerResponse): void { this.endpoint.handleRequest(req, res) }

  async stop (): Promise<void> {
    this.delegation?.stop()
    this.backend.close()
    await this.endpoint.stop()
  }
}
