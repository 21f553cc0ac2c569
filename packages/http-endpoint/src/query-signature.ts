/**
 * Node signatures of query responses (the specification's "Request: Query
 * call"): Ed25519 over `"\x0Bic-response" ‖ hash_of_map(response fields,
 * timestamp, request_id)`. Agents check them against the node keys certified
 * at /subnet/<subnet>/node/<node>/public_key.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { concatBytes, Principal } from '@icnet/types'
import { hashOfMap, prefixedRepliedResponseHash } from './request-id.js'
import type { QueryOutcome, QuerySigner } from './backend.js'
import { ed25519Sign } from './ed25519-sign.js'
import { Ed25519SigningThread } from './signing-thread.js'

export const RESPONSE_DOMAIN_SEPARATOR = new TextEncoder().encode('\x0Bic-response')
/** DER SubjectPublicKeyInfo prefix of an Ed25519 key (RFC 8410): the 44-byte form agents expect. */
export const ED25519_DER_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00])

/** The bytes a node signs for a query response. */
export function queryResponseMessage (outcome: QueryOutcome, timestampNs: bigint, requestId: Uint8Array): Uint8Array {
  if (outcome.status === 'replied') return prefixedRepliedResponseHash(RESPONSE_DOMAIN_SEPARATOR, outcome.reply, timestampNs, requestId)
  const hash = hashOfMap({
    status: 'rejected',
    reject_code: BigInt(outcome.rejectCode),
    reject_message: outcome.rejectMessage,
    error_code: outcome.errorCode,
    timestamp: timestampNs,
    request_id: requestId
  })
  return concatBytes(RESPONSE_DOMAIN_SEPARATOR, hash)
}

export function ed25519PublicKeyDer (raw: Uint8Array): Uint8Array {
  return concatBytes(ED25519_DER_PREFIX, raw)
}

export interface NodeSigningKey extends QuerySigner {
  /** The Ed25519 public key in DER (44 bytes): the value at /subnet/<subnet>/node/<node>/public_key. */
  publicKeyDer: Uint8Array
  /** Stops the signing thread, if one was started (signatures still work, on the caller's thread). */
  close: () => Promise<void>
}

/**
 * A query signer from an Ed25519 private key (32-byte seed, or a KeyObject;
 * a fresh key when omitted). The node id is the self-authenticating principal
 * of the public key, as on the IC.
 */
export function ed25519NodeSigner (secret?: Uint8Array | KeyObject): NodeSigningKey {
  let privateKey: KeyObject
  if (secret === undefined) privateKey = generateKeyPairSync('ed25519').privateKey
  else if (secret instanceof Uint8Array) {
    if (secret.length !== 32) throw new RangeError('an Ed25519 seed is 32 bytes')
    // PKCS#8 wrapping of a raw Ed25519 seed (RFC 8410).
    const pkcs8 = concatBytes(Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]), secret)
    privateKey = createPrivateKey({ key: Buffer.from(pkcs8), format: 'der', type: 'pkcs8' })
  } else privateKey = secret
  const publicKeyDer = new Uint8Array(createPublicKey(privateKey).export({ format: 'der', type: 'spki' }))
  const sign = ed25519Sign(privateKey)
  // Started on first use: most nodes in tests never sign under load.
  let thread: Ed25519SigningThread | undefined
  return {
    nodeId: Principal.selfAuthenticating(publicKeyDer).toUint8Array(),
    publicKeyDer,
    sign,
    signOffThread: async message => {
      thread ??= new Ed25519SigningThread(privateKey, sign)
      return await thread.sign(message)
    },
    close: async () => { await thread?.close() }
  }
}
