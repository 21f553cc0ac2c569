import { strict as assert } from 'node:assert'
import fc from 'fast-check'
import { equalBytes, InvalidEncodingError } from '@icnet/types'
import {
  buildHashTree, decodeHashTree, encodeHashTree, labelBytes, listPaths, lookupPath, mergeWitness, prune, reconstruct, witness,
  type HashTree, type LabeledTree
} from '../src/index.js'
import { allPaths, arbLabeledTree, arbPath } from './arbitraries.js'

/** A tree with some paths, some of them present in it and some random. */
const arbTreeAndPaths = arbLabeledTree.chain(tree => {
  const present = allPaths(tree)
  const pick = present.length > 0 ? fc.constantFrom(...present) : arbPath
  return fc.tuple(fc.constant(tree), fc.array(fc.oneof(pick, arbPath), { maxLength: 6 }), fc.array(fc.oneof(pick, arbPath), { maxLength: 6 }))
})

describe('hash tree properties', () => {
  it('a string label is its UTF-8 encoding, the first time and every time after (short labels are cached)', () => {
    fc.assert(fc.property(fc.array(fc.oneof(fc.constantFrom('streams', 'messages', 'header'), fc.string({ maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 8 })), { maxLength: 20 }), labels => {
      for (const label of [...labels, ...labels]) assert.deepEqual(labelBytes(label), new TextEncoder().encode(label))
    }))
  })

  it('a witness of any set of paths reconstructs the full root, and lookups through it agree', () => {
    fc.assert(fc.property(arbTreeAndPaths, ([labeledTree, paths, probes]) => {
      const full = buildHashTree(labeledTree)
      const w = witness(full, paths)
      assert.ok(equalBytes(reconstruct(w), reconstruct(full)))
      for (const path of paths) {
        // Requested paths: exactly the same answer as on the full tree.
        assert.deepEqual(lookupPath(w, path), lookupPath(full, path))
      }
      for (const path of probes) {
        // Any other path: the witness may not know, but never contradicts the full tree.
        const onWitness = lookupPath(w, path)
        if (onWitness.status !== 'unknown') assert.deepEqual(onWitness, lookupPath(full, path))
      }
    }), { numRuns: 300 })
  })

  it('a witness of a witness keeps the answers for the paths of the second', () => {
    fc.assert(fc.property(arbTreeAndPaths, ([labeledTree, paths, more]) => {
      const full = buildHashTree(labeledTree)
      const w1 = witness(full, [...paths, ...more])
      const w2 = witness(w1, more)
      assert.ok(equalBytes(reconstruct(w2), reconstruct(full)))
      for (const path of more) assert.deepEqual(lookupPath(w2, path), lookupPath(full, path))
    }), { numRuns: 200 })
  })

  it('pruning keeps the root and hides the pruned paths', () => {
    fc.assert(fc.property(arbTreeAndPaths, ([labeledTree, paths]) => {
      const full = buildHashTree(labeledTree)
      const p = prune(full, paths)
      assert.ok(equalBytes(reconstruct(p), reconstruct(full)))
      for (const path of paths) {
        if (path.length === 0) continue
        assert.notEqual(lookupPath(p, path).status, 'found')
      }
    }), { numRuns: 200 })
  })

  it('merging a witness with the partial data it was cut for gives the same root and the data', () => {
    fc.assert(fc.property(arbTreeAndPaths, ([labeledTree, paths]) => {
      const full = buildHashTree(labeledTree)
      // Partial data: the leaves under the requested paths, as a labeled tree.
      const w = witness(full, paths)
      const data = listPaths(w)
      // No data at all, or a bare leaf at the root: nothing for a partial labeled tree to carry.
      if (data.length === 0 || data.some(d => d.path.length === 0)) return
      const partial = toLabeledTree(data)
      // The witness without the values is what travels next to the data.
      const bare = witness(full, paths, { omitValues: true })
      const merged = mergeWitness(bare, partial)
      assert.ok(equalBytes(reconstruct(merged), reconstruct(full)))
      for (const { path, value } of data) assert.deepEqual(lookupPath(merged, path), { status: 'found', value })
    }), { numRuns: 200 })
  })

  it('merging refuses data that differs from what the witness commits to', () => {
    fc.assert(fc.property(arbTreeAndPaths, ([labeledTree, paths]) => {
      const full = buildHashTree(labeledTree)
      const data = listPaths(witness(full, paths)).filter(d => d.path.length > 0)
      fc.pre(data.length > 0)
      const bare = witness(full, paths, { omitValues: true })
      const tampered = data.map((d, i) => i === 0 ? { path: d.path, value: Uint8Array.of(...d.value, 0xff) } : d)
      assert.throws(() => mergeWitness(bare, toLabeledTree(tampered)), { name: 'InconsistentTreeError' })
    }), { numRuns: 100 })
  })

  it('CBOR encode/decode round-trips any tree, pruned or not', () => {
    fc.assert(fc.property(arbTreeAndPaths, ([labeledTree, paths]) => {
      for (const tree of [buildHashTree(labeledTree), witness(buildHashTree(labeledTree), paths)]) {
        const bytes = encodeHashTree(tree)
        const back = decodeHashTree(bytes)
        assert.deepEqual(back, tree)
        assert.deepEqual(encodeHashTree(back), bytes)
      }
    }), { numRuns: 200 })
  })

  it('the decoder throws nothing but InvalidEncodingError on random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), bytes => {
      try {
        decodeHashTree(bytes)
      } catch (err) {
        assert.ok(err instanceof InvalidEncodingError, `unexpected ${String(err)}`)
      }
    }), { numRuns: 2000 })
  })

  it('the decoder throws nothing but InvalidEncodingError on mutated valid encodings', () => {
    fc.assert(fc.property(arbLabeledTree, fc.nat(), fc.integer({ min: 1, max: 255 }), (labeledTree, at, xor) => {
      const bytes = encodeHashTree(buildHashTree(labeledTree)).slice()
      bytes[at % bytes.length]! ^= xor
      try {
        const tree: HashTree = decodeHashTree(bytes)
        assert.ok(tree.kind.length > 0)
      } catch (err) {
        assert.ok(err instanceof InvalidEncodingError, `unexpected ${String(err)}`)
      }
    }), { numRuns: 1000 })
  })
})

function toLabeledTree (entries: Array<{ path: Uint8Array[], value: Uint8Array }>): LabeledTree {
  type Mutable = Map<string, { label: Uint8Array, child: Mutable | Uint8Array }>
  const root: Mutable = new Map()
  for (const { path, value } of entries) {
    let node = root
    path.forEach((label, i) => {
      const key = Buffer.from(label).toString('hex')
      if (i === path.length - 1) { node.set(key, { label, child: value }); return }
      let next = node.get(key)
      if (next === undefined) { next = { label, child: new Map() }; node.set(key, next) }
      node = next.child as Mutable
    })
  }
  const convert = (m: Mutable): LabeledTree => [...m.values()].map(({ label, child }) => [label, child instanceof Uint8Array ? child : convert(child)] as [Uint8Array, LabeledTree])
  return convert(root)
}
