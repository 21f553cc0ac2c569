import { compareBytes, equalBytes, toHex } from '@icnet/types'
import { buildHashTree, sortedChildren } from './build.js'
import { forkDigest, labeledDigest, leafDigest, reconstruct } from './digest.js'
import { InconsistentTreeError } from './errors.js'
import { flattenForks } from './lookup.js'
import { labelBytes, type HashTree, type LabeledTree, type Path } from './types.js'

/**
 * A witness for `paths`: the tree with everything pruned except what a
 * verifier needs to look those paths up. For a path that exists, its whole
 * subtree is revealed (for a leaf: the value). For a label that does not exist,
 * its two neighbours in the level stay (with pruned subtrees), so that
 * `lookupPath` on the witness proves absence exactly where it does on `tree`.
 * The witness reconstructs to the same root digest as `tree`.
 */
export function witness (tree: HashTree, paths: readonly Path[], options: WitnessOptions = {}): HashTree {
  if (paths.length === 0) return pruneWhole(tree)
  return witnessNode(tree, paths.map(p => p.map(labelBytes)), options.omitValues === true)
}

export interface WitnessOptions {
  /**
   * Replace each revealed leaf under the requested paths by the pruned digest
   * of that leaf, keeping every label: the witness to send next to a partial
   * labeled tree that carries the values (see `mergeWitness`).
   */
  omitValues?: boolean
}

/** The subtree with every leaf replaced by its pruned digest; labels and shape stay. */
export function withoutValues (tree: HashTree): HashTree {
  switch (tree.kind) {
    case 'leaf': return { kind: 'pruned', digest: leafDigest(tree.value) }
    case 'labeled': return { kind: 'labeled', label: tree.label, subtree: withoutValues(tree.subtree) }
    case 'fork': return { kind: 'fork', left: withoutValues(tree.left), right: withoutValues(tree.right) }
    default: return tree
  }
}

/** What a level keeps of one of its flattened nodes. */
type Keep = 'nothing' | 'boundary' | 'reveal'

function witnessNode (node: HashTree, requests: Uint8Array[][], omitValues: boolean): HashTree {
  if (requests.some(r => r.length === 0)) return omitValues ? withoutValues(node) : node
  if (node.kind === 'pruned' || node.kind === 'empty') return node
  if (node.kind === 'leaf') return node // a path through a leaf: keep it, lookups say `error` as on the full tree

  const level = flattenForks(node)
  const keep = new Array<Keep>(level.length).fill('nothing')
  const rests = new Map<number, Uint8Array[][]>()

  // Requested labels in order, merged against the labeled nodes in order (a
  // well-formed level is sorted), so a level costs O(level + requests).
  const byLabel = new Map<string, { label: Uint8Array, rests: Uint8Array[][] }>()
  for (const r of requests) {
    const key = toHex(r[0]!)
    const entry = byLabel.get(key)
    if (entry === undefined) byLabel.set(key, { label: r[0]!, rests: [r.slice(1)] })
    else entry.rests.push(r.slice(1))
  }
  const wanted = [...byLabel.values()].sort((a, b) => compareBytes(a.label, b.label))
  const labeledAt: number[] = []
  for (let i = 0; i < level.length; i++) if (level[i]!.kind === 'labeled') labeledAt.push(i)

  let p = 0
  for (const w of wanted) {
    while (p < labeledAt.length && compareBytes(labelOf(level[labeledAt[p]!]!), w.label) < 0) p++
    if (p < labeledAt.length && equalBytes(labelOf(level[labeledAt[p]!]!), w.label)) {
      const at = labeledAt[p]!
      keep[at] = 'reveal'
      rests.set(at, [...(rests.get(at) ?? []), ...w.rests])
    } else {
      if (p > 0 && keep[labeledAt[p - 1]!] === 'nothing') keep[labeledAt[p - 1]!] = 'boundary'
      if (p < labeledAt.length && keep[labeledAt[p]!] === 'nothing') keep[labeledAt[p]!] = 'boundary'
    }
  }
  // A stray leaf inside a level is kept so that lookups through it still say `error`.
  for (let i = 0; i < level.length; i++) if (level[i]!.kind === 'leaf') keep[i] = 'reveal'

  let position = 0
  const rebuild = (n: HashTree): { tree: HashTree, kept: boolean } => {
    if (n.kind === 'empty') return { tree: n, kept: false }
    if (n.kind === 'fork') {
      const l = rebuild(n.left)
      const r = rebuild(n.right)
      if (!l.kept && !r.kept) return { tree: n, kept: false }
      return { tree: { kind: 'fork', left: l.kept ? l.tree : pruneWhole(l.tree), right: r.kept ? r.tree : pruneWhole(r.tree) }, kept: true }
    }
    const at = position++
    switch (keep[at]) {
      case 'reveal':
        if (n.kind === 'labeled') return { tree: { kind: 'labeled', label: n.label, subtree: witnessNode(n.subtree, rests.get(at) ?? [], omitValues) }, kept: true }
        return { tree: n, kept: true }
      case 'boundary':
        if (n.kind === 'labeled') return { tree: { kind: 'labeled', label: n.label, subtree: pruneWhole(n.subtree) }, kept: true }
        return { tree: n, kept: true }
      default:
        return { tree: n, kept: false }
    }
  }
  const out = rebuild(node)
  return out.kept ? out.tree : pruneWhole(node)
}

function labelOf (node: HashTree): Uint8Array {
  return (node as { label: Uint8Array }).label
}

