import { KiB, MiB } from '@icnet/types'

/** The request/response protocol that serves large artifacts announced by an advert. */
export const FETCH_PROTOCOL = '/icnet/artifact/fetch/1.0.0'

/** Topics are `/icnet/<subnet id text>/<kind>`. */
export const TOPIC_PREFIX = '/icnet/'

/**
 * Artifacts above this many bytes travel as an advert plus a fetch. 64 KiB keeps every
 * gossipsub RPC small enough that one large artifact never delays the small ones
 * (notarization shares, beacon shares) queued behind it on the same stream.
 */
export const DEFAULT_INLINE_THRESHOLD_BYTES = 64 * KiB

/**
 * Largest artifact any kind may declare: the biggest IC artifact is a block proposal
 * with a payload of at most 4 MiB (MAX_BLOCK_PAYLOAD_BYTES) plus its header.
 */
export const MAX_ARTIFACT_BYTES = 4 * MiB + 64 * KiB

/** Kind names are short, lowercase and safe in a topic string. */
export const KIND_NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,31}$/

/** An artifact id is a SHA-256 digest. */
export const ARTIFACT_ID_BYTES = 32

/** A gossip message is the artifact (at most the inline threshold) plus a few bytes of framing. */
export const GOSSIP_ENVELOPE_OVERHEAD_BYTES = 16

/** A fetch request is a 32-byte id and a kind name of at most 32 characters, framed. */
export const MAX_FETCH_REQUEST_BYTES = 128

/** The fetch response adds a status and field tags around the artifact. */
export const FETCH_RESPONSE_OVERHEAD_BYTES = 16

/**
 * Each fetch is one short stream; a subnet of up to 40 nodes each fetching a handful of
 * large artifacts per round needs few at a time. 16 in / 16 out per connection bounds a
 * single peer's claim on our upload, while leaving the registrar defaults (32/64) alone
 * for other protocols.
 */
export const FETCH_MAX_INBOUND_STREAMS = 16
export const FETCH_MAX_OUTBOUND_STREAMS = 16

/** One fetch attempt: a 4 MiB artifact at a modest 2 MB/s plus the round trip. */
export const DEFAULT_FETCH_TIMEOUT_MS = 5_000

/** The server gives a requester this long to send its request after opening the stream. */
export const FETCH_REQUEST_READ_TIMEOUT_MS = 5_000

/** Distinct peers tried for one artifact before giving up (advertiser first, then mesh peers). */
export const DEFAULT_FETCH_MAX_ATTEMPTS = 4

/**
 * Rounds of fetch attempts per advert. When every candidate of a round failed (timeouts on
 * an overloaded advertiser, or peers that do not hold it yet), the advert waits and tries
 * again: gossipsub delivers each advert once, so giving up loses the artifact for good.
 */
export const DEFAULT_FETCH_ROUNDS = 4
/** Wait before the second round; doubled for each further round (1 s, 2 s, 4 s). */
export const DEFAULT_FETCH_RETRY_BACKOFF_MS = 1_000

/** Fetches running at once; each holds up to one artifact in memory. */
export const DEFAULT_MAX_CONCURRENT_FETCHES = 8

/** Adverts waiting for a fetch slot. */
export const DEFAULT_FETCH_QUEUE_LENGTH = 256

/**
 * Messages waiting for validation per topic. Lodestar keeps a few thousand per topic;
 * artifacts are fewer and larger, so 1024 items bounds memory at 64 MiB per topic for
 * inline artifacts of the maximum inline size.
 */
export const DEFAULT_TOPIC_QUEUE_LENGTH = 1024

/** Artifacts whose signatures are checked in one `verifyMany` call (the verifier pool batches ~32-128). */
export const DEFAULT_VALIDATION_BATCH = 32

/** Validation batches in flight at once; the verifier's `canAcceptWork()` gates further ones. */
export const DEFAULT_MAX_CONCURRENT_BATCHES = 4

/** Artifacts parked by the priority function ("stash") per kind. */
export const DEFAULT_STASH_LENGTH = 1024

/** Per-kind pool defaults: the IC keeps a few hundred heights of consensus artifacts. */
export const DEFAULT_POOL_MAX_ARTIFACTS = 10_000
export const DEFAULT_POOL_MAX_BYTES = 256 * MiB

/** A peer that sends this many invalid artifacts within a few seconds crosses the graylist. */
export const INVALID_DELIVERY_WEIGHT = -20
/** The invalid-delivery counter decays by this factor each decay interval (1 s): halves in ~7 s. */
export const INVALID_DELIVERY_DECAY = 0.9

/**
 * Behaviour penalty (gossipsub P7: IWANT promises not kept, GRAFT during backoff). Its
 * default (weight −10 from the first offence) takes a peer past the graylist after three
 * broken promises, which a merely slow peer breaks under a burst: every IWANT it is sent
 * is answered after the 3 s follow-up time. Scaled like Lodestar's: free up to 6, then
 * quadratic, so graylisting takes some 26 broken promises in quick succession.
 */
export const BEHAVIOUR_PENALTY_THRESHOLD = 6
export const BEHAVIOUR_PENALTY_WEIGHT = -0.2
/** The counter decays by this factor each decay interval (1 s): halves in ~7 s. */
export const BEHAVIOUR_PENALTY_DECAY = 0.9

/** Score thresholds (gossipsub's meaning). Crossing `graylist` also closes the connection. */
export const GOSSIP_THRESHOLD = -20
export const PUBLISH_THRESHOLD = -40
export const GRAYLIST_THRESHOLD = -80

/** Score a node outside the subnet gets (times appSpecificWeight 1): far below graylist. */
export const NON_MEMBER_APP_SCORE = -1000

/** How long a disconnected offender is refused by the connection gater. */
export const DEFAULT_BAN_MS = 10 * 60_000

/** Ban list size: a bound, not a policy; the oldest ban is forgotten first. */
export const MAX_BANNED_PEERS = 1024
