import { type CanisterId, type SubnetId, comparePrincipals, principalEquals } from './ids.js'
import { InvalidIdError } from './errors.js'

/** An inclusive range of canister ids `[start, end]`, ordered by bytes. */
export interface CanisterIdRange {
  start: CanisterId
  end: CanisterId
}

export function rangeContains (range: CanisterIdRange, id: CanisterId): boolean {
  return comparePrincipals(range.start, id) <= 0 && comparePrincipals(id, range.end) <= 0
}

/** One entry of the routing table: canister ids in `range` live on `subnetId`. */
export interface RoutingTableEntry {
  range: CanisterIdRange
  subnetId: SubnetId
}

/**
 * Maps canister ids to subnets. Ranges must be well formed and disjoint;
 * lookup is a binary search over the sorted ranges.
 */
export class RoutingTable {
  readonly entries: readonly RoutingTableEntry[]

  constructor (entries: RoutingTableEntry[]) {
    const sorted = [...entries].sort((a, b) => comparePrincipals(a.range.start, b.range.start))
    for (let i = 0; i < sorted.length; i++) {
      const e = sorted[i]!
      if (comparePrincipals(e.range.start, e.range.end) > 0) {
        throw new InvalidIdError(`routing table range starts after it ends: ${e.range.start.toText()}..${e.range.end.toText()}`)
      }
      const next = sorted[i + 1]
      if (next != null && comparePrincipals(e.range.end, next.range.start) >= 0) {
        throw new InvalidIdError(`routing table ranges overlap at ${next.range.start.toText()}`)
      }
    }
    this.entries = sorted
  }

  /** The subnet hosting `id`, or undefined when no range holds it. */
  route (id: CanisterId): SubnetId | undefined {
    let lo = 0
    let hi = this.entries.length - 1
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1
      const e = this.entries[mid]!
      if (comparePrincipals(id, e.range.start) < 0) hi = mid - 1
      else if (comparePrincipals(id, e.range.end) > 0) lo = mid + 1
      else return e.subnetId
    }
    return undefined
  }

  /** All ranges assigned to `subnetId`. */
  rangesOf (subnetId: SubnetId): CanisterIdRange[] {
    return this.entries.filter(e => principalEquals(e.subnetId, subnetId)).map(e => e.range)
  }
}
