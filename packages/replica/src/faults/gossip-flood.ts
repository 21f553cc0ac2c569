import { randomBytes } from 'node:crypto'
import { artifactTopic, encodeInline } from '@icnet/artifact-gossip'
import { ARTIFACT_KINDS } from '@icnet/consensus'
import type { SubnetId } from '@icnet/types'

/** The flood publishes in bursts this often (a token bucket refilled at the configured rate). */
export const FLOOD_TICK_MS = 50
/** Publishes not yet settled, at most: a flood must not queue unbounded work on its own node. */
export const MAX_FLOOD_IN_FLIGHT = 256
/** Random bytes per artifact: makes every artifact (so every gossip message id) unique. */
const NONCE_BYTES = 32

/** Kinds flooded: the small inline ones every node validates (proposals and CUPs may go by advert and fetch). */
export const FLOOD_KINDS = ARTIFACT_KINDS.filter(k => k !== 'block-proposal' && k !== 'catch-up-package')

/** What the flood needs of the node's gossipsub. */
export interface FloodPublisher {
  publish(topic: string, data: Uint8Array): Promise<unknown>
}

/**
 * An artifact no consensus kind decodes: a protobuf field key with field
 * number 0 and wire type 7, which every protobuf reader refuses, followed by a
 * random nonce. Wrapped in a well-formed gossip envelope, so it passes
 * gossipsub and the gossip layer's envelope checks and is refused only by the
 * artifact's own validation (which scores the sender down).
 */
export function invalidArtifact (): Uint8Array {
  const b = new Uint8Array(1 + NONCE_BYTES)
  b[0] = 0x07
  b.set(randomBytes(NONCE_BYTES), 1)
  return b
}

/**
 * Publishes invalid artifacts on this subnet's consensus topics at a steady
 * rate, cycling through the kinds. Publishing failures (no peers left: they
 * disconnected us) are counted, not thrown.
 */
export class GossipFlood {
  private readonly pubsub: FloodPublisher
  private readonly topics: string[]
  private readonly perSecond: number
  private readonly onPublished: (ok: boolean) => void
  private timer?: ReturnType<typeof setInterval>
  private tokens = 0
  private inFlight = 0
  private next = 0

  constructor (init: { pubsub: FloodPublisher, subnetId: SubnetId, perSecond: number, onPublished?: (ok: boolean) => void }) {
    this.pubsub = init.pubsub
    this.topics = FLOOD_KINDS.map(k => artifactTopic(init.subnetId, k))
    this.perSecond = init.perSecond
    this.onPublished = init.onPublished ?? (() => {})
  }

  start (): void {
    if (this.timer != null) return
    this.timer = setInterval(() => { this.tick() }, FLOOD_TICK_MS)
    this.timer.unref?.()
  }

  stop (): void {
    if (this.timer != null) clearInterval(this.timer)
    this.timer = undefined
  }

  private tick (): void {
    // At most one second's worth in the bucket: a stalled event loop does not make a burst later.
    this.tokens = Math.min(Math.max(1, this.perSecond), this.tokens + this.perSecond * FLOOD_TICK_MS / 1000)
    while (this.tokens >= 1 && this.inFlight < MAX_FLOOD_IN_FLIGHT) {
      this.tokens -= 1
      const topic = this.topics[this.next++ % this.topics.length]!
      this.inFlight++
      this.pubsub.publish(topic, encodeInline(invalidArtifact())).then(
        () => { this.onPublished(true) },
        () => { this.onPublished(false) }
      ).finally(() => { this.inFlight-- })
    }
  }
}
