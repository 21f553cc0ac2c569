import { peerIdFromString } from '@libp2p/peer-id'
import { InvalidRequestError } from './errors.js'
import type { Connection, ConnectionGater, MultiaddrConnection, PeerId } from '@libp2p/interface'

/** Most peers one partition may deny: a subnet split names a handful; this bounds the set. */
export const MAX_PARTITION_PEERS = 1024

/**
 * A network partition imposed on one node from outside (a test's split/heal):
 * the peers it must neither dial nor accept. Consulted by the node's
 * connection gater; empty means no partition.
 */
export class Partition {
  private denied = new Set<string>()

  /** Replaces the denied set. Every id must be a peer id; at most MAX_PARTITION_PEERS. */
  deny (peers: readonly string[]): void {
    if (peers.length > MAX_PARTITION_PEERS) throw new InvalidRequestError(`at most ${MAX_PARTITION_PEERS} peers may be denied`)
    for (const p of peers) {
      try { peerIdFromString(p) } catch (err) { throw new InvalidRequestError(`not a peer id: ${String(p).slice(0, 80)}`, { cause: err }) }
    }
    this.denied = new Set(peers)
  }

  /** Lifts the partition: every peer may connect again. */
  lift (): void { this.denied = new Set() }

  denies (peer: PeerId | string): boolean {
    return this.denied.size > 0 && this.denied.has(peer.toString())
  }

  get size (): number { return this.denied.size }
}

/**
 * `inner` with the partition checked first, in both directions: a denied peer is
 * neither dialled nor accepted once its identity is known (after encryption).
 */
export function partitionGater (inner: ConnectionGater, partition: Partition): ConnectionGater {
  const either = (peer: PeerId, ask: () => boolean | Promise<boolean>): boolean | Promise<boolean> => partition.denies(peer) ? true : ask()
  return {
    ...inner,
    denyDialPeer: (peer: PeerId) => either(peer, () => inner.denyDialPeer?.(peer) ?? false),
    denyInboundEncryptedConnection: (peer: PeerId, conn: MultiaddrConnection) => either(peer, () => inner.denyInboundEncryptedConnection?.(peer, conn) ?? false),
    denyOutboundEncryptedConnection: (peer: PeerId, conn: MultiaddrConnection) => either(peer, () => inner.denyOutboundEncryptedConnection?.(peer, conn) ?? false),
    denyInboundUpgradedConnection: (peer: PeerId, conn: MultiaddrConnection) => either(peer, () => inner.denyInboundUpgradedConnection?.(peer, conn) ?? false),
    denyOutboundUpgradedConnection: (peer: PeerId, conn: MultiaddrConnection) => either(peer, () => inner.denyOutboundUpgradedConnection?.(peer, conn) ?? false)
  }
}

/** Closes the connections a partition now denies (the gater only sees new ones). Resolves when all are closed. */
export async function closeDenied (connections: readonly Connection[], partition: Partition): Promise<number> {
  const doomed = connections.filter(c => partition.denies(c.remotePeer))
  await Promise.all(doomed.map(async c => { await c.close().catch(err => { c.abort(err instanceof Error ? err : new Error(String(err))) }) }))
  return doomed.length
}
