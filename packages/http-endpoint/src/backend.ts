/**
 * What the HTTP endpoint needs from a node. The endpoint validates envelopes,
 * authenticates senders, routes by effective canister id, sheds load and
 * speaks the wire format; the backend owns the state, execution and
 * certification. A replica implements this from its message routing
 * (ingress pool, ingress history, certified state tree); `ReferenceSubnet`
 * implements it in-process for tests, examples and benchmarks.
 */
import type { Principal } from '@icnet/types'
import type { Path } from '@icnet/hashtree'

/** A validated, authenticated update call, ready for the ingress pool. */
export interface IngressMessage {
  requestId: Uint8Array
  sender: Principal
  canisterId: Principal
  /** The effective canister id of the request (equal to canisterId except for the management canister). */
  effectiveCanisterId: Principal
  methodName: string
  arg: Uint8Array
  ingressExpiry: bigint
  nonce?: Uint8Array
}

/** A pre-consensus refusal (the spec's non-replicated rejection). */
export interface NonReplicatedRejection {
  rejectCode: number
  rejectMessage: string
  errorCode?: string
}

export type SubmitOutcome =
  | { accepted: true }
  | { accepted: false, rejection: NonReplicatedRejection }

export interface QueryRequest {
  /** hash_of_map of the query content: what node signatures cover. */
  requestId: Uint8Array
  sender: Principal
  canisterId: Principal
  effectiveCanisterId: Principal
  methodName: string
  arg: Uint8Array
}

export type QueryOutcome =
  | { status: 'replied', reply: Uint8Array }
  | { status: 'rejected', rejectCode: number, rejectMessage: string, errorCode?: string }

/** Who sent a request in the ingress history: read_state of its status is allowed to that sender, at its effective canister only. */
export interface IngressOrigin {
  sender: Principal
  effectiveCanisterId: Principal
}

/** Signs query responses as a node of the subnet (Ed25519, key certified at /subnet/<id>/node/<node>/public_key). */
export interface QuerySigner {
  /** The node's principal bytes (the label under /subnet/<id>/node). */
  nodeId: Uint8Array
  sign: (message: Uint8Array) => Uint8Array | Promise<Uint8Array>
  /**
   * The same signature computed off the event loop (e.g. in a signing
   * thread). The endpoint uses it while the loop is busy, so that signing one
   * answer does not hold up reading and answering the others.
   */
  signOffThread?: (message: Uint8Array) => Promise<Uint8Array>
}

export type ReplicaHealth = 'healthy' | 'starting' | 'waiting_for_certified_state' | 'waiting_for_root_delegation' | 'certified_state_behind'

export interface HttpBackend {
  /** The root subnet's threshold public key in the IC's DER form (what agents fetch from /api/v2/status). */
  readonly rootKeyDer: Uint8Array
  /** The subnet this node belongs to. */
  readonly subnetId: Principal
  /** The node's query signer; without one queries answer without signatures (agents then need verifyQuerySignatures: false). */
  readonly querySigner?: QuerySigner
  /** The subnet hosting `canisterId` per the routing table, or undefined when no subnet does. */
  routeCanister: (canisterId: Principal) => Principal | undefined
  /** Hands a validated call to the ingress pool (and gossip). Throws QueueFullError when the pool is full (answered 429). */
  submitIngress: (message: IngressMessage) => Promise<SubmitOutcome>
  /** Resolves once the request's status is terminal (replied, rejected, done) in certified state; rejects when `signal` aborts. */
  waitForCertifiedStatus: (requestId: Uint8Array, signal: AbortSignal) => Promise<void>
  /**
   * Runs a query on the latest state. A backend that answers at once may
   * return the outcome itself: the endpoint then answers in the same turn,
   * without a promise and a microtask per query.
   */
  query: (request: QueryRequest) => QueryOutcome | Promise<QueryOutcome>
  /** The origin of a request in the ingress history, if the node knows it. */
  ingressOrigin: (requestId: Uint8Array) => IngressOrigin | undefined
  /**
   * A certificate of the latest certified state revealing `paths` (and /time),
   * with the root subnet's delegation when this is not the root subnet.
   * Paths are already checked against the rules of the specification.
   */
  readState: (paths: readonly Path[]) => Promise<Uint8Array>
  /** Health reported by /api/v2/status and /health. */
  health: () => ReplicaHealth
  /** Latest certified height, reported in /api/v2/status. */
  certifiedHeight?: () => bigint
}
