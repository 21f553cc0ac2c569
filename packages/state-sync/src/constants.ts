/** The libp2p protocol id of the chunk exchange. */
export const PROTOCOL = '/icnet/state-sync/1.0.0'

/** Manifest format version: V3 file hashes (no file index), split into sub-manifests (V2+). */
export const MANIFEST_VERSION = 3

/** The IC's chunk size: small enough to retry cheaply, large enough to amortise per-message cost. */
export const DEFAULT_CHUNK_SIZE = 1024 * 1024

/** Sub-manifests are 1 MiB, so a state of any size starts syncing with one small fetch. */
export const DEFAULT_SUB_MANIFEST_SIZE = 1024 * 1024

/** Largest chunk or sub-manifest a peer may send: it bounds every block buffer we allocate. */
export const MAX_BLOCK_BYTES = 1024 * 1024

/**
 * Largest frame on the wire, checked before the body is read: one block plus a
 * full wantlist and presences (MAX_WANTLIST_ENTRIES of ~40 bytes each), with room to spare.
 */
export const MAX_MESSAGE_BYTES = MAX_BLOCK_BYTES + 128 * 1024

/** Entries per wantlist / presence list in one frame (bounds decoding work per frame). */
export const MAX_WANTLIST_ENTRIES = 1024

/** Blocks in one frame: the sender splits larger batches. */
export const MAX_BLOCKS_PER_MESSAGE = 16

/** Checkpoints one peer may advertise (a node keeps a handful). */
export const MAX_ADVERTISED_CHECKPOINTS = 64

/**
 * Requests a peer may have queued with us (want-block not yet answered). A downloader's
 * window never exceeds MAX_WINDOW, so more than this is a protocol violation.
 */
export const MAX_LEDGER_ENTRIES_PER_PEER = 256

/**
 * Blocks a serving session reads ahead of the socket (1 MiB each), so a disk read overlaps
 * the previous block's send. Two hide a page-cache read; more only costs memory
 * (MAX_LEDGERS × SERVE_READ_AHEAD MiB at most).
 */
export const SERVE_READ_AHEAD = 2

/**
 * Received chunks being verified or written at once (1 MiB buffer each, reused): enough
 * to keep the disk busy while the network delivers, and the bound on memory held between
 * the two.
 */
export const MAX_PENDING_DELIVERIES = 64

/**
 * Chunk buffers (1 MiB each) a session created without a shared pool keeps for reuse: a
 * quarter of a full window, enough to recycle the buffers of one peer's steady stream.
 */
export const SESSION_POOL_KEEP = 16

/** Local chunk copies (read, verify, write) a downloader runs at once: 1 MiB buffer each. */
export const LOCAL_COPY_CONCURRENCY = 4

/** Peers we serve at once (one ledger each): bounds memory on the serving side. */
export const MAX_LEDGERS = 128

/**
 * Stream limits per connection. A downloader opens one session stream per peer, plus
 * short advert queries; 8 leaves headroom for a restart racing the old stream's close.
 */
export const MAX_INBOUND_STREAMS = 8
export const MAX_OUTBOUND_STREAMS = 8

/** Sub-manifests in a meta-manifest: 1024 MiB of manifest is ~20M chunks, ~20 TiB of state. */
export const MAX_SUB_MANIFESTS = 1024

/** Files and chunks in one manifest (decode limits; a checkpoint beyond that is refused). */
export const MAX_MANIFEST_FILES = 1_000_000
export const MAX_MANIFEST_CHUNKS = 20_000_000

/** A relative path in a manifest. */
export const MAX_PATH_BYTES = 4096

/** Adaptive window per peer (requests in flight): starts small, grows on success (AIMD). */
export const INITIAL_WINDOW = 4
export const MIN_WINDOW = 1
export const MAX_WINDOW = 64

/**
 * A peer with requests in flight is refilled only once a 1/REFILL_DIVISOR of its window is
 * free, so wants go out several to a frame (one noise seal, one socket write) instead of
 * one per block received; with a full window that is 8 at a time while 56 MiB are still
 * on their way, so the pipe never runs dry. An idle peer is refilled at once.
 */
export const REFILL_DIVISOR = 8

/** The IC's chunk timeout: long enough for 1 MiB over a slow link. */
export const DEFAULT_CHUNK_TIMEOUT_MS = 10_000

/** Consecutive timeouts after which a peer counts as stalled and is dropped. */
export const MAX_CONSECUTIVE_TIMEOUTS = 3

/** Attempts per chunk across all peers before the sync gives up on it. */
export const MAX_ATTEMPTS_PER_CHUNK = 8

/** How long an advert query may take. */
export const ADVERT_TIMEOUT_MS = 5_000

/** Misbehaving peers remembered (bounded LRU). */
export const MAX_SCORED_PEERS = 1024
