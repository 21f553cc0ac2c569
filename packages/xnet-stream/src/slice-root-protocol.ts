/** Messages between `SliceRootWorkers` and its worker threads (plain data: they cross threads). */

/** The wire bytes of one slice (`CertifiedStreamSlice`), moved to the worker. */
export interface RootJob {
  id: number
  /** A view of the start of `bytes.buffer`, which the worker moves back with its answer for reuse. */
  bytes: Uint8Array
  /** The source subnet's threshold public key: if given, the worker also checks the signature against the root. */
  publicKey?: Uint8Array
  /** Answer with every payload message's leaf digest too (for a slice a pool will merge suffixes into). */
  leafDigests?: boolean
}

export type RootResult = { buffer?: ArrayBuffer } & (
  /** `signatureValid`: whether the slice's signature verified under `publicKey` (absent if no key was given). */
  | { id: number, root: Uint8Array, signatureValid?: boolean, ms: number, leafDigests?: Uint8Array }
  /** The slice did not yield a root (malformed, or its payload does not fit its proof). */
  | { id: number, failed: string, ms: number })
