import { MAX_STREAM_MESSAGES, type SubnetType } from '@icnet/types'

/**
 * The registry's content at one version, in its serialisable form: ids as
 * principal text, node ids as PeerId strings, bytes as lowercase hex. This is
 * exactly what the file store writes; `Registry` gives the typed view of it.
 */
export interface RegistryRecords {
  /** Starts at 1 and grows by one with every change. */
  version: number
  /** The root (NNS-like) subnet: its key signs delegations for every other subnet. */
  rootSubnetId: string
  subnets: SubnetRecordJson[]
  nodes: NodeRecordJson[]
  routingTable: RoutingTableEntryJson[]
  canisterMigrations: CanisterMigrationJson[]
}

/** Per-subnet protocol parameters. Every field has a default (see `DEFAULT_SUBNET_PARAMS`). */
export interface SubnetParams {
  /** Largest block payload a block maker may build (IC: max_block_payload_size). */
  maxBlockPayloadBytes: number
  /** Heights between two catch-up packages / checkpoints (IC: DKG interval + 1). */
  checkpointInterval: number
  /**
   * The unit delay Δ in ms: the block maker of rank r proposes after r × Δ. 600 by
   * default: at 300, the rank-0 block of a loaded 4-node subnet on two cores often
   * arrived after Δ, so a third of the heights had a second (wasted) proposal, and an
   * XNet round trip took 0.3–0.5 rounds more (docs/benchmarks/xnet.md, "Ninth revision").
   */
  unitDelayMs: number
  /** How long a round waits for a non-empty payload before proposing an empty block anyway. */
  initialNotaryDelayMs: number
  /** Largest ingress message a node accepts for this subnet. */
  maxIngressBytesPerMessage: number
  /** Most ingress messages in one block. */
  maxIngressMessagesPerBlock: number
  /**
   * Instructions one round may spend over all canisters of the subnet (IC:
   * max_instructions_per_round). A subnet with a small budget executes only a
   * few messages per round (at least one): a slow receiver.
   */
  maxInstructionsPerRound: number
  /**
   * Messages the subnet's stream towards an application subnet holds before its
   * outputs wait in the canisters' output queues (IC: MAX_STREAM_MESSAGES; towards
   * a system subnet the cap is at most 100, SYSTEM_SUBNET_STREAM_MSG_LIMIT).
   */
  streamMaxMessages: number
  /**
   * Certified slice bytes a block maker of this subnet puts into one block: how
   * many XNet messages the subnet inducts per round at most (the IC derives its
   * XNet share from max_block_payload_size).
   */
  maxXNetPayloadBytes: number
}

export const DEFAULT_SUBNET_PARAMS: Readonly<SubnetParams> = Object.freeze({
  maxBlockPayloadBytes: 4 * 1024 * 1024,
  checkpointInterval: 500,
  unitDelayMs: 600,
  initialNotaryDelayMs: 0,
  maxIngressBytesPerMessage: 2 * 1024 * 1024,
  maxIngressMessagesPerBlock: 1000,
  maxInstructionsPerRound: 4_000_000_000,
  streamMaxMessages: MAX_STREAM_MESSAGES,
  maxXNetPayloadBytes: 448 * 1024
})

export interface SubnetRecordJson {
  id: string
  type: SubnetType
  /** Member node ids in registry order: a node's index is its bit in signer bitmaps. */
  nodes: string[]
  /** Compressed BLS12-381 G2 threshold public key (96 bytes), hex. */
  publicKey: string
  /** The same key in DER form, hex. The subnet id is its self-authenticating principal. */
  publicKeyDer: string
  /** Shares needed to combine a threshold signature (2f+1 of n = 3f+1). */
  threshold: number
  /**
   * Public parts of the threshold key shares, parallel to `nodes`: share
   * `index` (the x-coordinate used in Lagrange interpolation) and its G2 key, hex.
   */
  thresholdShares: Array<{ index: number, publicKey: string }>
  params: SubnetParams
}

export interface NodeRecordJson {
  id: string
  subnetId: string
  p2pAddresses: string[]
  httpUrl?: string
  /** Compressed G1 BLS public key (48 bytes) for consensus multi-signatures, hex. */
  blsPublicKey: string
  /**
   * Proof of possession of the BLS secret key (a signature over the public key), hex.
   * Multi-signatures aggregate keys, which is only safe against rogue keys when
   * every key proved possession before it entered the registry.
   */
  blsPossessionProof: string
}

export interface RoutingTableEntryJson {
  /** Inclusive canister id range, principal text. */
  start: string
  end: string
  subnetId: string
}

/** A range of canisters moving between subnets; `trace` lists the subnets it passes through, source first. */
export interface CanisterMigrationJson {
  start: string
  end: string
  trace: string[]
}
