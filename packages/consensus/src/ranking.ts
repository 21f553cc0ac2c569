import { u64be } from '@icnet/types'
import { DOMAIN, sha256 } from './hashing.js'

/**
 * The block maker ranking of one height: a permutation of node indices drawn
 * from the beacon's hash (Fisher-Yates over a SHA-256 counter stream).
 * `ranks[i]` is node i's rank; rank 0 proposes first.
 */
export function rankNodes (beaconHash: Uint8Array, n: number): number[] {
  const order = Array.from({ length: n }, (_, i) => i)
  let counter = 0
  let pool: Uint8Array = new Uint8Array(0)
  let pos = 0
  const nextU32 = (): number => {
    if (pos + 4 > pool.length) { pool = sha256(DOMAIN.ranking, beaconHash, u64be(counter++)); pos = 0 }
    const v = ((pool[pos]! << 24) | (pool[pos + 1]! << 16) | (pool[pos + 2]! << 8) | pool[pos + 3]!) >>> 0
    pos += 4
    return v
  }
  for (let i = n - 1; i > 0; i--) {
    // Rejection sampling keeps the permutation uniform.
    const bound = i + 1
    const limit = Math.floor(0x1_0000_0000 / bound) * bound
    let r = nextU32()
    while (r >= limit) r = nextU32()
    const j = r % bound
    const t = order[i]!; order[i] = order[j]!; order[j] = t
  }
  const ranks = new Array<number>(n)
  order.forEach((node, rank) => { ranks[node] = rank })
  return ranks
}
