/**
 * Sender authentication as the interface specification's "Authentication":
 * anonymous senders carry no key or signature; others carry a DER public key
 * whose self-authenticating principal is the sender, a signature over
 * `"\x0Aic-request" ‖ request_id`, and optionally a chain of delegations.
 * Ed25519, ECDSA P-256 and ECDSA secp256k1 keys are supported (node:crypto);
 * other schemes (WebAuthn, canister signatures) are refused with a clear 400.
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto'
import { concatBytes, Principal } from '@icnet/types'
import { badRequest, HttpRequestError } from './errors.js'
import { hashOfMap, type HashableMap } from './request-id.js'
import { toHex } from '@icnet/types'
import type { Envelope } from './envelope.js'
import { MAX_INGRESS_TTL_MS, PERMITTED_DRIFT_MS } from './constants.js'

export const REQUEST_DOMAIN_SEPARATOR = new TextEncoder().encode('\x0Aic-request')
export const DELEGATION_DOMAIN_SEPARATOR = new TextEncoder().encode('\x1Aic-request-auth-delegation')
export const ANONYMOUS_PRINCIPAL_BYTES = Uint8Array.of(0x04)

export type SignatureScheme = 'ed25519' | 'ecdsa-p256' | 'ecdsa-secp256k1'

export interface UserPublicKey {
  scheme: SignatureScheme
  key: KeyObject
}

/** Parses a sender key in DER (SubjectPublicKeyInfo) form; throws 400 unsupported-key for anything else. */
export function parseUserPublicKey (der: Uint8Array): UserPublicKey {
  let key: KeyObject
  try {
    key = createPublicKey({ key: Buffer.from(der.buffer, der.byteOffset, der.byteLength), format: 'der', type: 'spki' })
  } catch (err) {
    throw badRequest('unsupported-key', 'sender_pubkey is not a supported DER public key (Ed25519, ECDSA P-256 or secp256k1)', err)
  }
  if (key.asymmetricKeyType === 'ed25519') return { scheme: 'ed25519', key }
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve
    if (curve === 'prime256v1') return { scheme: 'ecdsa-p256', key }
    if (curve === 'secp256k1') return { scheme: 'ecdsa-secp256k1', key }
  }
  throw badRequest('unsupported-key', `sender_pubkey scheme ${key.asymmetricKeyType ?? 'unknown'} is not supported`)
}

/** Verifies a user signature: Ed25519 over the message, or ECDSA (r ‖ s, 64 bytes) over SHA-256 of it. */
export function verifyUserSignature (pk: UserPublicKey, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    if (pk.scheme === 'ed25519') return signature.length === 64 && verify(null, message, pk.key, signature)
    return signature.length === 64 && verify('sha256', message, { key: pk.key, dsaEncoding: 'ieee-p1363' }, signature)
  } catch {
    return false
  }
}

export interface AuthOptions {
  /** Now, in milliseconds since the epoch. */
  nowMs: number
  /** The canister the request addresses (for delegation targets). */
  canisterId?: Principal
}

/** Checks who sent the request; throws HttpRequestError (400) when it does not authenticate. */
export function authenticate (envelope: Envelope, options: AuthOptions): void {
  const sender = envelope.content.sender.toUint8Array()
  const anonymous = sender.length === 1 && sender[0] === 0x04
  if (anonymous) {
    if (envelope.senderPubkey !== undefined || envelope.senderSig !== undefined || envelope.senderDelegation !== undefined) {
      throw badRequest('bad-sender', 'an anonymous request must not carry sender_pubkey, sender_sig or sender_delegation')
    }
    return
  }
  if (envelope.senderPubkey === undefined || envelope.senderSig === undefined) {
    throw badRequest('bad-sender', 'a request from a non-anonymous sender needs sender_pubkey and sender_sig')
  }
  const selfAuthenticating = Principal.selfAuthenticating(envelope.senderPubkey)
  if (toHex(selfAuthenticating.toUint8Array()) !== toHex(sender)) {
    throw badRequest('bad-sender', `sender ${envelope.content.sender.toText()} is not the self-authenticating principal of sender_pubkey`)
  }
  let signer = parseUserPublicKey(envelope.senderPubkey)
  if (envelope.senderDelegation !== undefined) {
    const nowNs = BigInt(Math.floor(options.nowMs)) * 1_000_000n
    const seen = new Set<string>([toHex(envelope.senderPubkey)])
    for (const [i, d] of envelope.senderDelegation.entries()) {
      const message = concatBytes(DELEGATION_DOMAIN_SEPARATOR, hashOfMap(d.map as unknown as HashableMap))
      if (!verifyUserSignature(signer, message, d.signature)) throw badRequest('bad-delegation', `delegation ${i} has an invalid signature`)
      if (d.expiration < nowNs) throw badRequest('bad-delegation', `delegation ${i} expired`)
      if (d.targets !== undefined && options.canisterId !== undefined) {
        const target = toHex(options.canisterId.toUint8Array())
        if (!d.targets.some(t => toHex(t.toUint8Array()) === target)) throw badRequest('bad-delegation', `delegation ${i} does not allow canister ${options.canisterId.toText()}`)
      }
      const key = toHex(d.pubkey)
      if (seen.has(key)) throw badRequest('bad-delegation', `delegation ${i} repeats a key of the chain`)
      seen.add(key)
      signer = parseUserPublicKey(d.pubkey)
    }
  }
  if (!verifyUserSignature(signer, concatBytes(REQUEST_DOMAIN_SEPARATOR, envelope.requestId), envelope.senderSig)) {
    throw badRequest('bad-signature', 'sender_sig does not verify for the request id')
  }
}

/**
 * The ingress expiry rule: not in the past, and at most 5 minutes (plus the
 * permitted drift) in the future. The text starts "Invalid request expiry: "
 * as the IC's does: agents recognise it and resynchronise their clock.
 */
export function checkIngressExpiry (expiryNs: bigint, nowMs: number): void {
  const now = BigInt(Math.floor(nowMs)) * 1_000_000n
  const min = now - BigInt(PERMITTED_DRIFT_MS) * 1_000_000n
  const max = now + BigInt(MAX_INGRESS_TTL_MS + PERMITTED_DRIFT_MS) * 1_000_000n
  if (expiryNs < min) throw new HttpRequestError(400, 'expired', `Invalid request expiry: ingress_expiry ${expiryNs} is in the past (now ${now})`)
  if (expiryNs > max) throw new HttpRequestError(400, 'expiry-too-far', `Invalid request expiry: ingress_expiry ${expiryNs} is more than 5 minutes in the future (now ${now})`)
}
