import type { CanisterId, Metrics, Principal, RegistryView, RejectCode, SubnetId } from '@icnet/types'
import type { CertifiedStreamSlice } from '@icnet/xnet-stream'
import type { Sandbox } from '@icnet/execution'

/** A message from a user to a canister, as the HTTP layer accepted it. */
export interface IngressMessage {
  /** The request id (the interface spec's representation-independent hash), 32 bytes. */
  requestId: Uint8Array
  sender: Principal
  canisterId: CanisterId
  methodName: string
  arg: Uint8Array
  /** Expiry, ms since the Unix epoch (the HTTP layer converts the envelope's ns). */
  expiry: number
}

/** A canister to install as part of a batch (or at genesis): deterministic on every node. */
export interface CanisterInstall {
  canisterId: CanisterId
  /** A wasm module (wasm sandbox) or the UTF-8 name of a JS canister (JS sandbox). */
  module: Uint8Array
  arg?: Uint8Array
  controllers?: Principal[]
}

/** A finalized block as message routing executes it. */
export interface Batch {
  height: number
  /** Block time, ms since the Unix epoch (non-decreasing). */
  time: number
  /** 32 bytes of agreed randomness (kept for canisters' raw_rand; unused by the scheduler, which is deterministic without it). */
  randomness?: Uint8Array
  ingress?: readonly IngressMessage[]
  /**
   * Slices by source subnet: a map keyed by the principal text, or xnet-stream's
   * payload list `{ subnet, slice }`. They must already be validated (xnet-stream's
   * payload validator, or `verifyCertifiedSlice`): the batch is finalized, so every
   * node inducts the same bytes. Order does not matter (sources are taken in byte order).
   */
  xnetSlices?: ReadonlyMap<string, CertifiedStreamSlice> | ReadonlyArray<{ subnet: SubnetId, slice: CertifiedStreamSlice }>
  /** Canisters installed before induction, in this order. */
  installs?: readonly CanisterInstall[]
}

export interface MessageRoutingLimits {
  /** Instructions per round over all canisters. */
  roundInstructions: bigint
  /** Instructions per message. */
  messageInstructions: bigint
  /** Requests from canisters waiting in a canister's input queue. */
  inputQueueCapacity: number
  /** Ingress messages waiting in a canister's ingress queue. */
  ingressQueueCapacity: number
  /** Requests waiting in a canister's output queue; a call beyond it is rejected at once. */
  outputQueueCapacity: number
  /** Calls a canister may have in flight. */
  maxOutstandingCalls: number
  /** Stream limits towards application subnets (towards system subnets the message cap is SYSTEM_SUBNET_STREAM_MSG_LIMIT). */
  streamMaxMessages: number
  streamMaxBytes: number
  maxIngressHistory: number
  /** Executed but uncertified states kept for certification. */
  maxCertificationBacklog: number
  /** Checkpoints kept on disk. */
  checkpointsKept: number
}

export interface MessageRoutingInit {
  subnetId: SubnetId
  registry: RegistryView
  sandbox: Sandbox
  /** Where checkpoints live: `<dataDir>/checkpoints/<height>/`, `<dataDir>/manifests/<height>.manifest` (an FsCheckpointStore root). */
  dataDir: string
  /** Heights between checkpoints (a checkpoint at every multiple). */
  checkpointInterval: number
  limits?: Partial<MessageRoutingLimits>
  metrics?: Metrics
}

export interface CheckpointResult {
  height: number
  /** The manifest's root hash: what a catch-up package certifies. */
  stateHash: Uint8Array
  dir: string
}

export interface BatchResult {
  height: number
  /** The root of the canonical state tree at `height`: what the subnet certifies. */
  stateRoot: Uint8Array
  checkpoint?: CheckpointResult
}

export type IngressStatus =
  | { status: 'received' | 'processing' | 'done', expiry: number }
  | { status: 'replied', reply: Uint8Array, expiry: number }
  | { status: 'rejected', code: RejectCode, message: string, expiry: number }

export interface StreamStats {
  subnet: string
  begin: number
  end: number
  messages: number
  bytes: number
  signalsEnd: number
  /** Messages the stream holds at most (outputs beyond it wait in output queues). */
  maxMessages: number
}

export interface CanisterStats {
  canisterId: string
  inputRequests: number
  inputIngress: number
  inputResponses: number
  outputQueue: number
  outstandingCalls: number
  executed: number
}

export interface MessageRoutingStats {
  height: number
  certifiedHeight: number
  streams: StreamStats[]
  /** Messages in all outgoing streams (in flight to other subnets). */
  messagesInStreams: number
  /** Outputs waiting in canisters' output queues (backpressure). */
  outputsWaiting: number
  /** Messages inducted from other subnets' streams, since open. */
  xnetInducted: number
  /** Messages executed, since open. */
  executed: number
  /** Critical errors (sender/receiver subnet mismatch, bad signals, gaps), since open. */
  criticalErrors: number
  ingressHistory: number
  canisters: CanisterStats[]
}
