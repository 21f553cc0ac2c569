import fc from 'fast-check'
import { toHex } from '@icnet/types'
import type { LabeledTree } from '../src/index.js'

/** Short labels over a tiny alphabet, so random lookups often fall between existing labels. */
export const arbLabel = fc.uint8Array({ minLength: 0, maxLength: 3, max: 3 })

export const arbValue = fc.uint8Array({ maxLength: 8 })

/** A labeled tree of bounded depth and fan-out: leaves are byte strings, inner nodes label arrays. */
export const arbLabeledTree: fc.Arbitrary<LabeledTree> = fc.letrec<{ tree: LabeledTree, subtree: LabeledTree }>(tie => ({
  tree: fc.oneof({ depthSize: 'small', withCrossShrink: true }, arbValue, tie('subtree')),
  subtree: fc.uniqueArray(fc.tuple(arbLabel, tie('tree')), { maxLength: 9, selector: ([label]) => toHex(label) }) as fc.Arbitrary<LabeledTree>
})).subtree

export const arbPath = fc.array(arbLabel, { minLength: 0, maxLength: 4 })

/** Paths to every node (leaves and inner levels) of a labeled tree. */
export function allPaths (tree: LabeledTree, prefix: Uint8Array[] = []): Uint8Array[][] {
  if (tree instanceof Uint8Array) return [prefix]
  const out: Uint8Array[][] = prefix.length > 0 ? [prefix] : []
  for (const [label, child] of tree as Array<[Uint8Array, LabeledTree]>) out.push(...allPaths(child, [...prefix, label]))
  return out
}
