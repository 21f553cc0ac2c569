/**
 * The authentication envelope and the three request contents (call, query,
 * read_state), parsed from bounded CBOR into typed values. The request id is
 * computed from the content map as received, so fields this endpoint does not
 * know still count, as the specification requires.
 */
import { Principal } from '@icnet/types'
import { decodeBounded, type CborMap, type CborValue } from './cbor.js'
import { badRequest } from './errors.js'
import { requestIdOf, type HashableMap } from './request-id.js'
import { MAX_DELEGATIONS, MAX_DELEGATION_TARGETS, MAX_METHOD_NAME_BYTES, MAX_NONCE_BYTES, MAX_PATH_LABELS, MAX_READ_STATE_PATHS } from './constants.js'

export type RequestType = 'call' | 'query' | 'read_state'

interface CommonContent {
  sender: Principal
  ingressExpiry: bigint
  nonce?: Uint8Array
}

export interface CallContent extends CommonContent {
  requestType: 'call' | 'query'
  canisterId: Principal
  methodName: string
  arg: Uint8Array
}

export interface ReadStateContent extends CommonContent {
  requestType: 'read_state'
  paths: Uint8Array[][]
}

export type RequestContent = CallContent | ReadStateContent

export interface SignedDelegation {
  /** The `delegation` map as received (its hash is what was signed). */
  map: CborMap
  pubkey: Uint8Array
  expiration: bigint
  targets?: Principal[]
  signature: Uint8Array
}

export interface Envelope<C extends RequestContent = RequestContent> {
  content: C
  /** hash_of_map(content): the request id. */
  requestId: Uint8Array
  senderPubkey?: Uint8Array
  senderSig?: Uint8Array
  senderDelegation?: SignedDelegation[]
}

const ENVELOPE_KEYS = new Set(['content', 'sender_pubkey', 'sender_sig', 'sender_delegation'])

/** Decodes a request body; `expected` is the request type the route accepts. */
export function parseEnvelope (body: Uint8Array, expected: 'call'): Envelope<CallContent & { requestType: 'call' }>
export function parseEnvelope (body: Uint8Array, expected: 'query'): Envelope<CallContent & { requestType: 'query' }>
export function parseEnvelope (body: Uint8Array, expected: 'read_state'): Envelope<ReadStateContent>
export function parseEnvelope (body: Uint8Array, expected: RequestType): Envelope {
  const top = decodeBounded(body)
  if (!(top instanceof Map)) throw badRequest('malformed-request', 'the request must be a CBOR map (the authentication envelope)')
  for (const key of top.keys()) {
    if (!ENVELOPE_KEYS.has(key)) throw badRequest('malformed-request', `unknown envelope field "${key.slice(0, 40)}"`)
  }
  const contentMap = top.get('content')
  if (!(contentMap instanceof Map)) throw badRequest('malformed-request', 'the envelope needs a "content" map')
  const content = parseContent(contentMap, expected)
  checkHashable(contentMap, 0)
  const envelope: Envelope = { content, requestId: requestIdOf(contentMap as unknown as HashableMap) }
  const pubkey = optionalBytes(top, 'sender_pubkey')
  const sig = optionalBytes(top, 'sender_sig')
  if (pubkey !== undefined) envelope.senderPubkey = pubkey
  if (sig !== undefined) envelope.senderSig = sig
  const delegations = top.get('sender_delegation')
  if (delegations !== undefined) envelope.senderDelegation = parseDelegations(delegations)
  return envelope
}

