/**
 * Node signatures of query responses (the specification's "Request: Query
 * call"): Ed25519 over `"\x0Bic-response" ‖ hash_of_map(response fields,
 * timestamp, request_id)`. Agents check them against the node keys certified
 * at /subnet/<subnet>/node/<node>/public_key.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto'
import { concatBytes, Principal } from '@icnet/types'
import { hashOfMap } from './request-id.js'
import type { QueryOutcome, QuerySigner } from './backend.js'

export const RESPONSE_DOMAIN_SEPARATOR = new TextEncoder().encode('\x0Bic-response')
/** DER SubjectPublicKeyInfo prefix of an Ed25519 key (RFC 8410): the 44-byte form agents expect. */
export const ED25519_DER_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00])

/** The bytes a node signs for a query response. */
export function queryResponseMessage (outcome: QueryOutcome, timestampNs: bigint, requestId: Uint8Array): Uint8Array {
  const hash = outcome.status === 'replied'
    ? hashOfMap({ status: 'replied', reply: { arg: outcome.reply }, timestamp: timestampNs, request_id: requestId })
    : hashOfMap({
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

function plain (b: Buffer): Uint8Array {
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
}

export interface NodeSigningKey extends QuerySigner {
  /** The Ed25519 public key in DER (44 bytes): the value at /subnet/<subnet>/node/<node>/public_key. */
  publicKeyDer: Uint8Array
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
  return {
    nodeId: Principal.selfAuthenticating(publicKeyDer).toUint8Array(),
    publicKeyDer,
    sign: message => plain(sign(null, message, privateKey)),
    // node:crypto runs a one-shot signature in libuv's thread pool when given a callback.
    signOffThread: async message => await new Promise<Uint8Array>((resolve, reject) => {
      sign(null, message, privateKey, (err, signature) => { if (err === null) resolve(plain(signature)); else reject(err) })
    })
  }
}
