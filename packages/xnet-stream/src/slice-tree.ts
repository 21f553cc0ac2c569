import { equalBytes, u64be } from '@icnet/types'
import {
  emptyDigest,
  forkDigest,
  labeledDigest,
  leafDigest,
  type HashTree,
  type LabeledTree
} from '@icnet/hashtree'

/**
 * Where slices live in the certified state tree, and the two tree operations a
 * slice needs that are specific to streams: cutting a witness for a message range
 * out of the state, and pruning a witness down to a prefix of it.
 *
 *   /streams/<subnet>/header             CBOR stream header
 *   /streams/<subnet>/messages/<u64 BE>  CBOR message
 */
const utf8 = new TextEncoder()
export const STREAMS_LABEL = utf8.encode('streams')
export const HEADER_LABEL = utf8.encode('header')
export const MESSAGES_LABEL = utf8.encode('messages')

/** The big-endian u64 label of a stream index. */
export function indexLabel (index: number): Uint8Array {
  if (!Number.isSafeInteger(index) || index < 0) throw new RangeError(`stream index ${index} is not a safe non-negative integer`)
  return u64be(index) // written by hand for a safe integer: no DataView or BigInt per message label
}

/**
 * The stream index of an 8-byte label, or -1 if it is not one (or beyond 2^53). The
 * label may be read in place: `length` bytes of `bytes` from `at`.
 */
export function labelIndex (bytes: Uint8Array, at = 0, length = bytes.length - at): number {
  if (length !== 8) return -1
  // Read by hand: a DataView per label is an allocation on a path taken per message.
  const hi = ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0
  if (hi >= 0x200000) return -1
  return hi * 0x1_0000_0000 + (((bytes[at + 4]! << 24) | (bytes[at + 5]! << 16) | (bytes[at + 6]! << 8) | bytes[at + 7]!) >>> 0)
}

/**
 * Digests of the nodes of trees this node built itself, computed once. Nodes are
 * immutable, so a WeakMap keyed by node is a safe cache and frees with the tree.
 */
export class DigestCache {
  private readonly cache = new WeakMap<HashTree, Uint8Array>()

  of (node: HashTree): Uint8Array {
    if (node.kind === 'pruned') return node.digest
    if (node.kind === 'empty') return emptyDigest()
    let d = this.cache.get(node)
    if (d !== undefined) return d
    // Recursion depth is the tree's height; these are our own balanced trees (a few dozen levels).
    switch (node.kind) {
      case 'leaf': d = leafDigest(node.value); break
      case 'labeled': d = labeledDigest(node.label, this.of(node.subtree)); break
      case 'fork': d = forkDigest(this.of(node.left), this.of(node.right)); break
    }
    this.cache.set(node, d)
    return d
  }
}

interface Walked { tree: HashTree, kept: boolean }

/**
 * The merkle proof for a slice of the stream to `subnet`, messages `[from, to)`:
 * the state tree with everything else pruned, the path to the stream kept, and
 * the header and each message in range as a labeled node over its *pruned leaf
 * digest* (the payload carries the values; the proof carries only what hashes
 * them into the root). Messages outside the range collapse into pruned forks.
 */
export function sliceWitness (state: HashTree, subnet: Uint8Array, from: number, to: number, digests: DigestCache): HashTree {
  const prune = (n: HashTree): Walked => ({ tree: n.kind === 'empty' ? n : { kind: 'pruned', digest: digests.of(n) }, kept: false })

  const level = (n: HashTree, onLabeled: (n: HashTree & { kind: 'labeled' }) => Walked | undefined): Walked => {
    if (n.kind === 'fork') {
      const l = level(n.left, onLabeled)
      const r = level(n.right, onLabeled)
      if (!l.kept && !r.kept) return prune(n)
      return { tree: { kind: 'fork', left: l.tree, right: r.tree }, kept: true }
    }
    if (n.kind === 'labeled') return onLabeled(n) ?? prune(n)
    return prune(n)
  }
  const keepLabeled = (n: HashTree & { kind: 'labeled' }, subtree: HashTree): Walked =>
    ({ tree: { kind: 'labeled', label: n.label, subtree }, kept: true })
  const leafAsDigest = (n: HashTree & { kind: 'labeled' }): Walked =>
    keepLabeled(n, { kind: 'pruned', digest: digests.of(n.subtree) })

  const messages = (n: HashTree): Walked => level(n, m => {
    const i = labelIndex(m.label)
    return i >= from && i < to ? leafAsDigest(m) : undefined
  })
  const stream = (n: HashTree): Walked => level(n, c => {
    if (equalBytes(c.label, HEADER_LABEL)) return leafAsDigest(c)
    if (equalBytes(c.label, MESSAGES_LABEL) && to > from) return keepLabeled(c, messages(c.subtree).tree)
    return undefined
  })
  const streams = (n: HashTree): Walked => level(n, s => equalBytes(s.label, subnet) ? keepLabeled(s, stream(s.subtree).tree) : undefined)
  return level(state, top => equalBytes(top.label, STREAMS_LABEL) ? keepLabeled(top, streams(top.subtree).tree) : undefined).tree
}

/**
 * A slice proof cut down to a prefix: message nodes at index `>= from` under
 * `/streams/<subnet>/messages` are pruned away, and forks of two pruned sides
 * collapse. The result still reconstructs to the same root.
 */
export function pruneMessagesFrom (proof: HashTree, subnet: Uint8Array, from: number): HashTree {
  const level = (n: HashTree, onLabeled: (n: HashTree & { kind: 'labeled' }) => HashTree): HashTree => {
    if (n.kind === 'fork') {
      const left = level(n.left, onLabeled)
      const right = level(n.right, onLabeled)
      if (left.kind === 'pruned' && right.kind === 'pruned') return { kind: 'pruned', digest: forkDigest(left.digest, right.digest) }
      return left === n.left && right === n.right ? n : { kind: 'fork', left, right }
    }
    return n.kind === 'labeled' ? onLabeled(n) : n
  }
  const relabel = (n: HashTree & { kind: 'labeled' }, subtree: HashTree): HashTree => {
    if (subtree === n.subtree) return n
    if (subtree.kind === 'pruned') return { kind: 'pruned', digest: labeledDigest(n.label, subtree.digest) }
    return { kind: 'labeled', label: n.label, subtree }
  }
  const messages = (n: HashTree): HashTree => level(n, m => {
    if (labelIndex(m.label) < from || m.subtree.kind !== 'pruned') return m
    return { kind: 'pruned', digest: labeledDigest(m.label, m.subtree.digest) }
  })
  const stream = (n: HashTree): HashTree => level(n, c => equalBytes(c.label, MESSAGES_LABEL) ? relabel(c, messages(c.subtree)) : c)
  const streams = (n: HashTree): HashTree => level(n, s => equalBytes(s.label, subnet) ? relabel(s, stream(s.subtree)) : s)
  return level(proof, top => equalBytes(top.label, STREAMS_LABEL) ? relabel(top, streams(top.subtree)) : top)
}

/** The payload as the labeled partial tree `mergeWitness` takes. */
export function payloadLabeledTree (subnet: Uint8Array, header: Uint8Array, messages: ReadonlyArray<{ index: number, bytes: Uint8Array }>): LabeledTree {
  const stream: Array<[Uint8Array, LabeledTree]> = [[HEADER_LABEL, header]]
  if (messages.length > 0) stream.push([MESSAGES_LABEL, messages.map(m => [indexLabel(m.index), m.bytes] as [Uint8Array, LabeledTree])])
  return [[STREAMS_LABEL, [[subnet, stream]]]]
}
