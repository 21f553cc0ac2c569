import { MAX_ARTIFACT_BYTES, type AcceptedArtifact, type ArtifactKind, type PeerSubscribed } from '@icnet/artifact-gossip'
import { logger } from '@libp2p/logger'
import { MAX_CERTIFICATION_HEIGHTS, MAX_CUP_BYTES, MAX_PROPOSAL_BYTES, MAX_SMALL_ARTIFACT_BYTES } from './constants.js'
import {
  BlockMultiSig, BlockProposal, BlockShare, CatchUpPackage, CatchUpShare, Certification, CertificationShare, RandomBeacon, RandomBeaconShare
} from './pb/consensus.js'
import { ARTIFACT_KINDS, type ArtifactHandler, type ArtifactKindName, type ArtifactTransport, type CatchUpHandler } from './transport.js'

const log = logger('icnet:consensus:gossip')

/** What the gossip layer holds for a consensus artifact: its bytes and height (consensus validates it itself). */
export interface GossipedArtifact {
  bytes: Uint8Array
  height: number
}

function heightOf (kind: ArtifactKindName, bytes: Uint8Array): number {
  switch (kind) {
    case 'block-proposal': return Number(BlockProposal.decode(bytes).block?.height ?? 0n)
    case 'random-beacon-share': return Number(RandomBeaconShare.decode(bytes).height)
    case 'random-beacon': return Number(RandomBeacon.decode(bytes).height)
    case 'notarization-share':
    case 'finalization-share': return Number(BlockShare.decode(bytes).height)
    case 'notarization':
    case 'finalization': return Number(BlockMultiSig.decode(bytes).height)
    case 'certification-share': return Number(CertificationShare.decode(bytes).height)
    case 'certification': return Number(Certification.decode(bytes).height)
    case 'catch-up-share': return Number(CatchUpShare.decode(bytes).height)
    case 'catch-up-package': return Number(CatchUpPackage.decode(bytes).content?.block?.block?.height ?? 0n)
  }
}

/**
 * The consensus artifact kinds for `@icnet/artifact-gossip`: one topic per kind,
 * decoded only far enough to know the height (for priority and purging).
 * They declare no signature sets: consensus verifies shares optimistically
 * (aggregate first, one by one only on failure), which is cheaper than
 * verifying every share as it arrives.
 */
export function consensusArtifactKinds (): Array<ArtifactKind<GossipedArtifact>> {
  return ARTIFACT_KINDS.map(kind => ({
    kind,
    // The gossip layer's ceiling is a maximal proposal; CUPs (slightly larger) also travel by catch-up.
    maxBytes: Math.min(MAX_ARTIFACT_BYTES, kind === 'block-proposal' ? MAX_PROPOSAL_BYTES : kind === 'catch-up-package' ? MAX_CUP_BYTES : MAX_SMALL_ARTIFACT_BYTES),
    decode: (bytes: Uint8Array) => {
      const height = heightOf(kind, bytes)
      if (!Number.isSafeInteger(height)) throw new RangeError('height out of range')
      return { bytes, height }
    },
    height: (a: GossipedArtifact) => a.height,
    signatureSets: () => []
  }))
}

/** The part of `ArtifactGossipService` the adapter uses. */
export interface ArtifactGossipLike {
  publish(kind: string, bytes: Uint8Array): Promise<unknown>
  addEventListener(type: 'artifact', listener: (evt: CustomEvent<AcceptedArtifact>) => void): void
  addEventListener(type: 'peer-subscribed', listener: (evt: CustomEvent<PeerSubscribed>) => void): void
  purgeBelow(kind: string, height: number): number
}

/**
 * Consensus over artifact gossip: artifacts travel on the subnet's gossipsub
 * topics (large proposals as advert + fetch); catch-up, which gossip has no
 * notion of, goes through `catchUp` (e.g. a `ConsensusTransport`).
 */
export class GossipArtifactTransport implements ArtifactTransport {
  private handler?: ArtifactHandler
  private peerJoined?: (peer: string) => void

  constructor (private readonly gossip: ArtifactGossipLike, private readonly catchUp: Pick<ArtifactTransport, 'requestCatchUp' | 'onCatchUpRequest'>) {
    gossip.addEventListener('artifact', evt => {
      const a = evt.detail
      // Our own publishes come back as accepted artifacts without a sender: consensus already has them.
      if (a.from === undefined || this.handler == null) return
      this.handler(a.kind as ArtifactKindName, (a.artifact as GossipedArtifact).bytes, a.from)
    })
    gossip.addEventListener('peer-subscribed', evt => { this.peerJoined?.(evt.detail.peer) })
  }

  broadcast (kind: ArtifactKindName, bytes: Uint8Array): void {
    this.gossip.publish(kind, bytes).catch(err => { log('publish %s failed: %e', kind, err) })
  }

  onArtifact (handler: ArtifactHandler): void { this.handler = handler }
  onPeerJoined (handler: (peer: string) => void): void { this.peerJoined = handler }
  async requestCatchUp (request: Uint8Array): Promise<Uint8Array | undefined> { return await this.catchUp.requestCatchUp(request) }
  onCatchUpRequest (handler: CatchUpHandler): void { this.catchUp.onCatchUpRequest(handler) }

  /** Drops pooled artifacts consensus no longer needs. */
  finalized (height: number, cupHeight: number): void {
    for (const kind of ARTIFACT_KINDS) {
      const below = kind.startsWith('certification') ? height - MAX_CERTIFICATION_HEIGHTS : kind.startsWith('catch-up') ? cupHeight + 1 : height + 1
      if (below > 0) this.gossip.purgeBelow(kind, below)
    }
  }
}
