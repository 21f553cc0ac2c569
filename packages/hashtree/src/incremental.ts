import { compareBytes } from '@icnet/types'
import { forkTreeOf } from './build.js'
import { emptyDigest, forkDigest, labeledDigest, leafDigest } from './digest.js'
import { InconsistentTreeError } from './errors.js'
import { withoutValues, type WitnessOptions } from './witness.js'
import { labelBytes, type HashTree, type LookupResult, type Path } from './types.js'

/**
 * A mutable labeled tree that keeps its digests, so that the root hash after a
 * change costs hashes along the changed path only.
 *
 * Each labeled level keeps its children sorted by label, and the digests of
 * the IC's fork shape for that level (see `forkTreeOf`): `levels[0][i]` is the
 * labeled digest of child `i`, `levels[h][j]` the fork digest of the aligned
 * block of `2^h` children starting at `j * 2^h`. The IC's shape is exactly a run
 * of such blocks, largest first, so the level's digest folds at most log2(n)
 * block digests.
 *
 * Costs, with d the depth and n the size of the levels on the path:
 * - replacing a value, or any change whose label sorts last in its level
 *   (appends, such as stream message indices): O(d · log n) hashes;
 * - inserting or deleting a label in the middle of a level moves every later
 *   child to a new position, so the fork digests to its right are recomputed:
 *   O(n − i) fork hashes at that level (children's own digests are kept).
 *   That cost follows from the IC's canonical shape and is paid once per level
 *   per `rootHash()`, however many changes were made in between.
 *
 * Digests are computed lazily, by `rootHash()` (and `witness()`/`snapshot()`).
 */
export class IncrementalHashTree {
  #root: Branch
  /** Nodes owned by this token may be changed in place; others belong to a snapshot and are copied first. */
  #owner: object = {}

  constructor () {
    this.#root = new Branch(this.#owner)
  }

  /** Sets the leaf at `path` (creating inner levels as needed). A leaf or subtree already there is replaced. */
  set (path: Path, value: Uint8Array): void {
    if (path.length === 0) throw new InconsistentTreeError('the root of a tree is a labeled level, not a leaf')
    const labels = path.map(labelBytes)
    this.#walk(labels, labels.length - 1, true)
    const parent = this.#mutablePath(labels, labels.length - 1, true)!
    parent.put(labels[labels.length - 1]!, { kind: 'leaf', value, digest: undefined })
  }

  /** Makes sure `path` is a labeled level (an empty subtree if new) and returns nothing. */
  ensureSubtree (path: Path): void {
    const labels = path.map(labelBytes)
    this.#walk(labels, labels.length, true)
    this.#mutablePath(labels, labels.length, true)
  }

  /** Removes the leaf or subtree at `path`; returns whether there was one. Inner levels left empty stay (as empty subtrees). */
  delete (path: Path): boolean {
    if (path.length === 0) throw new InconsistentTreeError('cannot delete the root')
    const labels = path.map(labelBytes)
    const parent = this.#walk(labels, labels.length - 1, false)
    if (parent === undefined || parent.indexOf(labels[labels.length - 1]!) < 0) return false
    this.#mutablePath(labels, labels.length - 1, false)!.remove(labels[labels.length - 1]!)
    return true
  }

