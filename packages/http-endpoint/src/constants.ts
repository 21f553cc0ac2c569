/**
 * Limits of the HTTP interface. Each one bounds memory or time that a client
 * could otherwise make the node spend; the numbers follow the IC interface
 * specification where it sets one, and the IC replica's defaults otherwise.
 */

/** Largest request body. Ingress messages are at most 2 MiB of payload on the IC; the envelope adds a few KiB. */
export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024

/** Deepest CBOR nesting of a request: the envelope, content, paths and delegations need 5 levels. */
export const MAX_CBOR_DEPTH = 16

/** Most CBOR items in one request: paths (1000 × 127 labels) are the largest legitimate use. */
export const MAX_CBOR_ITEMS = 130_000

/** The spec: a read_state request names at most 1000 paths, each of at most 127 labels. */
export const MAX_READ_STATE_PATHS = 1000
export const MAX_PATH_LABELS = 127

/** The spec: a nonce is at most 32 bytes. */
export const MAX_NONCE_BYTES = 32

/** The spec: at most 20 delegations in a chain, each with at most 1000 targets. */
export const MAX_DELEGATIONS = 20
export const MAX_DELEGATION_TARGETS = 1000

/** A method name longer than this is refused before it reaches a canister (the IC allows 20 000 bytes of exported names in total). */
export const MAX_METHOD_NAME_BYTES = 20_000

/** The spec: ingress_expiry may be at most 5 minutes in the future. */
export const MAX_INGRESS_TTL_MS = 5 * 60 * 1000
/** Clock skew tolerated on top of MAX_INGRESS_TTL_MS (the IC replica allows 30 s). */
export const PERMITTED_DRIFT_MS = 30 * 1000

/**
 * Per endpoint: requests processed at once, and requests admitted to wait
 * behind them. Past both, the endpoint answers 429 at once, before reading
 * the body (load shedding: fail early and cheaply).
 */
export const DEFAULT_MAX_CONCURRENT = 64
export const DEFAULT_MAX_QUEUED = 256

/** Synchronous (v3) calls waiting for their certified status at once; more are answered 202 at once. */
export const DEFAULT_MAX_SYNC_WAITERS = 1000
/** How long a v3 call waits for a terminal certified status before answering 202 (the IC replica waits 10 s). */
export const DEFAULT_SYNC_CALL_TIMEOUT_MS = 10_000

/** Time to receive a whole body once headers arrived (408 past it): guards against slow senders holding a slot. */
export const DEFAULT_BODY_READ_TIMEOUT_MS = 10_000
/** Time a backend may take for one request (504 past it). */
export const DEFAULT_HANDLER_TIMEOUT_MS = 30_000
/** node:http: time to receive the headers, and the whole request. */
export const DEFAULT_HEADERS_TIMEOUT_MS = 10_000
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000
/** Idle keep-alive connections are closed after this (the IC's connection_read_timeout_seconds is 1200 s; a node on a shared host keeps it short). */
export const DEFAULT_KEEP_ALIVE_TIMEOUT_MS = 30_000
/** Open connections at once; more are refused by the socket layer. */
export const DEFAULT_MAX_CONNECTIONS = 1024
/** node:http's header size bound. */
export const DEFAULT_MAX_HEADER_BYTES = 16 * 1024

/** The version this endpoint reports in /api/v2/status. */
export const IMPL_VERSION = 'icnet-0.1.0'

/** Time limits are checked by one sweep at most this often (see deadlines.ts): they hold to within this much. */
export const DEADLINE_RESOLUTION_MS = 250
/** Effective canister ids parsed from URLs, remembered (clients address few canisters, and each parse checks a CRC32). */
export const URL_PRINCIPAL_CACHE_SIZE = 1024
/**
 * Digests of recurring request values (method names, expiries, canister ids
 * and senders) kept per kind: agents send the same few again and again (an
 * agent rounds its expiries to the minute). Cleared when full, so a flood of
 * distinct values costs a lookup each and never more memory than this.
 */
export const RECURRING_DIGEST_CACHE_SIZE = 256

/**
 * Signatures waiting for (or in) the signing thread at once. The admission
 * queues already bound requests in flight far below this; past it a
 * signature is computed on the event loop instead of queueing more.
 */
export const MAX_PENDING_SIGNATURES = 4096
/** Messages per batch sent to the signing thread: a batch is one message each way, whatever its size. */
export const MAX_SIGNING_BATCH = 256

/**
 * Fewest cores for signing query answers in the signing thread (when the
 * event loop is busy) by default. The hand-off (a message each way, waking
 * the thread and the loop) pays only when the thread runs beside the loop;
 * with two cores shared with anything else, it runs instead of the loop, and
 * a query cost more CPU in all than signing inline (measured in
 * docs/benchmarks/http.md).
 */
export const OFF_THREAD_SIGNING_MIN_CORES = 3
