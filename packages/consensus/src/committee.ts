import {
  aggregateMultiSignature, combineAndVerifyThreshold, nodeSign, nodeVerify, parseNodePublicKey, signShare,
  verifyMultiSignature, verifyShare, verifyThreshold, type NodePublicKey
} from '@icnet/crypto'
import type { NodeId, SubnetId } from '@icnet/types'

/** The public facts about a subnet's committee that consensus verifies against. */
export interface CommitteeInit {
  subnetId: SubnetId
  /** Node ids in registry order (index = signer bit). */
  nodes: NodeId[]
  /** Node BLS public keys (48 bytes), parallel to `nodes`. */
  blsPublicKeys: Uint8Array[]
  /** Subnet threshold public key (96-byte G2). */
  thresholdPublicKey: Uint8Array
  /** Threshold key share public keys, parallel to `nodes` (share index = node index). */
  thresholdSharePublicKeys: Uint8Array[]
  /** Shares needed to combine a threshold signature. */
  threshold: number
}

/** One node's secrets: never leave the node. */
export interface NodeSecrets {
  /** Own index in the committee. */
  index: number
  blsSecretKey: Uint8Array
  thresholdSecretKey: Uint8Array
}

/**
 * The committee of a subnet with its keys decoded once, and the signing and
 * verification operations consensus needs. n = 3f+1 nodes tolerate f faults;
 * notarization and finalization need n - f signers (2f+1 when n = 3f+1).
 */
export class Committee {
  readonly subnetId: SubnetId
  readonly nodes: readonly NodeId[]
  readonly n: number
  readonly f: number
  /** Signers needed for a notarization or finalization. */
  readonly quorum: number
  /** Shares needed for a threshold signature (beacon, certification, CUP). */
  readonly threshold: number
  private readonly blsKeys: NodePublicKey[]
  private readonly thresholdKey: Uint8Array
  private readonly shareKeys: Uint8Array[]

  constructor (init: CommitteeInit) {
    this.subnetId = init.subnetId
    this.nodes = [...init.nodes]
    this.n = init.nodes.length
    this.f = Math.floor((this.n - 1) / 3)
    this.quorum = this.n - this.f
    this.threshold = init.threshold
    this.blsKeys = init.blsPublicKeys.map(pk => parseNodePublicKey(pk))
    this.thresholdKey = init.thresholdPublicKey
    this.shareKeys = [...init.thresholdSharePublicKeys]
  }

  indexOf (node: NodeId): number {
    return this.nodes.indexOf(node)
  }

  isMember (index: number): boolean {
    return Number.isInteger(index) && index >= 0 && index < this.n
  }

  verifyNodeSignature (signer: number, message: Uint8Array, signature: Uint8Array): boolean {
    if (!this.isMember(signer)) return false
    try { return nodeVerify(this.blsKeys[signer]!, message, signature) } catch { return false }
  }

  /** Aggregates node signatures into a multi-signature (does not verify them). */
  aggregate (shares: Array<{ signer: number, signature: Uint8Array }>): { signature: Uint8Array, signers: Uint8Array } {
    return aggregateMultiSignature(shares.map(s => ({ signerIndex: s.signer, signature: s.signature })), this.n)
  }

  /** A notarization or finalization: at least `quorum` committee members signed `message`. */
  verifyQuorumSignature (message: Uint8Array, multi: { signature: Uint8Array, signers: Uint8Array }): boolean {
    try { return verifyMultiSignature(this.blsKeys, message, multi, { threshold: this.quorum }) } catch { return false }
  }

  verifyThresholdShare (signer: number, message: Uint8Array, signature: Uint8Array): boolean {
    if (!this.isMember(signer)) return false
    try { return verifyShare(this.shareKeys[signer]!, message, signature) } catch { return false }
  }

  /**
   * Combines `threshold` shares and checks the result in one step: the subnet
   * signature on `message`, or undefined when it does not verify (a share is
   * bad, or malformed: check them one by one with verifyThresholdShare).
   */
  combineVerified (message: Uint8Array, shares: Array<{ signer: number, signature: Uint8Array }>): Uint8Array | undefined {
    try {
      return combineAndVerifyThreshold(this.thresholdKey, message, shares.map(s => ({ index: s.signer, signature: s.signature })), { threshold: this.threshold })
    } catch {
      return undefined
    }
  }

  verifyThresholdSignature (message: Uint8Array, signature: Uint8Array): boolean {
    try { return verifyThreshold(this.thresholdKey, message, signature) } catch { return false }
  }
}

/** Signs with the node's own keys. */
export class NodeSigner {
  readonly index: number
  private readonly secrets: NodeSecrets

  constructor (secrets: NodeSecrets) {
    this.index = secrets.index
    this.secrets = secrets
  }

  sign (message: Uint8Array): Uint8Array {
    return nodeSign(this.secrets.blsSecretKey, message)
  }

  signShare (message: Uint8Array): Uint8Array {
    return signShare({ secretKey: this.secrets.thresholdSecretKey }, message)
  }
}
