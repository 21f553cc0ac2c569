import type { SubnetId } from '@icnet/types'
import { DOMAIN, sha256 } from './hashing.js'
import type { BlockProposal, CatchUpPackage, RandomBeacon } from './pb/consensus.js'

const ZERO_HASH = new Uint8Array(32)

/**
 * Height 0 of a subnet: a block and a beacon everyone derives from the subnet
 * id alone (trusted by construction, like the IC's genesis CUP from the
 * registry). They differ per subnet, so no artifact fits two subnets.
 */
export function genesisProposal (subnetId: SubnetId): BlockProposal {
  return {
    block: { parent: sha256(DOMAIN.genesis, subnetId.toUint8Array()), height: 0n, rank: 0, time: 0n, beacon: ZERO_HASH, payload: [] },
    signer: 0,
    signature: new Uint8Array(0)
  }
}

export function genesisBeacon (subnetId: SubnetId): RandomBeacon {
  return { height: 0n, parent: ZERO_HASH, signature: sha256(DOMAIN.genesisBeacon, subnetId.toUint8Array()) }
}

export function genesisCup (subnetId: SubnetId): CatchUpPackage {
  return { content: { block: genesisProposal(subnetId), beacon: genesisBeacon(subnetId), stateHash: ZERO_HASH }, signature: new Uint8Array(0) }
}
