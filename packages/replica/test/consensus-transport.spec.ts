import assert from 'node:assert/strict'
import type { ArtifactGossipService } from '@icnet/artifact-gossip'
import { ARTIFACT_KINDS, MAX_CERTIFICATION_HEIGHTS } from '@icnet/consensus'
import { GossipConsensusTransport, GOSSIP_POOL_HEIGHTS } from '../src/consensus-transport.js'

/** The pool side of artifact gossip: per-kind purge floors, as the pools keep them (they only rise). */
class PoolFloors extends EventTarget {
  readonly floors = new Map<string, number>()
  kinds (): string[] { return [...ARTIFACT_KINDS] }
  purgeBelow (kind: string, height: number): number {
    this.floors.set(kind, Math.max(this.floors.get(kind) ?? 0, height))
    return 0
  }
}

function transportOver (pools: PoolFloors): GossipConsensusTransport {
  return new GossipConsensusTransport({
    gossip: pools as unknown as ArtifactGossipService,
    registrar: { handle: async () => {}, unhandle: async () => {} },
    memberConnections: () => []
  })
}

describe('GossipConsensusTransport pool purging', () => {
  it('keeps certification artifacts for the certification window below the executed height, everything else a few heights below the finalized one', () => {
    const pools = new PoolFloors()
    const transport = transportOver(pools)
    // A node executing far behind its finalized height (just state-synced, or restarted).
    transport.purgeBelow(1_000, 700)
    for (const kind of ARTIFACT_KINDS) {
      const expected = kind === 'certification' || kind === 'certification-share' ? 700 - MAX_CERTIFICATION_HEIGHTS : 1_000 - GOSSIP_POOL_HEIGHTS
      assert.equal(pools.floors.get(kind), expected, kind)
    }
  })

  it('a node executing at its finalized height keeps the certification window below it', () => {
    const pools = new PoolFloors()
    transportOver(pools).purgeBelow(500)
    assert.equal(pools.floors.get('certification-share'), 500 - MAX_CERTIFICATION_HEIGHTS)
    assert.equal(pools.floors.get('notarization-share'), 500 - GOSSIP_POOL_HEIGHTS)
  })
})
