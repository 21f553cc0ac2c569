import { compareBytes, equalBytes } from '@icnet/types'
import { labelBytes, type HashTree, type LookupResult, type Path, type SubtreeLookupResult } from './types.js'

/**
 * The nodes of one labeled level, left to right: forks are opened, `Empty`
 * dropped (the specification's `flatten_forks`). Iterative, so an adversarial
 * fork chain cannot overflow the stack.
 */
export function flattenForks (tree: HashTree): HashTree[] {
  const out: HashTree[] = []
  const stack: HashTree[] = [tree]
  while (stack.length > 0) {
    const node = stack.pop()!
    if (node.kind === 'fork') {
      stack.push(node.right, node.left)
    } else if (node.kind !== 'empty') {
      out.push(node)
    }
  }
  return out
}

type LabelSearch =
  | { status: 'found', subtree: HashTree }
  | { status: 'absent' }
  | { status: 'unknown' }
  | { status: 'error' }

/**
 * The specification's `find_label` over a flattened level:
 *   found     if some `Labeled l t` has the label;
 *   absent    if two neighbouring labeled nodes enclose it, or the first labeled
 *             node is greater, or the last is smaller, or the level is empty;
 *   error     if the level is a single leaf (the path runs through a value);
 *   unknown   otherwise (a pruned node could hide it).
 */
export function findLabel (label: Uint8Array, level: readonly HashTree[]): LabelSearch {
  if (level.length === 0) return { status: 'absent' }
  for (const node of level) {
    if (node.kind === 'labeled' && equalBytes(node.label, label)) return { status: 'found', subtree: node.subtree }
  }
  const first = level[0]!
  if (first.kind === 'labeled' && compareBytes(label, first.label) < 0) return { status: 'absent' }
  const last = level[level.length - 1]!
  if (last.kind === 'labeled' && compareBytes(last.label, label) < 0) return { status: 'absent' }
  for (let i = 0; i + 1 < level.length; i++) {
    const a = level[i]!
    const b = level[i + 1]!
    if (a.kind === 'labeled' && b.kind === 'labeled' &&
      compareBytes(a.label, label) < 0 && compareBytes(label, b.label) < 0) return { status: 'absent' }
  }
  if (level.length === 1 && first.kind === 'leaf') return { status: 'error' }
  return { status: 'unknown' }
}

/**
 * Looks a path up in a (possibly pruned) tree, exactly as the interface
 * specification's `lookup_path`: `found` only for a leaf, `absent` only when
 * the tree proves the path cannot exist, `unknown` when a pruned node could hide
 * it, `error` when the path ends at an inner node or runs through a leaf.
 */
export function lookupPath (tree: HashTree, path: Path): LookupResult {
  let node = tree
  for (const label of path) {
    const found = findLabel(labelBytes(label), flattenForks(node))
    if (found.status !== 'found') return found
    node = found.subtree
  }
  switch (node.kind) {
    case 'leaf': return { status: 'found', value: node.value }
    case 'empty': return { status: 'absent' }
    case 'pruned': return { status: 'unknown' }
    default: return { status: 'error' }
  }
}

/** Like `lookupPath`, but returns whatever node is at the path (a leaf, a labeled level, a pruned digest). */
export function lookupSubtree (tree: HashTree, path: Path): SubtreeLookupResult {
  let node = tree
  for (const label of path) {
    const found = findLabel(labelBytes(label), flattenForks(node))
    if (found.status === 'found') {
      node = found.subtree
    } else {
      // A path through a leaf has no subtree: for a subtree lookup that is absence.
      return found.status === 'error' ? { status: 'absent' } : found
    }
  }
  return { status: 'found', subtree: node }
}

/** Every revealed leaf of the tree with its full path, in tree order. */
export function listPaths (tree: HashTree): Array<{ path: Uint8Array[], value: Uint8Array }> {
  const out: Array<{ path: Uint8Array[], value: Uint8Array }> = []
  const stack: Array<{ node: HashTree, path: Uint8Array[] }> = [{ node: tree, path: [] }]
  while (stack.length > 0) {
    const { node, path } = stack.pop()!
    if (node.kind === 'leaf') {
      out.push({ path, value: node.value })
      continue
    }
    // Children in reverse so that the stack yields them left to right.
    const level = flattenForks(node)
    for (let i = level.length - 1; i >= 0; i--) {
      const child = level[i]!
      if (child.kind === 'labeled') stack.push({ node: child.subtree, path: [...path, child.label] })
    }
  }
  return out
}
