import { LruMap, type SubnetId } from '@icnet/types'
import { DEFAULT_BAN_MS, MAX_BANNED_PEERS } from './constants.js'
import { isSubnetMember, resolveRegistry, type RegistrySource } from './membership.js'
import type { ConnectionGater, PeerId } from '@libp2p/interface'

/**
 * Peers refused for a while after misbehaving. Shared between the service (which bans)
 * and the connection gater (which refuses), so a banned peer cannot simply redial.
 */
export class PeerBanList {
  private readonly until: LruMap<string, number>
  readonly banMs: number

  constructor (opts: { banMs?: number, maxPeers?: number } = {}) {
    this.banMs = opts.banMs ?? DEFAULT_BAN_MS
    this.until = new LruMap(opts.maxPeers ?? MAX_BANNED_PEERS)
  }

  ban (peerId: string, ms = this.banMs): void { this.until.set(peerId, Date.now() + ms) }

  isBanned (peerId: string): boolean {
    const t = this.until.get(peerId)
    if (t == null) return false
    if (t > Date.now()) return true
    this.until.delete(peerId)
    return false
  }

  get size (): number { return this.until.size }
}

export interface SubnetConnectionGaterInit {
  subnetId: SubnetId
  registry: RegistrySource
  /** Peers banned by the artifact gossip service. */
  bans?: PeerBanList
  /**
   * Also admit peers that are not members (e.g. nodes of other subnets for XNet, which
   * run on the same libp2p node). Gossip still keeps them out of the mesh through scoring
   * and the topic validator; the gater then only enforces bans.
   */
  admitNonMembers?: (peerId: string) => boolean
}

/**
 * A libp2p connection gater that admits only nodes of the subnet (per the registry) and
 * refuses banned peers, in both directions, once the remote's identity is known.
 */
export function subnetConnectionGater (init: SubnetConnectionGaterInit): ConnectionGater {
  const deny = (peer: PeerId): boolean => {
    const id = peer.toString()
    if (init.bans?.isBanned(id) === true) return true
    if (isSubnetMember(resolveRegistry(init.registry), init.subnetId, id)) return false
    return init.admitNonMembers?.(id) !== true
  }
  return {
    denyDialPeer: deny,
    denyInboundEncryptedConnection: deny,
    denyOutboundEncryptedConnection: deny,
    // Loopback testnets dial 127.0.0.1; the default gater refuses private addresses.
    denyDialMultiaddr: () => false
  }
}
