import { Principal } from '@dfinity/principal'
import { InvalidIdError } from './errors.js'

export { Principal }

/** A subnet is named by the self-authenticating principal of its DER threshold public key. */
export type SubnetId = Principal
/** A canister id: 8-byte big-endian u64 followed by 0x01 0x01. */
export type CanisterId = Principal
/**
 * A node is named by its libp2p PeerId, in its string form (base58btc of the
 * identity multihash of the Ed25519 public key).
 */
export type NodeId = string

/** The management canister, `aaaaa-aa`: the empty principal. */
export const MANAGEMENT_CANISTER_ID: CanisterId = Principal.fromUint8Array(new Uint8Array(0))

const CANISTER_ID_SUFFIX = [0x01, 0x01] as const
const U64_MAX = (1n << 64n) - 1n

/** The canister id for a u64 index (as the IC allocates them). */
export function canisterIdFromU64 (index: bigint | number): CanisterId {
  const n = BigInt(index)
  if (n < 0n || n > U64_MAX) throw new InvalidIdError(`canister index ${n} is not a u64`)
  const bytes = new Uint8Array(10)
  new DataView(bytes.buffer).setBigUint64(0, n, false)
  bytes[8] = CANISTER_ID_SUFFIX[0]
  bytes[9] = CANISTER_ID_SUFFIX[1]
  return Principal.fromUint8Array(bytes)
}

/** True when the principal has the canister id form (10 bytes ending 0x01 0x01). */
export function isCanisterId (p: Principal): boolean {
  const b = p.toUint8Array()
  return b.length === 10 && b[8] === CANISTER_ID_SUFFIX[0] && b[9] === CANISTER_ID_SUFFIX[1]
}

/** The u64 index of a canister id. */
export function canisterIdToU64 (id: CanisterId): bigint {
  if (!isCanisterId(id)) throw new InvalidIdError(`${id.toText()} is not a canister id`)
  const b = id.toUint8Array()
  return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, false)
}

/** The subnet id for a subnet's DER-encoded threshold public key. */
export function subnetIdFromPublicKeyDer (der: Uint8Array): SubnetId {
  return Principal.selfAuthenticating(der)
}

/** Parses a principal's text form, with a typed error on bad input. */
export function principalFromText (text: string): Principal {
  try {
    return Principal.fromText(text)
  } catch (err) {
    throw new InvalidIdError(`not a principal: ${JSON.stringify(text.slice(0, 80))}`, { cause: err })
  }
}

/** Byte-wise comparison of two principals (the IC's ordering of canister ids). */
export function comparePrincipals (a: Principal, b: Principal): number {
  const x = a.toUint8Array()
  const y = b.toUint8Array()
  const n = Math.min(x.length, y.length)
  for (let i = 0; i < n; i++) {
    if (x[i] !== y[i]) return x[i]! - y[i]!
  }
  return x.length - y.length
}

/** Principal equality by bytes. */
export function principalEquals (a: Principal, b: Principal): boolean {
  return comparePrincipals(a, b) === 0
}

const principalTexts = new WeakMap<Principal, string>()

/**
 * `p.toText()`, remembered per Principal object. `toText` computes a CRC32 and a
 * base32 encoding on every call, and a replica keys its maps by subnet text for
 * every message it routes, pulls and gossips (about 1 % of a loaded replica's CPU).
 */
export function principalText (p: Principal): string {
  let text = principalTexts.get(p)
  if (text === undefined) {
    text = p.toText()
    principalTexts.set(p, text)
  }
  return text
}
