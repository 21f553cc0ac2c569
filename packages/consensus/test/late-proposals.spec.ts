import assert from 'node:assert/strict'
import type { NodeId } from '@icnet/types'
import type { ArtifactHandler, ArtifactKindName, ArtifactTransport } from '../src/index.js'
import { assertSameChains, dealSubnet, startNode, waitFor, type TestNode } from './helpers.js'

const UNIT_DELAY_MS = 30

/** Half the proposals arrive at once, the other half two to twelve unit delays late. */
function proposalDelay (): number {
  return Math.random() < 0.5 ? Math.random() * UNIT_DELAY_MS / 2 : (2 + Math.random() * 10) * UNIT_DELAY_MS
}

/**
 * A network on which large artifacts are slow: each block proposal reaches each
 * peer after its own random delay, often several unit delays (as an advert plus
 * a fetch does on a loaded machine), so later ranks propose and nodes back
 * different blocks first; shares arrive a little out of order. It carries only
 * what consensus sends in the course of a round: the aggregated notarizations
 * and finalizations that the liveness repair re-sends are not delivered, and
 * nobody answers a catch-up request, so the subnet must make progress from the
 * shares alone.
 */
class LateProposalNetwork {
  private readonly handlers = new Map<NodeId, ArtifactHandler>()
  private stopped = false

  transport (id: NodeId): ArtifactTransport {
    return {
      broadcast: (kind: ArtifactKindName, bytes: Uint8Array) => {
        if (this.stopped || kind === 'notarization' || kind === 'finalization') return
        for (const [peer, handler] of this.handlers) {
          if (peer === id) continue
          const delay = kind === 'block-proposal' ? proposalDelay() : Math.random() * 3 * UNIT_DELAY_MS
          setTimeout(() => { if (!this.stopped) handler(kind, bytes, id) }, delay)
        }
      },
      onArtifact: (handler) => { this.handlers.set(id, handler) },
      requestCatchUp: async () => undefined,
      onCatchUpRequest: () => {}
    }
  }

  stop (): void { this.stopped = true }
}

describe('consensus with late block proposals', function () {
  this.timeout(120_000)

  it('finalizes on when a block maker builds on a block the others saw notarized second (shares of every notarized block are aggregated, not only the first)', async () => {
    const keys = dealSubnet(4)
    const net = new LateProposalNetwork()
    const nodes: TestNode[] = []
    for (let i = 0; i < 4; i++) nodes.push(await startNode(keys, i, net.transport(`node-${i}`), {}, UNIT_DELAY_MS))
    try {
      await waitFor(() => nodes.every(n => n.chain.size >= 100), '100 heights on every node', 90_000)
      assert.ok(assertSameChains(nodes) >= 100)
    } finally {
      net.stop()
      for (const n of nodes) await n.consensus.stop()
      await Promise.all(nodes.map(async n => n.consumer))
    }
  })
})
