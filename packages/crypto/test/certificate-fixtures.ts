import { canisterIdFromU64, subnetIdFromPublicKeyDer, type Principal } from '@icnet/types'
import { buildHashTree, type HashTree } from '@icnet/hashtree'
import {
  certifyTree, createDelegation, dealThresholdKeys, thresholdSigner, timeLeaf, type CertificateSigner, type Delegation
} from '../src/index.js'

export interface Subnet {
  id: Principal
  publicKeyDer: Uint8Array
  sign: CertificateSigner
}

export function makeSubnet (seedByte: number): Subnet {
  const keys = dealThresholdKeys({ n: 4, t: 3, seed: Uint8Array.of(seedByte, 1, 2, 3) })
  return { id: subnetIdFromPublicKeyDer(keys.publicKeyDer), publicKeyDer: keys.publicKeyDer, sign: thresholdSigner(keys) }
}

/** The root subnet hosts canisters 0..99, the second subnet 100..199. */
export const root = makeSubnet(1)
export const app = makeSubnet(2)
export const other = makeSubnet(3)
export const ROOT_CANISTER = canisterIdFromU64(7)
export const APP_CANISTER = canisterIdFromU64(150)
export const APP_RANGES: Array<[Principal, Principal]> = [[canisterIdFromU64(100), canisterIdFromU64(199)]]

export const text = (s: string): Uint8Array => new TextEncoder().encode(s)

/** A state tree as a canister's certified variable would be read: /time and /canister/<id>/certified_data. */
export function stateTree (canister: Principal, data: string, timeNs?: bigint): HashTree {
  return buildHashTree([
    ['canister', [[canister.toUint8Array(), [['certified_data', text(data)]]]]],
    ['time', timeLeaf(timeNs)]
  ])
}

export function appDelegation (options: { rootSign?: CertificateSigner, ranges?: Array<[Principal, Principal]>, subnetKeyDer?: Uint8Array } = {}): Delegation {
  return createDelegation({
    subnetId: app.id,
    subnetPublicKeyDer: options.subnetKeyDer ?? app.publicKeyDer,
    canisterRanges: options.ranges ?? APP_RANGES,
    rootSign: options.rootSign ?? root.sign
  })
}

export function appCertificate (data = 'hello'): Uint8Array {
  return certifyTree({ tree: stateTree(APP_CANISTER, data), sign: app.sign, delegation: appDelegation() })
}
