/**
 * What to do with an artifact before spending bandwidth or CPU on it:
 * - `fetch`: process now (fetch it if it was advertised, then validate);
 * - `stash`: keep the advert or bytes aside and decide again later (e.g. too far ahead);
 * - `drop`: discard without fetching or validating (e.g. below the purge height).
 */
export type Priority = 'fetch' | 'stash' | 'drop'

export interface PriorityInput {
  kind: string
  height: number
  /** Bytes of the artifact (advertised size for adverts). */
  size: number
  /** True when the artifact arrived inline, false for an advert. */
  inline: boolean
}

export interface PriorityContext {
  /** Artifacts below this height are purged from the pool and must not come back. */
  purgeHeight: number
}

export type PriorityFn = (input: PriorityInput, ctx: PriorityContext) => Priority

/** Drop what is below the purge height, process everything else now. */
export const defaultPriority: PriorityFn = (input, ctx) => input.height < ctx.purgeHeight ? 'drop' : 'fetch'

/**
 * A window priority in the IC's style: drop below the purge height, fetch up to
 * `lookahead` heights above it, stash anything further ahead until the pool catches up.
 */
export function windowPriority (lookahead: number): PriorityFn {
  if (!Number.isSafeInteger(lookahead) || lookahead < 0) throw new RangeError('lookahead must be a non-negative integer')
  return (input, ctx) => {
    if (input.height < ctx.purgeHeight) return 'drop'
    return input.height - ctx.purgeHeight <= lookahead ? 'fetch' : 'stash'
  }
}
