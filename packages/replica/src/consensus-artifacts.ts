import { ARTIFACT_KINDS, MAX_CUP_BYTES, MAX_PROPOSAL_BYTES, MAX_SMALL_ARTIFACT_BYTES, pb, type ArtifactKindName } from '@icnet/consensus'
import { MAX_ARTIFACT_BYTES, type ArtifactKind, type SignatureVerifier } from '@icnet/artifact-gossip'

/** What the gossip layer keeps of a consensus artifact: its bytes and height; consensus does the real checks. */
export interface ConsensusArtifact {
  bytes: Uint8Array
  height: number
}

function maxBytes (kind: ArtifactKindName): number {
  if (kind === 'block-proposal') return Math.min(MAX_PROPOSAL_BYTES, MAX_ARTIFACT_BYTES)
  if (kind === 'catch-up-package') return Math.min(MAX_CUP_BYTES, MAX_ARTIFACT_BYTES)
  return MAX_SMALL_ARTIFACT_BYTES
}

/** The height of an encoded consensus artifact; throws on bytes that do not decode (the sender is then penalised). */
export function consensusArtifactHeight (kind: ArtifactKindName, bytes: Uint8Array): number {
  let h: bigint
  switch (kind) {
    case 'block-proposal': h = pb.BlockProposal.decode(bytes).block?.height ?? 0n; break
    case 'catch-up-package': h = pb.CatchUpPackage.decode(bytes).content?.block?.block?.height ?? 0n; break
    case 'random-beacon': h = pb.RandomBeacon.decode(bytes).height; break
    case 'random-beacon-share': h = pb.RandomBeaconShare.decode(bytes).height; break
    case 'notarization-share':
    case 'finalization-share': h = pb.BlockShare.decode(bytes).height; break
    case 'notarization':
    case 'finalization': h = pb.BlockMultiSig.decode(bytes).height; break
    case 'certification-share': h = pb.CertificationShare.decode(bytes).height; break
    case 'certification': h = pb.Certification.decode(bytes).height; break
    case 'catch-up-share': h = pb.CatchUpShare.decode(bytes).height; break
  }
  if (h > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError('height beyond 2^53')
  return Number(h)
}

/**
 * The gossip definition of one consensus artifact kind. Gossip only checks that
 * it decodes and places it in height; signatures are verified by consensus
 * itself (in its own batched core), so the gossip verifier sees no sets.
 */
export function consensusArtifactKind (kind: ArtifactKindName): ArtifactKind<ConsensusArtifact> {
  return {
    kind,
    maxBytes: maxBytes(kind),
    decode: (bytes) => ({ bytes, height: consensusArtifactHeight(kind, bytes) }),
    height: (a) => a.height,
    signatureSets: () => []
  }
}

export const consensusArtifactKinds: Array<ArtifactKind<ConsensusArtifact>> = ARTIFACT_KINDS.map(consensusArtifactKind)

/**
 * Consensus artifacts carry no signature sets for the gossip layer (see above);
 * anything else asked of this verifier is refused rather than trusted.
 */
export const refuseAllVerifier: SignatureVerifier = {
  verifyMany: async (sets) => sets.map(() => false)
}
