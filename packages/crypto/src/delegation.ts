/**
 * Making certificates and delegations: what a subnet does every round, and
 * what the root subnet does to vouch for another subnet's key and canisters.
 */
import type { Principal } from '@icnet/types'
import { buildHashTree, reconstruct, type HashTree, type LabeledTree } from '@icnet/hashtree'
import { certificateMessage, createCertificate, encodeCanisterRanges, encodeLeb128, type Delegation } from './certificate.js'
import { combineShares, signShare, type ThresholdKeyShare } from './threshold.js'

/** Produces the subnet's (combined) threshold signature of a message. */
export type CertificateSigner = (message: Uint8Array) => Uint8Array

/**
 * A signer that holds t shares of a dealt key and combines their signature
 * shares: how a testnet or a test signs. A replica instead collects shares from
 * its peers and combines them.
 */
export function thresholdSigner (keys: { shares: readonly ThresholdKeyShare[], threshold: number }): CertificateSigner {
  const signers = keys.shares.slice(0, keys.threshold)
  if (signers.length < keys.threshold) throw new RangeError(`need ${keys.threshold} shares, have ${signers.length}`)
  return message => combineShares(signers.map(share => ({ index: share.index, signature: signShare(share, message) })), { threshold: keys.threshold })
}

export interface CertifyOptions {
  tree: HashTree
  sign: CertificateSigner
  delegation?: Delegation
}

/** Signs the tree's root (`certificateMessage`) and encodes the certificate. */
export function certifyTree (options: CertifyOptions): Uint8Array {
  const signature = options.sign(certificateMessage(reconstruct(options.tree)))
  return createCertificate({ tree: options.tree, signature, ...(options.delegation === undefined ? {} : { delegation: options.delegation }) })
}

export interface CreateDelegationOptions {
  /** The delegated subnet's id. */
  subnetId: Principal | Uint8Array
  /** Its threshold public key in the IC's DER form. */
  subnetPublicKeyDer: Uint8Array
  /** The canister id ranges it hosts, inclusive. */
  canisterRanges: ReadonlyArray<readonly [Principal | Uint8Array, Principal | Uint8Array]>
  /** Certification time in nanoseconds since the epoch (default now). IC agents refuse delegations older than 30 days. */
  timeNs?: bigint
  /** The root subnet's signer. */
  rootSign: CertificateSigner
}

/**
 * A delegation: a root-subnet certificate whose tree holds
 * /subnet/<id>/public_key, /subnet/<id>/canister_ranges and /time.
 */
export function createDelegation (options: CreateDelegationOptions): Delegation {
  const subnetId = options.subnetId instanceof Uint8Array ? options.subnetId : options.subnetId.toUint8Array()
  const tree = buildHashTree([
    ['subnet', [[subnetId, [
      ['canister_ranges', encodeCanisterRanges(options.canisterRanges)],
      ['public_key', options.subnetPublicKeyDer]
    ]]]],
    ['time', timeLeaf(options.timeNs)]
  ] satisfies LabeledTree)
  return { subnet_id: subnetId, certificate: certifyTree({ tree, sign: options.rootSign }) }
}

/** The /time leaf: LEB128 nanoseconds, as the IC writes it (default: now). */
export function timeLeaf (timeNs?: bigint): Uint8Array {
  return encodeLeb128(timeNs ?? BigInt(Date.now()) * 1_000_000n)
}