/**
 * A subtree replaced by its digest. Subtrees made of `Empty` only stay as they
 * are: they flatten to nothing, and a pruned node in their place would turn a
 * provable absence between their neighbours into `unknown`.
 */
function pruneWhole (tree: HashTree): HashTree {
  if (tree.kind === 'pruned' || isAllEmpty(tree)) return tree
  return { kind: 'pruned', digest: reconstruct(tree) }
}

function isAllEmpty (tree: HashTree): boolean {
  const stack = [tree]
  while (stack.length > 0) {
    const n = stack.pop()!
    if (n.kind === 'fork') stack.push(n.left, n.right)
    else if (n.kind !== 'empty') return false
  }
  return true
}

/**
 * The tree with the subtrees at `paths` pruned away: each labeled node at one
 * of the paths becomes a pruned digest, and forks whose two sides are both
 * pruned collapse into one (as the IC's `prune_witness`). Paths that are not
 * present are ignored. The result reconstructs to the same root.
 */
export function prune (tree: HashTree, paths: readonly Path[]): HashTree {
  if (paths.some(p => p.length === 0)) return pruneWhole(tree)
  if (paths.length === 0) return tree
  return pruneLevel(tree, paths.map(p => p.map(labelBytes)))
}

function pruneLevel (node: HashTree, paths: Uint8Array[][]): HashTree {
  const byLabel = new Map<string, Uint8Array[][]>()
  for (const p of paths) {
    const key = toHex(p[0]!)
    byLabel.set(key, [...(byLabel.get(key) ?? []), p.slice(1)])
  }
  const walk = (n: HashTree): HashTree => {
    if (n.kind === 'fork') {
      const left = walk(n.left)
      const right = walk(n.right)
      if (left.kind === 'pruned' && right.kind === 'pruned') return { kind: 'pruned', digest: forkDigest(left.digest, right.digest) }
      if (left === n.left && right === n.right) return n
      return { kind: 'fork', left, right }
    }
    if (n.kind !== 'labeled') return n
    const rests = byLabel.get(toHex(n.label))
    if (rests === undefined) return n
    if (rests.some(r => r.length === 0)) return { kind: 'pruned', digest: reconstruct(n) }
    const subtree = pruneLevel(n.subtree, rests)
    if (subtree.kind === 'pruned') return { kind: 'pruned', digest: labeledDigest(n.label, subtree.digest) }
    return subtree === n.subtree ? n : { kind: 'labeled', label: n.label, subtree }
  }
  return walk(node)
}

/**
 * Merges a witness with a partial labeled tree that carries the data the
 * witness leaves out, the IC's `recompute_digest` (certified stream slices:
 * the payload travels as a labeled tree, the witness as a hash tree).
 *
 * Each label of `partial` must appear as a labeled node of the witness at the
 * same place (not hidden under a pruned node). Where the partial tree brings a
 * leaf, the witness must hold that leaf, or a pruned digest equal to the
 * leaf's; where it brings a whole subtree and the witness holds only a digest,
 * the digest must match. Anything else throws `InconsistentTreeError`: a
 * merged tree always reconstructs to the witness's root.
 */
export function mergeWitness (witnessTree: HashTree, partial: LabeledTree): HashTree {
  return merge(witnessTree, partial, [])
}

function merge (w: HashTree, partial: LabeledTree, path: Uint8Array[]): HashTree {
  if (partial instanceof Uint8Array) {
    if (w.kind === 'leaf' && equalBytes(w.value, partial)) return w
    if (w.kind === 'pruned' && equalBytes(w.digest, leafDigest(partial))) return { kind: 'leaf', value: partial }
    throw new InconsistentTreeError('partial tree leaf does not match the witness', path)
  }
  const children = sortedChildren(partial, path)
  if (w.kind === 'pruned') {
    // The witness hides the whole subtree: the partial tree must be all of it.
    const full = buildHashTree(partial)
    if (!equalBytes(reconstruct(full), w.digest)) throw new InconsistentTreeError('partial subtree does not match its pruned digest', path)
    return full
  }
  if (children.length === 0) {
    if (isAllEmpty(w)) return w
    throw new InconsistentTreeError('partial tree has an empty subtree where the witness has content', path)
  }
  if (w.kind === 'leaf') throw new InconsistentTreeError('partial tree has a subtree where the witness has a leaf', path)

  const wanted = new Map<string, LabeledTree>()
  for (const [label, child] of children) wanted.set(toHex(label), child)
  const walk = (n: HashTree): HashTree => {
    if (n.kind === 'fork') {
      const left = walk(n.left)
      const right = walk(n.right)
      return left === n.left && right === n.right ? n : { kind: 'fork', left, right }
    }
    if (n.kind !== 'labeled') return n
    const key = toHex(n.label)
    const child = wanted.get(key)
    if (child === undefined) return n
    wanted.delete(key)
    path.push(n.label)
    const subtree = merge(n.subtree, child, path)
    path.pop()
    return { kind: 'labeled', label: n.label, subtree }
  }
  const merged = walk(w)
  if (wanted.size > 0) {
    const missing = children.find(([label]) => wanted.has(toHex(label)))![0]
    throw new InconsistentTreeError('partial tree has a label the witness does not place', [...path, missing])
  }
  return merged
}

/** The digest a merged tree would have, without building it (for callers that only check a root). */
export function recomputeDigest (witnessTree: HashTree, partial: LabeledTree): Uint8Array {
  return reconstruct(mergeWitness(witnessTree, partial))
}
