/**
 * Limits and defaults of message routing. Values follow the IC where it has one
 * (quoted); where icnet simplifies, the comment says how.
 */
import { MAX_STREAM_MESSAGES, TARGET_STREAM_SIZE_BYTES } from '@icnet/types'

/** Requests from other canisters waiting in one canister's input queue (IC: DEFAULT_QUEUE_CAPACITY). */
export const DEFAULT_QUEUE_CAPACITY = 500

/** Ingress messages waiting for one canister (a queue of their own, as on the IC, so calls cannot crowd users out). */
export const DEFAULT_INGRESS_QUEUE_CAPACITY = 500

/**
 * Requests one canister may have produced but not yet routed (its output queue).
 * A call made while it is full gets an immediate SysTransient reject response (on
 * the IC `call_perform` itself fails; here the sandbox has already accepted the
 * call, so the caller learns it from the reject callback).
 */
export const DEFAULT_OUTPUT_QUEUE_CAPACITY = 500

/**
 * Calls one canister may have in flight (callbacks awaiting a response). Every
 * outstanding call holds a reserved slot for its response, so responses are always
 * accepted; this bounds those reservations.
 */
export const DEFAULT_MAX_OUTSTANDING_CALLS = MAX_STREAM_MESSAGES

/** Instructions one round may spend over all canisters before the scheduler stops. */
export const DEFAULT_ROUND_INSTRUCTIONS = 4_000_000_000n
/** Instructions one message may use (no deterministic time slicing here, so below the round budget). */
export const DEFAULT_MESSAGE_INSTRUCTIONS = 2_000_000_000n
/** Instructions for install (start + init). */
export const DEFAULT_INSTALL_INSTRUCTIONS = 20_000_000_000n

/** Stream limits (IC: MAX_STREAM_MESSAGES, TARGET_STREAM_SIZE_BYTES); system subnets get their own cap. */
export const DEFAULT_STREAM_MAX_MESSAGES = MAX_STREAM_MESSAGES
export const DEFAULT_STREAM_MAX_BYTES = TARGET_STREAM_SIZE_BYTES

/** Entries in the ingress history; beyond it new ingress is refused (validateIngress says so first). */
export const DEFAULT_MAX_INGRESS_HISTORY = 100_000
/** Longest ingress expiry accepted, from the batch time (IC: MAX_INGRESS_TTL, 5 minutes). */
export const MAX_INGRESS_TTL_MS = 5 * 60 * 1000
/** How long a `done` entry stays after its expiry, so late readers see `done` rather than nothing. */
export const DONE_RETENTION_MS = 5 * 60 * 1000
/** Largest ingress argument (IC: 2 MiB ingress message limit on application subnets). */
export const MAX_INGRESS_ARG_BYTES = 2 * 1024 * 1024
/** Longest ingress method name. */
export const MAX_INGRESS_METHOD_BYTES = 20_000

/**
 * States kept for certification: executed heights awaiting their certification, plus
 * the latest certified one. Older uncertified states are dropped (their certification,
 * if it ever comes, is then ignored: a newer one supersedes it).
 */
export const DEFAULT_MAX_CERTIFICATION_BACKLOG = 64

/**
 * `stop_canister` calls one stopping canister may hold open. Each waits, as
 * replicated state carried in every checkpoint, until the canister has no open
 * call context, and all are answered together; a controller gains nothing from
 * a second one, so a small bound keeps a canister's record small without
 * turning away a retry or two. One beyond it is rejected (SysTransient: retry
 * once the canister has stopped).
 */
export const MAX_PENDING_STOP_CALLS = 16

/** Checkpoints kept on disk (the newest N); older ones are deleted after a new one is written. */
export const DEFAULT_CHECKPOINTS_KEPT = 2
/** Heights between checkpoints by default (IC: every DKG interval, 500 rounds). */
export const DEFAULT_CHECKPOINT_INTERVAL = 500

/** Version of the checkpoint file layout (docs/protocols/canonical-state.md). */
export const CHECKPOINT_FORMAT_VERSION = 1
