import type { NodeConfig, Registry } from '@icnet/registry'
import { NotFoundError, type SubnetId, fromHex } from '@icnet/types'
import { Committee, NodeSigner } from './committee.js'
import type { ConsensusParams } from './consensus.js'

/** The committee of `subnetId` as the registry records it. */
export function committeeFromRegistry (registry: Registry, subnetId: SubnetId): Committee {
  const subnet = registry.requireSubnet(subnetId)
  return new Committee({
    subnetId,
    nodes: subnet.nodes,
    blsPublicKeys: registry.subnetNodes(subnetId).map(n => n.blsPublicKey),
    thresholdPublicKey: subnet.publicKey,
    thresholdSharePublicKeys: subnet.thresholdShares.map(s => s.publicKey),
    threshold: subnet.threshold
  })
}

/** The consensus parameters of `subnetId`. */
export function paramsFromRegistry (registry: Registry, subnetId: SubnetId): ConsensusParams {
  const p = registry.requireSubnet(subnetId).params
  return { unitDelayMs: p.unitDelayMs, maxBlockPayloadBytes: p.maxBlockPayloadBytes, checkpointInterval: p.checkpointInterval }
}

/** The node's signer from its private config. */
export function signerFromConfig (registry: Registry, config: NodeConfig): NodeSigner {
  const subnet = registry.getSubnet(registry.subnetOfNode(config.nodeId) ?? registry.rootSubnetId())
  const index = subnet?.nodes.indexOf(config.nodeId) ?? -1
  if (index < 0) throw new NotFoundError(`node ${config.nodeId} is not a member of any subnet`)
  return new NodeSigner({ index, blsSecretKey: fromHex(config.blsSecretKey), thresholdSecretKey: fromHex(config.thresholdShare.secretKey) })
}