  /** The value at `path`, as `lookupPath` on the full tree would answer. */
  lookup (path: Path): LookupResult { return lookupIn(this.#root, path) }

  /** The root digest; recomputes only what changed since the last call. */
  rootHash (): Uint8Array { return this.#root.digestOf() }

  /** A witness for `paths`, built from the kept digests (no rehashing of pruned parts). */
  witness (paths: readonly Path[], options: WitnessOptions = {}): HashTree {
    this.#root.digestOf()
    return witnessOf(this.#root, paths.map(p => p.map(labelBytes)), options.omitValues === true)
  }

  /** The whole tree, in the IC's canonical shape (equal to `buildHashTree` of the same content). */
  toHashTree (): HashTree { return fullTreeOf(this.#root) }

  /**
   * A frozen view of the current content. Costs one `rootHash()`: the tree's
   * nodes are shared, and this tree copies a level before it next changes it
   * (copy on write), so the snapshot never sees later changes.
   */
  snapshot (): HashTreeSnapshot {
    this.#root.digestOf()
    const snap = new HashTreeSnapshot(this.#root)
    this.#owner = {}
    return snap
  }

  /**
   * Checks that the labels `labels[0..upTo)` lead through levels (not leaves)
   * and returns the level they reach, or undefined if a label is missing.
   * When creating, a leaf in the way throws (before anything changes);
   * otherwise it means there is nothing at the path.
   */
  #walk (labels: Uint8Array[], upTo: number, creating: boolean): Branch | undefined {
    let node: Branch = this.#root
    for (let k = 0; k < upTo; k++) {
      const i = node.indexOf(labels[k]!)
      if (i < 0) return creating ? node : undefined
      const child = node.children[i]!
      if (child.kind === 'leaf') {
        if (!creating) return undefined
        throw new InconsistentTreeError('path runs through a leaf', labels.slice(0, k + 1))
      }
      node = child
    }
    return node
  }

  /** The level at `labels[0..upTo)`, made writable along the way (copied if shared, created if missing), marking the path changed. */
  #mutablePath (labels: Uint8Array[], upTo: number, creating: boolean): Branch | undefined {
    if (this.#root.owner !== this.#owner) this.#root = this.#root.copy(this.#owner)
    let node = this.#root
    for (let k = 0; k < upTo; k++) {
      let i = node.indexOf(labels[k]!)
      if (i < 0) {
        if (!creating) return undefined
        i = node.put(labels[k]!, new Branch(this.#owner))
      }
      let child = node.children[i] as Branch
      if (child.owner !== this.#owner) {
        child = child.copy(this.#owner)
        node.children[i] = child
      }
      node.changed(i)
      node = child
    }
    return node
  }
}

/** A frozen version of an `IncrementalHashTree` (see `snapshot()`). */
export class HashTreeSnapshot {
  readonly #root: Branch
  readonly #rootHash: Uint8Array

  constructor (root: Branch) {
    this.#root = root
    this.#rootHash = root.digestOf()
  }

  rootHash (): Uint8Array { return this.#rootHash }
  lookup (path: Path): LookupResult { return lookupIn(this.#root, path) }
  witness (paths: readonly Path[], options: WitnessOptions = {}): HashTree {
    return witnessOf(this.#root, paths.map(p => p.map(labelBytes)), options.omitValues === true)
  }
  toHashTree (): HashTree { return fullTreeOf(this.#root) }
}

interface Leaf { readonly kind: 'leaf', readonly value: Uint8Array, digest: Uint8Array | undefined }
type Node = Leaf | Branch

function nodeDigest (node: Node): Uint8Array {
  if (node.kind === 'branch') return node.digestOf()
  node.digest ??= leafDigest(node.value)
  return node.digest
}

/** One labeled level with its cached digests (see `IncrementalHashTree`). */
class Branch {
  readonly kind = 'branch'
  owner: object
  labels: Uint8Array[] = []
  children: Node[] = []
  /** Block digests per height; `levels[0][i]` undefined means child i must be rehashed. */
  levels: Array<Array<Uint8Array | undefined>> = [[]]
  /** Children whose digest changed in place (index below `shiftFrom`). */
  dirty = new Set<number>()
  /** Every child at or after this index moved or changed. */
  shiftFrom = Number.POSITIVE_INFINITY
  digest: Uint8Array | undefined = emptyDigest()

  constructor (owner: object) { this.owner = owner }

  copy (owner: object): Branch {
    const b = new Branch(owner)
    b.labels = this.labels.slice()
    b.children = this.children.slice()
    b.levels = this.levels.map(l => l.slice())
    b.dirty = new Set(this.dirty)
    b.shiftFrom = this.shiftFrom
    b.digest = this.digest
    return b
  }

  /** Index of `label`, or -(insertion point) - 1. */
  indexOf (label: Uint8Array): number {
    let lo = 0
    let hi = this.labels.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      const c = compareBytes(this.labels[mid]!, label)
      if (c === 0) return mid
      if (c < 0) lo = mid + 1
      else hi = mid
    }
    return -lo - 1
  }

  /** Child `i` changed in place. */
  changed (i: number): void {
    this.levels[0]![i] = undefined
    if (i < this.shiftFrom) this.dirty.add(i)
    this.digest = undefined
  }

  /** Inserts or replaces the child at `label`; returns its index. */
  put (label: Uint8Array, child: Node): number {
    const i = this.indexOf(label)
    if (i >= 0) {
      this.children[i] = child
      this.changed(i)
      return i
    }
    const at = -i - 1
    this.labels.splice(at, 0, label)
    this.children.splice(at, 0, child)
    this.levels[0]!.splice(at, 0, undefined)
    this.#shifted(at)
    return at
  }

  remove (label: Uint8Array): void {
    const at = this.indexOf(label)
    if (at < 0) return
    this.labels.splice(at, 1)
    this.children.splice(at, 1)
    this.levels[0]!.splice(at, 1)
    this.#shifted(at)
  }

  #shifted (at: number): void {
    if (at < this.shiftFrom) this.shiftFrom = at
    for (const d of this.dirty) if (d >= at) this.dirty.delete(d)
    this.digest = undefined
  }

  /** The digest of this level, recomputing what changed since the last call. */
  digestOf (): Uint8Array {
    if (this.digest !== undefined) return this.digest
    const n = this.children.length
    const base = this.levels[0]!
    const shiftFrom = Math.min(this.shiftFrom, n)
    for (const i of this.dirty) base[i] = labeledDigest(this.labels[i]!, nodeDigest(this.children[i]!))
    for (let i = shiftFrom; i < n; i++) {
      base[i] ??= labeledDigest(this.labels[i]!, nodeDigest(this.children[i]!))
    }
    // Blocks above: those over a dirty child, and all from the first moved one on.
    let points = [...this.dirty]
    let from = shiftFrom
    let h = 1
    for (; (1 << h) <= n; h++) {
      const below = this.levels[h - 1]!
      const length = Math.floor(n / (1 << h))
      if (this.levels[h] === undefined) this.levels[h] = []
      const level = this.levels[h]!
      level.length = length
      from >>= 1
      points = [...new Set(points.map(p => p >> 1))]
      for (const j of points) if (j < from && j < length) level[j] = forkDigest(below[2 * j]!, below[2 * j + 1]!)
      for (let j = from; j < length; j++) level[j] = forkDigest(below[2 * j]!, below[2 * j + 1]!)
    }
    this.levels.length = h
    this.dirty.clear()
    this.shiftFrom = Number.POSITIVE_INFINITY
    this.digest = n === 0 ? emptyDigest() : this.rangeDigest(0, n)
    return this.digest
  }

  /** Digest of the IC fork shape over children [offset, offset + count): a perfect block, or the largest one and the rest. */
  rangeDigest (offset: number, count: number): Uint8Array {
    const h = Math.floor(Math.log2(count))
    const block = this.levels[h]![offset >> h]!
    if (count === 1 << h) return block
    return forkDigest(block, this.rangeDigest(offset + (1 << h), count - (1 << h)))
  }
}

function lookupIn (root: Branch, path: Path): LookupResult {
  let node: Node = root
  for (const label of path) {
    if (node.kind === 'leaf') return { status: 'error' }
    const i: number = node.indexOf(labelBytes(label))
    if (i < 0) return { status: 'absent' }
    node = node.children[i]!
  }
  if (node.kind === 'leaf') return { status: 'found', value: node.value }
  return node.children.length === 0 ? { status: 'absent' } : { status: 'error' }
}

function fullTreeOf (node: Node): HashTree {
  if (node.kind === 'leaf') return { kind: 'leaf', value: node.value }
  return forkTreeOf(node.children.map((child, i) => ({ kind: 'labeled', label: node.labels[i]!, subtree: fullTreeOf(child) })))
}

type Keep = 'boundary' | 'reveal'

/** A witness from the kept digests: only revealed paths and their neighbours are visited. */
function witnessOf (node: Node, requests: Uint8Array[][], omitValues: boolean): HashTree {
  if (requests.some(r => r.length === 0)) return omitValues ? withoutValues(fullTreeOf(node)) : fullTreeOf(node)
  if (node.kind === 'leaf') return fullTreeOf(node)
  const n = node.children.length
  if (n === 0) return { kind: 'empty' }
  const keep = new Map<number, Keep>()
  const rests = new Map<number, Uint8Array[][]>()
  for (const r of requests) {
    const i = node.indexOf(r[0]!)
    if (i >= 0) {
      keep.set(i, 'reveal')
      rests.set(i, [...(rests.get(i) ?? []), r.slice(1)])
    } else {
      const at = -i - 1
      if (at > 0 && !keep.has(at - 1)) keep.set(at - 1, 'boundary')
      if (at < n && !keep.has(at)) keep.set(at, 'boundary')
    }
  }
  const kept = [...keep.keys()].sort((a, b) => a - b)
  const anyKept = (from: number, to: number): boolean => {
    let lo = 0
    let hi = kept.length
    while (lo < hi) { const mid = (lo + hi) >>> 1; if (kept[mid]! < from) lo = mid + 1; else hi = mid }
    return lo < kept.length && kept[lo]! < to
  }
  const item = (i: number): HashTree => {
    const child = node.children[i]!
    let subtree: HashTree
    if (keep.get(i) === 'reveal') subtree = witnessOf(child, rests.get(i)!, omitValues)
    else if (child.kind === 'branch' && child.children.length === 0) subtree = { kind: 'empty' }
    else subtree = { kind: 'pruned', digest: nodeDigest(child) }
    return { kind: 'labeled', label: node.labels[i]!, subtree }
  }
  const block = (offset: number, size: number): HashTree => {
    if (!anyKept(offset, offset + size)) {
      const h = Math.log2(size)
      return { kind: 'pruned', digest: node.levels[h]![offset >> h]! }
    }
    if (size === 1) return item(offset)
    return { kind: 'fork', left: block(offset, size / 2), right: block(offset + size / 2, size / 2) }
  }
  const range = (offset: number, count: number): HashTree => {
    const size = 1 << Math.floor(Math.log2(count))
    if (size === count) return block(offset, size)
    if (!anyKept(offset, offset + count)) return { kind: 'pruned', digest: node.rangeDigest(offset, count) }
    return { kind: 'fork', left: block(offset, size), right: range(offset + size, count - size) }
  }
  return range(0, n)
}
