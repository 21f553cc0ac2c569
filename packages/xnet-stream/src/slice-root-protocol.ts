/** Messages between `SliceRootWorkers` and its worker threads (plain data: they cross threads). */

/** The wire bytes of one slice (`CertifiedStreamSlice`), moved to the worker. */
export interface RootJob {
  id: number
  bytes: Uint8Array
}

export type RootResult =
  | { id: number, root: Uint8Array, ms: number }
  /** The slice did not yield a root (malformed, or its payload does not fit its proof). */
  | { id: number, failed: string, ms: number }
