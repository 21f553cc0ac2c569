/**
 * @packageDocumentation
 *
 * Identifiers, messages, errors and the interfaces shared by every icnet package.
 * No runtime dependencies beyond principals and CBOR.
 */
export * from './ids.js'
export * from './ranges.js'
export * from './messages.js'
export * from './message-codec.js'
export * from './errors.js'
export * from './constants.js'
export * from './bytes.js'
export * from './metrics.js'
export * from './registry-view.js'
export * from './bounded.js'
