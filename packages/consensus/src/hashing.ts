import { createHash } from 'node:crypto'
import { concatBytes, domainSeparator, u64be } from '@icnet/types'
import { Block, CatchUpContent, RandomBeacon } from './pb/consensus.js'

/** Domain separators: every hash and every signed message names what it is, so no signature can be replayed as another kind. */
export const DOMAIN = {
  block: domainSeparator('icnet-block'),
  beaconHash: domainSeparator('icnet-random-beacon-hash'),
  cupContent: domainSeparator('icnet-catch-up-content'),
  proposal: domainSeparator('icnet-block-proposal'),
  notarization: domainSeparator('icnet-notarization'),
  finalization: domainSeparator('icnet-finalization'),
  beacon: domainSeparator('icnet-random-beacon'),
  stateRoot: domainSeparator('ic-state-root'),
  cup: domainSeparator('icnet-catch-up-package'),
  genesis: domainSeparator('icnet-genesis'),
  genesisBeacon: domainSeparator('icnet-genesis-beacon'),
  ranking: domainSeparator('icnet-block-maker-ranking'),
  randomness: domainSeparator('icnet-batch-randomness')
} as const

export function sha256 (...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha256')
  for (const p of parts) h.update(p)
  return new Uint8Array(h.digest())
}

export function blockHash (block: Block): Uint8Array {
  return sha256(DOMAIN.block, Block.encode(block))
}

export function beaconHash (beacon: RandomBeacon): Uint8Array {
  return sha256(DOMAIN.beaconHash, RandomBeacon.encode(beacon))
}

export function cupContentHash (content: CatchUpContent): Uint8Array {
  return sha256(DOMAIN.cupContent, CatchUpContent.encode(content))
}

/** What a block maker signs. */
export function proposalMessage (hash: Uint8Array): Uint8Array {
  return concatBytes(DOMAIN.proposal, hash)
}

export function notarizationMessage (height: bigint, hash: Uint8Array): Uint8Array {
  return concatBytes(DOMAIN.notarization, u64be(height), hash)
}

export function finalizationMessage (height: bigint, hash: Uint8Array): Uint8Array {
  return concatBytes(DOMAIN.finalization, u64be(height), hash)
}

export function beaconMessage (height: bigint, parent: Uint8Array): Uint8Array {
  return concatBytes(DOMAIN.beacon, u64be(height), parent)
}

/** As on the IC: the subnet certifies `dsep("ic-state-root") ‖ root`, so IC agents verify icnet certificates. */
export function stateRootMessage (root: Uint8Array): Uint8Array {
  return concatBytes(DOMAIN.stateRoot, root)
}

export function cupMessage (contentHash: Uint8Array): Uint8Array {
  return concatBytes(DOMAIN.cup, contentHash)
}

/** The randomness handed to the host with a batch: derived from the beacon, never the beacon itself. */
export function batchRandomness (beacon: RandomBeacon): Uint8Array {
  return sha256(DOMAIN.randomness, beacon.signature)
}
