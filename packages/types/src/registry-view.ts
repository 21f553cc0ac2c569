import type { NodeId, SubnetId } from './ids.js'
import type { RoutingTable } from './ranges.js'

export type SubnetType = 'application' | 'system'

/** What a protocol needs to know about a subnet. */
export interface SubnetRecord {
  id: SubnetId
  type: SubnetType
  /** Member nodes, in registry order (a node's position is its index in signer bitmaps). */
  nodes: NodeId[]
  /** The subnet's threshold public key: a compressed BLS12-381 G2 point (96 bytes). */
  publicKey: Uint8Array
  /** The same key in the IC's DER form; the subnet id is its self-authenticating principal. */
  publicKeyDer: Uint8Array
}

/** What a protocol needs to know about a node. */
export interface NodeRecord {
  id: NodeId
  subnetId: SubnetId
  /** libp2p multiaddrs the node listens on. */
  p2pAddresses: string[]
  /** Base URL of the node's public HTTP endpoint, if it runs one. */
  httpUrl?: string
  /** The node's BLS public key for consensus multi-signatures (@chainsafe/bls, compressed G1, 48 bytes). */
  blsPublicKey: Uint8Array
}

/**
 * A read-only view of the registry at one version. Protocol packages take this
 * interface, never the registry package, so any libp2p host can supply it.
 */
export interface RegistryView {
  readonly version: number
  subnetIds(): SubnetId[]
  getSubnet(id: SubnetId): SubnetRecord | undefined
  getNode(id: NodeId): NodeRecord | undefined
  /** The subnet a node belongs to, or undefined for a node the registry does not know. */
  subnetOfNode(id: NodeId): SubnetId | undefined
  routingTable(): RoutingTable
  /** The root subnet, whose key signs delegations for every other subnet. */
  rootSubnetId(): SubnetId
}
