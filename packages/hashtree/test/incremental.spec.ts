import { strict as assert } from 'node:assert'
import fc from 'fast-check'
import { toHex, u64be } from '@icnet/types'
import {
  buildHashTree, encodeHashTree, hashOperationCount, IncrementalHashTree, lookupPath, reconstruct, witness,
  type LabeledTree
} from '../src/index.js'
import { arbLabel, arbValue } from './arbitraries.js'

/** The reference: a plain nested map, turned into a hash tree by `buildHashTree`. */
type Model = Map<string, { label: Uint8Array, child: Model | Uint8Array }>

function modelSet (model: Model, path: Uint8Array[], value: Uint8Array): boolean {
  let node = model
  for (let i = 0; i < path.length - 1; i++) {
    const key = toHex(path[i]!)
    const next = node.get(key)
    if (next?.child instanceof Uint8Array) return false
  if (next === undefined) break
    node = next.child
  }
  node = model
  for (let i = 0; i < path.length - 1; i++) {
    const key = toHex(path[i]!)
    let next = node.get(key)
    if (next === undefined) { next = { label: path[i]!, child: new Map() }; node.set(key, next) }
    node = next.child as Model
  }
  node.set(toHex(path[path.length - 1]!), { label: path[path.length - 1]!, child: value })
  return true
}

function modelDelete (model: Model, path: Uint8Array[]): boolean {
  let node = model
  for (let i = 0; i < path.length - 1; i++) {
    const next = node.get(toHex(path[i]!))
    if (next === undefined || next.child instanceof Uint8Array) return false
    node = next.child
  }
  return node.delete(toHex(path[path.length - 1]!))
}

function toLabeled (model: Model): LabeledTree {
  return [...model.values()].map(({ label, child }) => [label, child instanceof Uint8Array ? child : toLabeled(child)] as [Uint8Array, LabeledTree])
}

const arbOpPath = fc.array(arbLabel, { minLength: 1, maxLength: 3 })
const arbOp = fc.oneof(
  fc.record({ op: fc.constant('set' as const), path: arbOpPath, value: arbValue }),
  fc.record({ op: fc.constant('delete' as const), path: arbOpPath })
)

