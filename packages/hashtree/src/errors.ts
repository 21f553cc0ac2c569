import { IcnetError } from '@icnet/types'

/**
 * A tree does not have the shape an operation needs: duplicate or unsorted
 * labels where a labeled level is expected, a path through a leaf, a partial
 * tree that does not fit its witness, or data whose digest differs from the
 * pruned digest it should replace. `path` is where the problem was found.
 */
export class InconsistentTreeError extends IcnetError {
  readonly path: Uint8Array[]

  constructor (message: string, path: readonly Uint8Array[] = [], options?: { cause?: unknown }) {
    super(message, 'ERR_INCONSISTENT_TREE', options)
    this.path = [...path]
  }
}
