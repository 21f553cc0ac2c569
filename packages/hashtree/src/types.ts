/**
 * The IC's hash tree (interface specification, "Certificate" section):
 *
 *   HashTree = Empty | Fork HashTree HashTree | Labeled Label HashTree | Leaf blob | Pruned Hash
 *
 * A tree may be partial: any subtree can be replaced by `pruned` with its digest,
 * and the root digest stays the same.
 */
export type HashTree =
  | EmptyNode
  | ForkNode
  | LabeledNode
  | LeafNode
  | PrunedNode

export interface EmptyNode { readonly kind: 'empty' }
export interface ForkNode { readonly kind: 'fork', readonly left: HashTree, readonly right: HashTree }
export interface LabeledNode { readonly kind: 'labeled', readonly label: Uint8Array, readonly subtree: HashTree }
export interface LeafNode { readonly kind: 'leaf', readonly value: Uint8Array }
export interface PrunedNode { readonly kind: 'pruned', readonly digest: Uint8Array }

/** A path label: raw bytes, or a string taken as its UTF-8 bytes. */
export type Label = Uint8Array | string

/** A path from the root, one label per labeled level. */
export type Path = readonly Label[]

/**
 * A labeled tree (the IC's `LabeledTree`): a leaf is a byte string, an inner
 * node maps labels to subtrees. Labels may be strings (UTF-8) or bytes and are
 * sorted by their bytes when the hash tree is built, so insertion order does not
 * matter. An empty map is an empty subtree (hashes as `Empty`).
 */
export type LabeledTree = Uint8Array | LabeledSubtree
export type LabeledSubtree =
  | ReadonlyMap<Label, LabeledTree>
  | ReadonlyArray<readonly [Label, LabeledTree]>
  | { readonly [label: string]: LabeledTree }

/** The result of `lookupPath`, with the interface specification's meaning. */
export type LookupResult =
  /** The path leads to a leaf; its value. */
  | { readonly status: 'found', readonly value: Uint8Array }
  /** The tree proves the path does not exist. */
  | { readonly status: 'absent' }
  /** The path may exist, but the part of the tree that would say so is pruned. */
  | { readonly status: 'unknown' }
  /** The path leads to an inner node or runs through a leaf: not a valid lookup. */
  | { readonly status: 'error' }

/** The result of `lookupSubtree`: like `LookupResult`, but any node at the path is found. */
export type SubtreeLookupResult =
  | { readonly status: 'found', readonly subtree: HashTree }
  | { readonly status: 'absent' }
  | { readonly status: 'unknown' }

const EMPTY: EmptyNode = Object.freeze({ kind: 'empty' })

export function empty (): EmptyNode { return EMPTY }
export function fork (left: HashTree, right: HashTree): ForkNode { return { kind: 'fork', left, right } }
export function labeled (label: Label, subtree: HashTree): LabeledNode {
  return { kind: 'labeled', label: labelBytes(label), subtree }
}
export function leaf (value: Uint8Array | string): LeafNode {
  return { kind: 'leaf', value: typeof value === 'string' ? utf8(value) : value }
}
export function pruned (digest: Uint8Array): PrunedNode { return { kind: 'pruned', digest } }

const encoder = new TextEncoder()

export function utf8 (s: string): Uint8Array { return encoder.encode(s) }

/**
 * Encoded string labels. A state tree's string labels are a small fixed set
 * (`streams`, `messages`, `header`, ...), and every path operation on every
 * message encodes them again: that was about 1 % of a loaded replica's CPU.
 * Only short labels are kept, at most LABEL_CACHE_SIZE of them.
 */
const labelCache = new Map<string, Uint8Array>()
const LABEL_CACHE_SIZE = 256
const CACHED_LABEL_MAX_LENGTH = 32

/** The bytes of a label. A string's encoding may be shared between calls: callers never write to it. */
export function labelBytes (label: Label): Uint8Array {
  if (typeof label !== 'string') return label
  let bytes = labelCache.get(label)
  if (bytes !== undefined) return bytes
  bytes = encoder.encode(label)
  if (label.length <= CACHED_LABEL_MAX_LENGTH && labelCache.size < LABEL_CACHE_SIZE) labelCache.set(label, bytes)
  return bytes
}