describe('IncrementalHashTree', () => {
  it('has the same root as buildHashTree of the same content after any sequence of changes', () => {
    fc.assert(fc.property(fc.array(arbOp, { maxLength: 40 }), fc.array(fc.nat({ max: 40 }), { maxLength: 5 }), (ops, checkpoints) => {
      const tree = new IncrementalHashTree()
      const model: Model = new Map()
      ops.forEach((o, i) => {
        if (o.op === 'set') {
          const ok = modelSet(model, o.path, o.value)
          if (ok) tree.set(o.path, o.value)
          else assert.throws(() => tree.set(o.path, o.value), { name: 'InconsistentTreeError' })
        } else {
          assert.equal(tree.delete(o.path), modelDelete(model, o.path))
        }
        // Take the root now and then, so later changes start from cached digests.
        if (checkpoints.includes(i)) assert.deepEqual(tree.rootHash(), reconstruct(buildHashTree(toLabeled(model))))
      })
      const batch = buildHashTree(toLabeled(model))
      assert.deepEqual(tree.rootHash(), reconstruct(batch))
      assert.deepEqual(tree.toHashTree(), batch)
    }), { numRuns: 400 })
  })

  it('lookups and witnesses agree with the generic functions on the built tree', () => {
    fc.assert(fc.property(fc.array(arbOp, { maxLength: 30 }), fc.array(arbOpPath, { maxLength: 5 }), fc.boolean(), (ops, paths, omitValues) => {
      const tree = new IncrementalHashTree()
      for (const o of ops) {
        try {
          if (o.op === 'set') tree.set(o.path, o.value)
          else tree.delete(o.path)
        } catch {}
      }
      const full = tree.toHashTree()
      for (const p of paths) assert.deepEqual(tree.lookup(p), lookupPath(full, p))
      const w = tree.witness(paths, { omitValues })
      assert.deepEqual(encodeHashTree(w), encodeHashTree(witness(full, paths, { omitValues })))
    }), { numRuns: 300 })
  })

  it('a snapshot keeps its content and root while the tree changes', () => {
    fc.assert(fc.property(fc.array(arbOp, { maxLength: 20 }), fc.array(arbOp, { minLength: 1, maxLength: 20 }), (before, after) => {
      const tree = new IncrementalHashTree()
      const apply = (ops: typeof before): void => {
        for (const o of ops) {
          try { if (o.op === 'set') tree.set(o.path, o.value); else tree.delete(o.path) } catch {}
        }
      }
      apply(before)
      const snap = tree.snapshot()
      const frozen = encodeHashTree(tree.toHashTree())
      const frozenRoot = tree.rootHash()
      apply(after)
      tree.rootHash()
      assert.deepEqual(snap.rootHash(), frozenRoot)
      assert.deepEqual(encodeHashTree(snap.toHashTree()), frozen)
      assert.deepEqual(reconstruct(snap.toHashTree()), frozenRoot)
      // A second snapshot on the changed tree is independent of the first.
      const snap2 = tree.snapshot()
      assert.deepEqual(snap2.rootHash(), reconstruct(tree.toHashTree()))
    }), { numRuns: 200 })
  })

  it('updating one leaf costs hashes along its path only, not the size of the tree', () => {
    const tree = new IncrementalHashTree()
    const canisters = 64
    const perCanister = 256
    for (let c = 0; c < canisters; c++) {
      for (let m = 0; m < perCanister; m++) tree.set(['streams', u64be(c), 'messages', u64be(m)], u64be(m))
    }
    tree.rootHash()
    const before = hashOperationCount()
    tree.set(['streams', u64be(17), 'messages', u64be(100)], Uint8Array.of(1, 2, 3))
    const root = tree.rootHash()
    const cost = hashOperationCount() - before
    // Four labeled levels of at most 256 children: a leaf, and per level one labeled
    // digest plus at most log2(256) = 8 forks and 8 folds.
    assert.ok(cost <= 1 + 4 * (1 + 8 + 8), `one update took ${cost} hashes`)
    assert.deepEqual(root, reconstruct(tree.toHashTree()))

    // Appending a message (the largest label of its level) is as cheap.
    const beforeAppend = hashOperationCount()
    tree.set(['streams', u64be(17), 'messages', u64be(perCanister)], Uint8Array.of(9))
    tree.rootHash()
    const appendCost = hashOperationCount() - beforeAppend
    assert.ok(appendCost <= 1 + 4 * (1 + 9 + 9), `one append took ${appendCost} hashes`)
  })

  it('refuses a path through a leaf and changes nothing', () => {
    const tree = new IncrementalHashTree()
    tree.set(['a'], Uint8Array.of(1))
    const root = tree.rootHash()
    assert.throws(() => tree.set(['a', 'b'], Uint8Array.of(2)), { name: 'InconsistentTreeError' })
    assert.throws(() => tree.set([], Uint8Array.of(2)), { name: 'InconsistentTreeError' })
    assert.deepEqual(tree.rootHash(), root)
    assert.equal(tree.delete(['a', 'b']), false)
    assert.equal(tree.lookup(['a', 'b']).status, 'error')
  })

  it('keeps emptied levels as empty subtrees, as a labeled tree does', () => {
    const tree = new IncrementalHashTree()
    tree.set(['a', 'b'], Uint8Array.of(1))
    tree.delete(['a', 'b'])
    assert.deepEqual(tree.rootHash(), reconstruct(buildHashTree({ a: {} })))
    tree.ensureSubtree(['c', 'd'])
    assert.deepEqual(tree.rootHash(), reconstruct(buildHashTree({ a: {}, c: { d: {} } })))
    assert.equal(tree.lookup(['a']).status, 'absent')
  })
})
