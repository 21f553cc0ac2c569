import { RoutingTable, principalText, type NodeId, type NodeRecord, type RegistryView, type SubnetId, type SubnetRecord } from '@icnet/types'

/**
 * A fixed `RegistryView` built from subnet and node records: enough for a host
 * that reuses this package without the icnet registry, for examples and tests.
 */
export class StaticRegistryView implements RegistryView {
  readonly version: number
  private readonly subnets = new Map<string, SubnetRecord>()
  private readonly nodes = new Map<NodeId, NodeRecord>()
  private readonly routing: RoutingTable

  constructor (init: { subnets: SubnetRecord[], nodes?: NodeRecord[], routingTable?: RoutingTable, version?: number }) {
    this.version = init.version ?? 1
    for (const s of init.subnets) this.subnets.set(principalText(s.id), s)
    for (const n of init.nodes ?? []) this.nodes.set(n.id, n)
    // Nodes listed only in subnet records still belong to their subnet.
    for (const s of init.subnets) {
      for (const id of s.nodes) {
        if (!this.nodes.has(id)) this.nodes.set(id, { id, subnetId: s.id, p2pAddresses: [], blsPublicKey: new Uint8Array(48) })
      }
    }
    this.routing = init.routingTable ?? new RoutingTable([])
  }

  subnetIds (): SubnetId[] { return [...this.subnets.values()].map(s => s.id) }
  getSubnet (id: SubnetId): SubnetRecord | undefined { return this.subnets.get(principalText(id)) }
  getNode (id: NodeId): NodeRecord | undefined { return this.nodes.get(id) }
  subnetOfNode (id: NodeId): SubnetId | undefined { return this.nodes.get(id)?.subnetId }
  routingTable (): RoutingTable { return this.routing }
  rootSubnetId (): SubnetId { return this.subnetIds()[0]! }
}
