import { compareBytes, equalBytes } from '@icnet/types'
import { InconsistentTreeError } from './errors.js'
import { empty, fork, labelBytes, type HashTree, type Label, type LabeledSubtree, type LabeledTree } from './types.js'

/**
 * Joins the nodes of one labeled level into forks the way the IC does
 * (`into_hash_tree` in the replica's tree_hash crate): pair neighbours left to
 * right, carry an odd last node up unchanged, repeat until one node is left.
 * The result is a run of perfect binary trees, largest first, so the shape
 * depends only on the number of nodes. No nodes gives `Empty`.
 */
export function forkTreeOf (nodes: readonly HashTree[]): HashTree {
  if (nodes.length === 0) return empty()
  let level = nodes.slice()
  while (level.length > 1) {
    const next: HashTree[] = []
    for (let i = 0; i < level.length; i += 2) {
      next.push(i + 1 < level.length ? fork(level[i]!, level[i + 1]!) : level[i]!)
    }
    level = next
  }
  return level[0]!
}

/** The children of a labeled subtree, with byte labels, sorted by label; duplicate labels are refused. */
export function sortedChildren (subtree: LabeledSubtree, path: readonly Uint8Array[] = []): Array<[Uint8Array, LabeledTree]> {
  const entries: Array<[Uint8Array, LabeledTree]> = []
  const add = (label: Label, child: LabeledTree): void => { entries.push([labelBytes(label), child]) }
  if (subtree instanceof Map) {
    for (const [label, child] of subtree) add(label, child)
  } else if (Array.isArray(subtree)) {
    for (const [label, child] of subtree as ReadonlyArray<readonly [Label, LabeledTree]>) add(label, child)
  } else {
    for (const [label, child] of Object.entries(subtree as Record<string, LabeledTree>)) add(label, child)
  }
  entries.sort((a, b) => compareBytes(a[0], b[0]))
  for (let i = 1; i < entries.length; i++) {
    if (equalBytes(entries[i - 1]![0], entries[i]![0])) {
      throw new InconsistentTreeError('duplicate label in a labeled subtree', [...path, entries[i]![0]])
    }
  }
  return entries
}

/**
 * The hash tree of a labeled tree, in the IC's canonical shape: a leaf becomes
 * `Leaf`, a subtree becomes the forks (see `forkTreeOf`) of its `Labeled`
 * children sorted by label bytes, an empty subtree becomes `Empty`.
 */
export function buildHashTree (tree: LabeledTree): HashTree {
  return build(tree, [])
}

function build (tree: LabeledTree, path: Uint8Array[]): HashTree {
  if (tree instanceof Uint8Array) return { kind: 'leaf', value: tree }
  const children = sortedChildren(tree, path)
  return forkTreeOf(children.map(([label, child]) => {
    path.push(label)
    const subtree = build(child, path)
    path.pop()
    return { kind: 'labeled', label, subtree }
  }))
}
