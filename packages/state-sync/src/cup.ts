import { combineShares, signShare, verifyThreshold } from '@icnet/crypto'
import type { ThresholdKeyShare } from '@icnet/crypto'
import { concatBytes, domainSeparator, u64be } from '@icnet/types'
import type { RegistryView, SubnetId } from '@icnet/types'
import { InvalidCatchUpPackageError } from './errors.js'
import { HASH_BYTES } from './hashing.js'
import { CatchUpPackage as CatchUpPackageCodec } from './pb/state-sync.js'

/** Domain separator of the message a subnet signs to certify a checkpoint. */
export const CUP_DOMAIN = domainSeparator('ic-catch-up-package')

/** Length of a threshold signature (compressed BLS12-381 G1). */
export const CUP_SIGNATURE_BYTES = 48

/** What state sync needs from a catch-up package: the checkpoint and the subnet's signature on it. */
export interface CatchUpPackage {
  height: bigint
  /** The state hash (meta-manifest hash) of the checkpoint at `height`. */
  stateHash: Uint8Array
  /** The subnet's threshold signature over `cupSigningMessage(height, stateHash)`. */
  signature: Uint8Array
}

/** Where the subnet key comes from: given directly, or read from a registry view. */
export type SubnetKeySource = { publicKey: Uint8Array } | { registry: RegistryView, subnetId: SubnetId }

/** `dsep("ic-catch-up-package") ‖ height u64 BE ‖ state_hash (32 bytes)`: a fixed encoding, no parser needed. */
export function cupSigningMessage (height: bigint, stateHash: Uint8Array): Uint8Array {
  if (stateHash.length !== HASH_BYTES) throw new InvalidCatchUpPackageError('state hash must be 32 bytes')
  if (height < 0n || height >= 1n << 64n) throw new InvalidCatchUpPackageError('height out of range')
  return concatBytes(CUP_DOMAIN, u64be(height), stateHash)
}

function subnetKey (source: SubnetKeySource): Uint8Array {
  if ('publicKey' in source) return source.publicKey
  const subnet = source.registry.getSubnet(source.subnetId)
  if (subnet === undefined) throw new InvalidCatchUpPackageError(`subnet ${source.subnetId.toString()} is not in registry version ${source.registry.version}`)
  return subnet.publicKey
}

/** Throws `InvalidCatchUpPackageError` unless the CUP is well-formed and carries the subnet's signature. */
export function verifyCatchUpPackage (cup: CatchUpPackage, key: SubnetKeySource): void {
  if (cup.signature.length !== CUP_SIGNATURE_BYTES) throw new InvalidCatchUpPackageError('signature must be 48 bytes')
  const message = cupSigningMessage(cup.height, cup.stateHash)
  let ok = false
  try {
    ok = verifyThreshold(subnetKey(key), message, cup.signature)
  } catch (err) {
    if (err instanceof InvalidCatchUpPackageError) throw err
    throw new InvalidCatchUpPackageError('signature does not verify', { cause: err })
  }
  if (!ok) throw new InvalidCatchUpPackageError('signature does not verify')
}

/**
 * Signs a CUP with `threshold` key shares (a dealer-side or test helper; a real subnet
 * aggregates shares from its nodes through consensus).
 */
export function signCatchUpPackage (height: bigint, stateHash: Uint8Array, shares: readonly ThresholdKeyShare[], threshold: number): CatchUpPackage {
  const message = cupSigningMessage(height, stateHash)
  const signed = shares.slice(0, threshold).map(s => ({ index: s.index, signature: signShare(s, message) }))
  return { height, stateHash, signature: combineShares(signed, { threshold }) }
}

export function encodeCatchUpPackage (cup: CatchUpPackage): Uint8Array {
  return CatchUpPackageCodec.encode(cup)
}

/** Decodes a CUP (at most a few dozen bytes; larger input is refused before decoding). */
export function decodeCatchUpPackage (bytes: Uint8Array): CatchUpPackage {
  if (bytes.length > 256) throw new InvalidCatchUpPackageError('catch-up package too large')
  try {
    const c = CatchUpPackageCodec.decode(bytes)
    return { height: c.height, stateHash: c.stateHash, signature: c.signature }
  } catch (err) {
    throw new InvalidCatchUpPackageError('catch-up package does not decode', { cause: err })
  }
}
