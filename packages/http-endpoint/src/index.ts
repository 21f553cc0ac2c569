/**
 * @packageDocumentation
 *
 * The IC interface specification's HTTP API for icnet nodes, so that IC
 * agents (`@dfinity/agent`) call canisters on icnet and verify certified
 * replies: status, call (v2 async, v3 sync), query with node signatures,
 * read_state of canisters and subnets; request ids, ingress expiry, sender
 * authentication; load shedding. A node plugs in through `HttpBackend`.
 */
export * from './backend.js'
export * from './constants.js'
export { HttpRequestError, type RefusalReason } from './errors.js'
export { HttpEndpoint, httpEndpoint, type HttpEndpointOptions, type MetricsExposition, type EndpointName } from './server.js'
export { AdmissionQueue } from './admission.js'
export { decodeBounded, type CborValue, type CborMap } from './cbor.js'
export { parseEnvelope, type Envelope, type CallContent, type ReadStateContent, type RequestContent, type SignedDelegation } from './envelope.js'
export { hashOfMap, hashValue, leb128, requestIdOf, type HashableMap, type HashableValue } from './request-id.js'
export { authenticate, checkIngressExpiry, parseUserPublicKey, verifyUserSignature, REQUEST_DOMAIN_SEPARATOR, DELEGATION_DOMAIN_SEPARATOR, type SignatureScheme } from './auth.js'
export { checkReadStatePaths, type ReadStateTarget } from './read-state-paths.js'
export { ed25519NodeSigner, ed25519PublicKeyDer, queryResponseMessage, RESPONSE_DOMAIN_SEPARATOR, type NodeSigningKey } from './query-signature.js'
export { ED25519_IMPLEMENTATION, ed25519Sign, type Ed25519Sign } from './ed25519-sign.js'
export { Ed25519SigningThread } from './signing-thread.js'
export * from './management-candid.js'
export { httpMetrics, type HttpMetrics } from './metrics.js'
export { ReferenceNetwork, ReferenceSubnet, type ReferenceNetworkOptions } from './reference-backend.js'
