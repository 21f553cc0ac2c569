/**
 * Protocol ids, limits and tuning defaults. Each value says why it is what it is;
 * the IC's constants are quoted where they are the source.
 */
import { KiB, MAX_SIGNALS, MiB } from '@icnet/types'

/** Pull a certified stream slice (request/response). */
export const XNET_STREAM_PROTOCOL = '/icnet/xnet/stream/1.0.0'
/** Push "new messages up to index i at height h" so the receiver pulls at once. */
export const XNET_ADVERT_PROTOCOL = '/icnet/xnet/advert/1.0.0'

/**
 * Concurrent inbound slice requests per connection. The IC's endpoint serves at most
 * 4 requests at a time; a peer also pipelines a few (its congestion window), so 8.
 */
export const MAX_INBOUND_STREAMS = 8
/** Outbound slice requests per connection: the client's largest congestion window. */
export const MAX_OUTBOUND_STREAMS = 8
/** Server-wide cap on requests being served; beyond it the server answers BUSY. */
export const MAX_CONCURRENT_SERVES = 16
/**
 * Advert streams per connection and direction. A sender keeps one open per receiving
 * node (AdvertChannels); the rest is room for one being replaced.
 */
export const MAX_ADVERT_STREAMS = 4
/**
 * A sender writes its next advert on a new stream once its stream has been unused for
 * this long: well inside the receiver's ADVERT_STREAM_IDLE_MS, so the sender never
 * writes into a stream the receiver is closing.
 */
export const ADVERT_CHANNEL_IDLE_MS = 20_000
/** A receiver closes an advert stream that carried nothing for this long. */
export const ADVERT_STREAM_IDLE_MS = 60_000
/** Advert streams a sender keeps at most: one per node of the destination subnets. */
export const MAX_ADVERT_CHANNELS = 1024

/** Largest slice a pool keeps or a request asks for (IC: POOL_SLICE_BYTE_SIZE_MAX). */
export const POOL_SLICE_BYTE_SIZE_MAX = 4 * MiB
/** Soft cap on the bytes held by one slice pool across all source subnets (IC: POOL_BYTE_SIZE_SOFT_CAP). */
export const POOL_BYTE_SIZE_SOFT_CAP = 10 * MiB
/** Once less than this is left in a payload, stop adding slices (IC: SLICE_BYTE_SIZE_MIN). */
export const SLICE_BYTE_SIZE_MIN = 1 * KiB

/**
 * Longest response frame the client reads: a slice the server trimmed to our byte_limit,
 * plus the witness and certification. The IC caps the body at 5 * POOL_SLICE_BYTE_SIZE_MAX
 * because witnesses can be large relative to small slices.
 */
export const MAX_RESPONSE_BYTES = 5 * POOL_SLICE_BYTE_SIZE_MAX
/** A request is a handful of varints and a principal. */
export const MAX_REQUEST_BYTES = 256
/** An advert is a principal and two varints. */
export const MAX_ADVERT_BYTES = 128

/** Largest CBOR stream header: a full reject-signal window (2*MAX_SIGNALS entries of about 12 bytes). */
export const MAX_HEADER_BYTES = 2 * MAX_SIGNALS * 16 + 256
/** A sender whose reject signals span more than this is dishonest (IC: 2*MAX_SIGNALS). */
export const MAX_REJECT_SIGNAL_SPAN = 2 * MAX_SIGNALS

/** Deepest hash tree accepted from the network: /streams/<s>/messages/<i> under ~log2(10k) forks per level. */
export const MAX_TREE_DEPTH = 256

/** Per-request timeout (IC client: 5 s). */
export const REQUEST_TIMEOUT_MS = 5_000
/** Backoff after a failure grows from this... */
export const BACKOFF_BASE_MS = 100
/** ...up to this. */
export const BACKOFF_MAX_MS = 10_000
/**
 * A node that is behind (answers BAD_BEGIN, or serves an authentic slice older than
 * ours) is asked again after this fixed delay, about a certification round: it will
 * most likely have caught up by then, and other nodes are asked meanwhile.
 */
export const BEHIND_RETRY_MS = 200
/** EWMA weight of a new RTT sample. */
export const RTT_EWMA_ALPHA = 0.2
/** RTTs within this factor of the best count as equal (round-robin among them). */
export const RTT_EQUAL_FACTOR = 1.5
/** Congestion window: requests in flight per peer. */
export const CWND_INITIAL = 1
export const CWND_MAX = MAX_OUTBOUND_STREAMS
/** A peer that sent an invalid slice is not asked again for this long. */
export const MALICIOUS_PENALTY_MS = 60_000
/** Background refill: poll each source subnet this often when no advert arrives. */
export const DEFAULT_POLL_INTERVAL_MS = 200

/** Fixed per-slice byte count (certification and framing), as in the IC's pool estimate. */
export const SLICE_FIXED_BYTES = 71
/** Per-message overhead in the byte count: the 8-byte index label plus framing. */
export const SLICE_MESSAGE_OVERHEAD_BYTES = 16

/**
 * Verified (public key, state root, signature) triples remembered, so that the
 * slices of one certified state (suffix pulls, pool merges, payload validation)
 * pay for the pairing check once. A few heights of a few dozen source subnets.
 */
export const VERIFIED_CERTIFICATIONS_CACHE_SIZE = 256

/**
 * A server keeps a slice stream open this long after a response for the client's
 * next request; a client reuses an idle stream only if it has been idle for less
 * than CLIENT_STREAM_IDLE_MS, well inside the server's patience, so a reused
 * stream is almost never one the server is closing.
 */
export const SERVER_STREAM_IDLE_MS = 30_000
export const CLIENT_STREAM_IDLE_MS = 10_000

/**
 * Slices with fewer messages have their root computed on the event loop: handing
 * one to a worker costs a copy and two thread hops (tens of microseconds), about
 * what hashing a few dozen messages costs.
 */
export const ROOT_WORKERS_MIN_MESSAGES = 64
/**
 * The same bound for a slice handed over as wire bytes, before it is decoded
 * (`SliceRootWorkers.decode`): 64 messages of 1 KiB. Smaller responses are decoded
 * and verified on the event loop.
 */
export const ROOT_WORKERS_MIN_BYTES = 64 * 1024
/**
 * Slices at most waiting for a worker: a few pulls' congestion windows (8 each).
 * Beyond it a slice is verified on the event loop, so the queue never grows without bound.
 */
export const ROOT_WORKERS_MAX_PENDING = 32
