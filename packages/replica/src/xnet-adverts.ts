/**
 * Which nodes of a subnet advertise a certified height to the receivers of its
 * streams. Every node certifies every height, but sending every advert from
 * every node would make each receiver pull once per advert. One node per
 * height (turn by height) was not enough: 3 of 4 shares certify a height, so
 * the node whose turn it is is sometimes the one still executing it, and then
 * the advert left up to 1.8 s after the others had certified (in a 2 x 4 run;
 * the receivers only pulled at their next poll or the next height's advert).
 * Two consecutive nodes per height: one straggler never delays the advert.
 * A node that certifies a height late (the others had certified it first,
 * `onCertification`'s `late`) does not advertise it: by then the receivers may
 * have pulled the next height from the others, and a pull sent to the late
 * node would ask it for messages it has not certified yet (BAD_BEGIN).
 */
export const XNET_ADVERTISERS_PER_HEIGHT = 2

/** Whether the node at `nodeIndex` of a subnet of `subnetSize` advertises `height`. */
export function advertisesHeight (height: number, nodeIndex: number, subnetSize: number, advertisers = XNET_ADVERTISERS_PER_HEIGHT): boolean {
  if (subnetSize <= 0) return false
  const n = Math.min(Math.max(1, advertisers), subnetSize)
  // The node whose turn it is (height mod size) and the n - 1 after it, wrapping.
  return (((nodeIndex - height) % subnetSize) + subnetSize) % subnetSize < n
}

/**
 * The most a rank-0 block maker waits, before it builds, for slices whose advert
 * has arrived and whose pull is under way. Without the wait such a slice often
 * misses the block by tens of milliseconds and waits a whole round for the next
 * one: at 3 x 4 a pull takes 170-190 ms from request to verified slice, a round
 * about 550 ms. Measured in docs/benchmarks/xnet.md ("Eighth revision: waiting for announced slices").
 */
export const XNET_ADVERT_WAIT_MS = 250

/**
 * The wait for a subnet's unit delay: XNET_ADVERT_WAIT_MS, but ending 50 ms
 * before the rank-1 block maker would propose instead (a wait past that makes
 * two blocks of the height, one of them wasted work).
 */
export function advertWaitMs (unitDelayMs: number): number {
  return Math.max(0, Math.min(XNET_ADVERT_WAIT_MS, unitDelayMs - 50))
}
