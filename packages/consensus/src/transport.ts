import type { NodeId } from '@icnet/types'

/** The artifact kinds consensus exchanges; each maps to one gossip topic / frame type. */
export const ARTIFACT_KINDS = [
  'block-proposal',
  'random-beacon-share',
  'random-beacon',
  'notarization-share',
  'notarization',
  'finalization-share',
  'finalization',
  'certification-share',
  'certification',
  'catch-up-share',
  'catch-up-package'
] as const

export type ArtifactKindName = typeof ARTIFACT_KINDS[number]

export function isArtifactKind (s: string): s is ArtifactKindName {
  return (ARTIFACT_KINDS as readonly string[]).includes(s)
}

export type ArtifactHandler = (kind: ArtifactKindName, bytes: Uint8Array, from?: NodeId) => void
export type CatchUpHandler = (request: Uint8Array) => Promise<Uint8Array>

/**
 * How consensus reaches the other nodes of its subnet. Consensus validates
 * everything it receives, so a transport only moves bytes: it need not trust,
 * order or deduplicate them (duplicates are cheap to drop).
 */
export interface ArtifactTransport {
  /** Sends an artifact to every other node of the subnet (best effort). */
  broadcast(kind: ArtifactKindName, bytes: Uint8Array): void
  /** Registers the single receiver of artifacts from peers. */
  onArtifact(handler: ArtifactHandler): void
  /** Asks one peer (the transport picks it) for a catch-up response; undefined when nobody answered. */
  requestCatchUp(request: Uint8Array): Promise<Uint8Array | undefined>
  /** Registers the answerer of catch-up requests from peers. */
  onCatchUpRequest(handler: CatchUpHandler): void
  /** Told when the finalized height (and CUP height) moves, so a transport with pools can purge them. */
  finalized?(height: number, cupHeight: number): void
  /**
   * Registers a listener for members that become reachable (connected, or
   * subscribed to the subnet's topics): what was broadcast before did not reach
   * them, so consensus re-sends its open rounds' artifacts at once rather than
   * after a stall.
   */
  onPeerJoined?(handler: (peer: NodeId) => void): void
}

interface BusMember {
  id: NodeId
  online: boolean
  artifact?: ArtifactHandler
  catchUp?: CatchUpHandler
  peerJoined?: (peer: NodeId) => void
}

/**
 * An in-process network for N consensus instances: broadcast delivers to every
 * other online member asynchronously (next macrotask), like a network would,
 * and catch-up requests go to a random online member. For tests and
 * simulations where the network is not the point.
 */
export class InMemoryBus {
  private readonly members = new Map<NodeId, BusMember>()
  /** Artifacts delivered, for tests that count traffic. */
  delivered = 0

  transport (id: NodeId): ArtifactTransport & { setOnline(online: boolean): void } {
    const me: BusMember = { id, online: true }
    this.members.set(id, me)
    return {
      broadcast: (kind, bytes) => {
        if (!me.online) return
        for (const m of this.members.values()) {
          if (m === me || !m.online || m.artifact == null) continue
          const handler = m.artifact
          setImmediate(() => { if (m.online && me.online) { this.delivered++; handler(kind, bytes, id) } })
        }
      },
      onArtifact: (handler) => { me.artifact = handler },
      requestCatchUp: async (request) => {
        if (!me.online) return undefined
        const peers = [...this.members.values()].filter(m => m !== me && m.online && m.catchUp != null)
        if (peers.length === 0) return undefined
        const peer = peers[Math.floor(Math.random() * peers.length)]!
        try { return await peer.catchUp!(request) } catch { return undefined }
      },
      onCatchUpRequest: (handler) => { me.catchUp = handler },
      onPeerJoined: (handler) => { me.peerJoined = handler },
      setOnline: (online) => {
        const joined = online && !me.online
        me.online = online
        if (!joined) return
        // Both sides learn of the other, as on a real network when a connection opens.
        for (const m of this.members.values()) {
          if (m === me || !m.online) continue
          const theirs = m.peerJoined
          const mine = me.peerJoined
          setImmediate(() => { theirs?.(id); mine?.(m.id) })
        }
      }
    }
  }
}
