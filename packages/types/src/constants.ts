/** Sizes and limits shared by several packages (values as on the IC; see docs/architecture.md). */

export const KiB = 1024
export const MiB = 1024 * 1024

/** Largest inter-canister request or response payload (IC: MAX_INTER_CANISTER_PAYLOAD_IN_BYTES). */
export const MAX_INTER_CANISTER_PAYLOAD_BYTES = 2 * MiB

/** Longest method name accepted in a request (bounds decoding). */
export const MAX_METHOD_NAME_BYTES = 20_000

/** Longest reject message carried in a response (bounds decoding). */
export const MAX_REJECT_MESSAGE_BYTES = 8 * KiB

/** An XNet stream stops growing at this many bytes (IC: TARGET_STREAM_SIZE_BYTES). */
export const TARGET_STREAM_SIZE_BYTES = 10 * MiB

/** ...or at this many messages (IC: MAX_STREAM_MESSAGES). */
export const MAX_STREAM_MESSAGES = 10_000

/** Messages allowed in a stream towards a system subnet (IC: SYSTEM_SUBNET_STREAM_MSG_LIMIT). */
export const SYSTEM_SUBNET_STREAM_MSG_LIMIT = 100

/** Most reject signals a stream may carry (IC: MAX_SIGNALS). */
export const MAX_SIGNALS = 10_000

/** Largest block payload (IC: MAX_BLOCK_PAYLOAD_SIZE). */
export const MAX_BLOCK_PAYLOAD_BYTES = 4 * MiB
