/**
 * @packageDocumentation
 *
 * The Internet Computer's labeled hash tree: build it from a labeled tree,
 * compute its root digest, look paths up (found / absent / unknown), cut
 * witnesses, prune, merge a witness with partial data, encode it as CBOR, and
 * keep a large tree whose root hash follows each change at the cost of the
 * changed path only.
 */
export * from './types.js'
export { InconsistentTreeError } from './errors.js'
export { DIGEST_BYTES, emptyDigest, forkDigest, hashOperationCount, labeledDigest, leafDigest, leafDigestInto, reconstruct, sha256Digest, sha256Into } from './digest.js'
export { buildHashTree, forkTreeOf } from './build.js'
export { findLabel, flattenForks, listPaths, lookupPath, lookupSubtree } from './lookup.js'
export { mergeWitness, prune, recomputeDigest, witness, withoutValues, type WitnessOptions } from './witness.js'
export { DEFAULT_MAX_TREE_BYTES, DEFAULT_MAX_TREE_DEPTH, decodeHashTree, decodeHashTreeAt, encodeHashTree, toCborValue, type DecodeHashTreeOptions } from './codec.js'
export { HashTreeSnapshot, IncrementalHashTree } from './incremental.js'
