import { KiB, MAX_BLOCK_PAYLOAD_BYTES, MiB } from '@icnet/types'

/** Largest encoded block proposal: the IC's largest payload plus room for the header and signature. */
export const MAX_PROPOSAL_BYTES = MAX_BLOCK_PAYLOAD_BYTES + 64 * KiB
/** Shares, beacons and aggregates are a few hundred bytes; 4 KiB leaves room for a 256-node bitmap. */
export const MAX_SMALL_ARTIFACT_BYTES = 4 * KiB
/** A CUP carries one block. */
export const MAX_CUP_BYTES = MAX_PROPOSAL_BYTES + 8 * KiB
/** Payload sections per block (ingress, xnet, ...): a handful of builders. */
export const MAX_PAYLOAD_SECTIONS = 16
/** Blocks in one catch-up response; more are fetched by asking again. */
export const MAX_CATCH_UP_BLOCKS = 64
/** A catch-up response never exceeds this; the responder stops adding blocks before it. */
export const MAX_CATCH_UP_RESPONSE_BYTES = 16 * MiB
/**
 * Artifacts are accepted only up to this many heights above the node's
 * finalized height: the pool stays bounded whatever peers send, and a node
 * that sees heights beyond it knows it is behind and asks for a catch-up.
 */
export const MAX_HEIGHTS_AHEAD = 64
/** Unvalidated artifacts waiting for a dependency (a beacon, a parent block), over all heights. */
export const MAX_PENDING_ARTIFACTS = 4096
/** Proposals kept per height: honest rank order means one or two; a few more tolerate equivocation. */
export const MAX_PROPOSALS_PER_HEIGHT = 16
/** Finalized batches the host has not consumed yet before consensus stops starting new rounds (backpressure). */
export const DEFAULT_MAX_UNCONSUMED_BATCHES = 32
/** Finalized heights kept in memory below the finalized tip (older ones stay only in the store until the next CUP). */
export const IN_MEMORY_FINALIZED_HEIGHTS = 8
/** Certification shares are accepted for heights at most this far from the latest certified height. */
export const MAX_CERTIFICATION_HEIGHTS = 128
/** A block's time may run ahead of the validator's clock by at most this much. */
export const MAX_BLOCK_TIME_SKEW_MS = 5_000
/**
 * Period of the liveness check, in unit delays: with no progress for two
 * periods a node re-sends its own artifacts of the rounds in flight, after
 * three it asks a peer for a catch-up. Streams are reliable, so this only
 * repairs what a broken connection lost; it must never add load to a subnet
 * that is merely slow.
 */
export const RESEND_AFTER_DELAYS = 20
/** Lower bound of that period, so a tiny Δ does not turn into a flood. */
export const MIN_RESEND_MS = 1000
/**
 * After a member becomes reachable, the open rounds are re-sent this much later:
 * members joining together (a subnet starting up) cost one re-send, not one each.
 */
export const PEER_JOINED_RESEND_DELAY_MS = 100
/** At most one re-send for joining members per this period, however often peers reconnect. */
export const PEER_JOINED_RESEND_MIN_INTERVAL_MS = 1000
/**
 * Block proposals are re-sent (when the subnet is stuck) after 1, 2, 4, then
 * every MAX_PROPOSAL_RESEND_PERIODS liveness periods: a few MiB each, so far
 * rarer than shares, but never given up while the round stays open.
 */
export const MAX_PROPOSAL_RESEND_PERIODS = 4
/**
 * Rounds f + 1 members may be ahead (by the heights of the notarization and
 * finalization shares they send) before a node asks for a catch-up at once
 * instead of waiting for the liveness period: two rounds is the most a slow
 * but connected node lags by.
 */
export const CATCH_UP_LAG_HEIGHTS = 3
/** A catch-up that brought nothing is not retried on a share's hint before this. */
export const CATCH_UP_RETRY_MS = 250
/** Catch-up exchanges in a row, while each brings blocks and the node is still behind (64 blocks each). */
export const MAX_CATCH_UP_ROUNDS = 64

/** Direct artifact push: one long-lived stream per peer and direction; 2 allows a replacement while the old one closes. */
export const ARTIFACT_PROTOCOL = '/icnet/consensus/artifacts/1.0.0'
export const ARTIFACT_MAX_INBOUND_STREAMS = 2
export const ARTIFACT_MAX_OUTBOUND_STREAMS = 2
/** Catch-up: one short request/response stream; a lagging peer needs one at a time, 2 tolerates a retry. */
export const CATCH_UP_PROTOCOL = '/icnet/consensus/catch-up/1.0.0'
export const CATCH_UP_MAX_INBOUND_STREAMS = 2
export const CATCH_UP_MAX_OUTBOUND_STREAMS = 2
/** A catch-up exchange (up to 64 blocks of 4 MiB at loopback-to-LAN speeds) must finish within this. */
export const CATCH_UP_TIMEOUT_MS = 10_000
/** Frames queued per peer before new ones are dropped (consensus re-sends what matters when stuck). */
export const PEER_QUEUE_FRAMES = 4096
/** Bytes queued per peer before new frames are dropped: a few maximal blocks. */
export const PEER_QUEUE_BYTES = 64 * MiB
/** Largest artifact frame: a maximal proposal plus the frame's own fields. */
export const MAX_FRAME_BYTES = MAX_CUP_BYTES + 64
/** How often the transport dials subnet members it is not connected to (from their registry addresses). */
export const REDIAL_INTERVAL_MS = 2_000