function parseContent (m: CborMap, expected: RequestType): RequestContent {
  const requestType = text(m, 'request_type')
  if (requestType !== expected) throw badRequest('malformed-request', `request_type "${requestType.slice(0, 20)}" does not fit this endpoint (expected "${expected}")`)
  const sender = principal(bytes(m, 'sender'), 'sender')
  const ingressExpiry = nat(m, 'ingress_expiry')
  const nonce = optionalBytes(m, 'nonce')
  if (nonce !== undefined && nonce.length > MAX_NONCE_BYTES) throw badRequest('malformed-request', `nonce of ${nonce.length} bytes exceeds ${MAX_NONCE_BYTES}`)
  if (requestType === 'read_state') {
    const paths = m.get('paths')
    if (!Array.isArray(paths)) throw badRequest('malformed-request', 'read_state needs "paths", an array of paths')
    if (paths.length > MAX_READ_STATE_PATHS) throw badRequest('malformed-request', `at most ${MAX_READ_STATE_PATHS} paths`)
    const content: ReadStateContent = {
      requestType,
      sender,
      ingressExpiry,
      paths: paths.map(p => {
        if (!Array.isArray(p) || p.length > MAX_PATH_LABELS) throw badRequest('malformed-request', `a path must be an array of at most ${MAX_PATH_LABELS} labels`)
        return p.map(l => {
          if (!(l instanceof Uint8Array)) throw badRequest('malformed-request', 'path labels must be byte strings')
          return l
        })
      })
    }
    if (nonce !== undefined) content.nonce = nonce
    return content
  }
  const methodName = text(m, 'method_name')
  // UTF-8 takes at most 3 bytes per UTF-16 unit: measure only names that might be too long.
  if (methodName.length * 3 > MAX_METHOD_NAME_BYTES && Buffer.byteLength(methodName) > MAX_METHOD_NAME_BYTES) throw badRequest('malformed-request', 'method_name is too long')
  const content: CallContent = {
    requestType: requestType as 'call' | 'query',
    sender,
    ingressExpiry,
    canisterId: principal(bytes(m, 'canister_id'), 'canister_id'),
    methodName,
    arg: bytes(m, 'arg')
  }
  if (nonce !== undefined) content.nonce = nonce
  return content
}

function parseDelegations (v: CborValue): SignedDelegation[] {
  if (!Array.isArray(v)) throw badRequest('malformed-request', 'sender_delegation must be an array')
  if (v.length === 0 || v.length > MAX_DELEGATIONS) throw badRequest('bad-delegation', `sender_delegation must hold 1 to ${MAX_DELEGATIONS} delegations`)
  return v.map(entry => {
    if (!(entry instanceof Map)) throw badRequest('malformed-request', 'a signed delegation must be a map')
    const d = entry.get('delegation')
    if (!(d instanceof Map)) throw badRequest('malformed-request', 'a signed delegation needs a "delegation" map')
    checkHashable(d, 0)
    const out: SignedDelegation = { map: d, pubkey: bytes(d, 'pubkey'), expiration: nat(d, 'expiration'), signature: bytes(entry, 'signature') }
    const targets = d.get('targets')
    if (targets !== undefined) {
      if (!Array.isArray(targets) || targets.length > MAX_DELEGATION_TARGETS) throw badRequest('bad-delegation', `delegation targets must be an array of at most ${MAX_DELEGATION_TARGETS} canister ids`)
      out.targets = targets.map(t => {
        if (!(t instanceof Uint8Array)) throw badRequest('bad-delegation', 'delegation targets must be principals')
        return principal(t, 'delegation target')
      })
    }
    return out
  })
}

/** Booleans and nulls have no representation-independent hash. */
function checkHashable (v: CborValue, depth: number): void {
  if (typeof v === 'boolean' || v === null) throw badRequest('malformed-request', 'booleans and null are not allowed in a request content')
  if (Array.isArray(v)) for (const x of v) checkHashable(x, depth + 1)
  else if (v instanceof Map) for (const x of v.values()) checkHashable(x, depth + 1)
}

function text (m: CborMap, key: string): string {
  const v = m.get(key)
  if (typeof v !== 'string') throw badRequest('malformed-request', `"${key}" must be text`)
  return v
}

function bytes (m: CborMap, key: string): Uint8Array {
  const v = m.get(key)
  if (!(v instanceof Uint8Array)) throw badRequest('malformed-request', `"${key}" must be a byte string`)
  return v
}

function optionalBytes (m: CborMap, key: string): Uint8Array | undefined {
  return m.has(key) ? bytes(m, key) : undefined
}

function nat (m: CborMap, key: string): bigint {
  const v = m.get(key)
  if (typeof v !== 'bigint') throw badRequest('malformed-request', `"${key}" must be a natural number`)
  return v
}

function principal (b: Uint8Array, what: string): Principal {
  if (b.length > 29) throw badRequest('malformed-request', `${what} is not a principal (${b.length} bytes)`)
  return Principal.fromUint8Array(b)
}
