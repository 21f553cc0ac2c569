/** What a payload builder or validator knows about the block being built or checked. */
export interface PayloadContext {
  /** Height of the block. */
  height: number
  /** Block time, ms since the Unix epoch. */
  time: number
  /** Hash of the parent block. */
  parentHash: Uint8Array
  /**
   * This builder's sections in the not-yet-finalized ancestors of the block
   * (parent first, down to the finalized tip): what a builder must not repeat.
   */
  pastPayloads: Uint8Array[]
  /** The finalized height the block builds on. */
  finalizedHeight: number
}

/**
 * Fills one named section of a block payload (e.g. `ingress`, `xnet`) and
 * checks the same section in other nodes' blocks. Opaque bytes to consensus.
 * Builders run in the order given and share the block's byte limit.
 */
export interface PayloadBuilder {
  /** Section name, unique per subnet, at most 32 characters. */
  readonly name: string
  /**
   * Optional: runs before the rank-0 block maker takes the block's time and builds,
   * so a section can wait for data it knows is about to arrive (e.g. a slice whose
   * certification was just announced). It must bound its own wait, well below the
   * unit delay: the block waits for it, and the block's time is taken after it.
   * Consensus goes on handling artifacts meanwhile. Blocks of later ranks do not wait.
   */
  prepare?(height: number): Promise<void>
  /** Bytes for this section (empty: nothing waiting), at most `byteLimit` long. */
  build(height: number, context: PayloadContext, byteLimit: number): Uint8Array | Promise<Uint8Array>
  /** Whether another node's section is acceptable: return false or throw to reject the block. */
  validate(payload: Uint8Array, context: PayloadContext): boolean | Promise<boolean>
}

/** A finalized block handed to the host, in height order, exactly once. */
export interface Batch {
  height: number
  /** Block time, ms since the Unix epoch (non-decreasing over heights). */
  time: number
  /** 32 bytes of unpredictable, agreed randomness derived from the height's random beacon. */
  randomness: Uint8Array
  /** Payload sections by builder name (absent: empty). */
  payload: Map<string, Uint8Array>
  /** Hash of the finalized block. */
  blockHash: Uint8Array
}
