import { principalEquals, type RegistryView, type SubnetId } from '@icnet/types'

/** A registry, or a getter returning the current one (registry versions change over time). */
export type RegistrySource = RegistryView | (() => RegistryView)

export function resolveRegistry (source: RegistrySource): RegistryView {
  return typeof source === 'function' ? source() : source
}

/** True when the registry lists `peerId` as a node of `subnetId`. */
export function isSubnetMember (registry: RegistryView, subnetId: SubnetId, peerId: string): boolean {
  const subnet = registry.subnetOfNode(peerId)
  return subnet != null && principalEquals(subnet, subnetId)
}
