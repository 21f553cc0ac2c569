/**
 * @packageDocumentation
 *
 * Content-addressed, multi-peer checkpoint sync verified by catch-up packages, as a
 * libp2p service (`/icnet/state-sync/1.0.0`): manifests with the IC's hashing, a
 * bitswap-style chunk exchange served from a `CheckpointStore`, and a downloader that
 * fetches from every peer in parallel and installs atomically.
 */
export * from './constants.js'
export * from './errors.js'
export * from './hashing.js'
export * from './manifest.js'
export * from './cup.js'
export { BlockKind, decodeMessage, encodeMessage, Message } from './messages.js'
export type { CheckpointInfo } from './messages.js'
export * from './metrics.js'
export * from './store.js'
export * from './session.js'
export { ChunkBufferPool } from './block-buffers.js'
export { alignedRegions, DIRECT_IO_ALIGNMENT, DIRECT_WRITE_FLAGS } from './direct-io.js'
export * from './scheduler.js'
export * from './downloader.js'
export * from './service.js'
