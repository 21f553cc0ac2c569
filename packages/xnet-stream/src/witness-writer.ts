import { equalBytes } from '@icnet/types'
import type { HashTree } from '@icnet/hashtree'
import { HEADER_LABEL, MESSAGES_LABEL, STREAMS_LABEL, labelIndex, type DigestCache } from './slice-tree.js'

/**
 * Writes the CBOR of `sliceWitness(state, subnet, from, to)` straight into bytes:
 * the same tree (byte for byte: `encodeHashTree(sliceWitness(...))`, tested),
 * without building it. Subtrees of the messages level that hold no index in
 * `[from, to)` are written as one pruned digest without being descended into,
 * using the index range of each subtree (its edge labels); so a witness costs
 * the messages it covers plus a logarithmic border, not the stream's length.
 */
export class SliceWitnessWriter {
  private readonly digests: DigestCache
  private buf = new Uint8Array(64 * 1024)
  private pos = 0

  constructor (digests: DigestCache) { this.digests = digests }

  write (state: HashTree, subnet: Uint8Array, from: number, to: number): Uint8Array {
    this.pos = 0
    const topLevel = (n: HashTree & { kind: 'labeled' }): boolean => equalBytes(n.label, STREAMS_LABEL)
    const streamsLevel = (n: HashTree & { kind: 'labeled' }): boolean => equalBytes(n.label, subnet)
    this.level(state, topLevel, top => {
      this.labeledHead(top.label)
      this.level(top.subtree, streamsLevel, s => {
        this.labeledHead(s.label)
        this.level(s.subtree, c => equalBytes(c.label, HEADER_LABEL) || (to > from && equalBytes(c.label, MESSAGES_LABEL)), c => {
          this.labeledHead(c.label)
          if (equalBytes(c.label, HEADER_LABEL)) this.pruned(this.digests.of(c.subtree))
          else this.messages(c.subtree, from, to)
        })
      })
    })
    return this.buf.slice(0, this.pos)
  }

  /**
   * One labeled level: forks that lead to a kept label are written as forks, the
   * rest as pruned digests. `keeps` says whether a labeled node is kept.
   */
  private level (n: HashTree, keeps: (n: HashTree & { kind: 'labeled' }) => boolean, writeKept: (n: HashTree & { kind: 'labeled' }) => void): void {
    const contains = (x: HashTree): boolean => x.kind === 'fork' ? contains(x.left) || contains(x.right) : x.kind === 'labeled' && keeps(x)
    const walk = (x: HashTree): void => {
      if (!contains(x)) { this.prune(x); return }
      if (x.kind === 'fork') { this.forkHead(); walk(x.left); walk(x.right) } else writeKept(x as HashTree & { kind: 'labeled' })
    }
    walk(n)
  }

  private messages (n: HashTree, from: number, to: number): void {
    if (n.kind === 'fork') {
      const lo = edgeIndex(n, 'left')
      const hi = edgeIndex(n, 'right')
      if (lo >= 0 && hi >= 0) {
        if (hi < from || lo >= to) { this.prune(n); return }
        // Labels are sorted: a subtree whose both ends are in range lies wholly in it.
        if (lo >= from && hi < to) { this.covered(n); return }
      } else if (!this.covers(n, from, to)) { this.prune(n); return }
      this.forkHead()
      this.messages(n.left, from, to)
      this.messages(n.right, from, to)
      return
    }
    if (n.kind === 'labeled') {
      const i = labelIndex(n.label)
      if (i >= from && i < to) { this.message(n); return }
    }
    this.prune(n)
  }

  /**
   * One message in range: its labeled node over its pruned leaf digest, written in
   * one go (this runs once per message of every slice): `[2, label, [4, digest]]`.
   */
  private message (n: HashTree & { kind: 'labeled' }): void {
    const label = n.label
    const digest = this.digests.of(n.subtree)
    if (label.length >= 24 || digest.length !== 32) { this.labeledHead(label); this.pruned(digest); return }
    this.reserve(7 + label.length + 32)
    const buf = this.buf
    let p = this.pos
    buf[p++] = 0x83
    buf[p++] = 0x02
    buf[p++] = 0x40 | label.length
    for (let k = 0; k < label.length; k++) buf[p++] = label[k]!
    buf[p++] = 0x82
    buf[p++] = 0x04
    buf[p++] = 0x58
    buf[p++] = 32
    buf.set(digest, p)
    this.pos = p + 32
  }

  /** A subtree of the messages level lying wholly in the range: every message in it as its labeled leaf digest. */
  private covered (n: HashTree): void {
    if (n.kind === 'fork') { this.forkHead(); this.covered(n.left); this.covered(n.right); return }
    if (n.kind === 'labeled') { this.message(n); return }
    this.prune(n)
  }

  /**
   * Whether any message index under `n` is in `[from, to)`. A subtree's lowest and
   * highest index are those of its leftmost and rightmost labeled nodes (labels
   * are sorted), found by walking down its edges: a few pointer hops, nothing
   * cached. Only a subtree that straddles a bound is looked into further.
   */
  private covers (n: HashTree, from: number, to: number): boolean {
    if (n.kind === 'labeled') { const i = labelIndex(n.label); return i >= from && i < to }
    if (n.kind !== 'fork') return false
    const lo = edgeIndex(n, 'left')
    const hi = edgeIndex(n, 'right')
    if (lo < 0 || hi < 0) return this.covers(n.left, from, to) || this.covers(n.right, from, to)
    if (hi < from || lo >= to) return false
    if (lo >= from || hi < to) return true // an end of the subtree is in range
    return this.covers(n.left, from, to) || this.covers(n.right, from, to)
  }

  private prune (n: HashTree): void {
    if (n.kind === 'empty') { this.reserve(2); this.buf[this.pos++] = 0x81; this.buf[this.pos++] = 0x00; return }
    this.pruned(this.digests.of(n))
  }

  private pruned (digest: Uint8Array): void {
    this.reserve(4 + digest.length)
    this.buf[this.pos++] = 0x82
    this.buf[this.pos++] = 0x04
    this.bytesHead(digest.length)
    this.buf.set(digest, this.pos)
    this.pos += digest.length
  }

  private forkHead (): void {
    this.reserve(2)
    this.buf[this.pos++] = 0x83
    this.buf[this.pos++] = 0x01
  }

  private labeledHead (label: Uint8Array): void {
    this.reserve(7 + label.length)
    this.buf[this.pos++] = 0x83
    this.buf[this.pos++] = 0x02
    this.bytesHead(label.length)
    this.buf.set(label, this.pos)
    this.pos += label.length
  }

  /** A CBOR byte-string head in its shortest form (labels and digests are short). */
  private bytesHead (n: number): void {
    this.reserve(5)
    if (n < 24) this.buf[this.pos++] = 0x40 | n
    else if (n < 256) { this.buf[this.pos++] = 0x58; this.buf[this.pos++] = n } else if (n < 65536) { this.buf[this.pos++] = 0x59; this.buf[this.pos++] = n >> 8; this.buf[this.pos++] = n & 0xff } else {
      this.buf[this.pos++] = 0x5a
      new DataView(this.buf.buffer, this.buf.byteOffset).setUint32(this.pos, n)
      this.pos += 4
    }
  }

  private reserve (n: number): void {
    if (this.pos + n <= this.buf.length) return
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n))
    next.set(this.buf.subarray(0, this.pos))
    this.buf = next
  }
}

/** The index of the labeled node at the left or right edge of a fork subtree, or -1 if the edge ends elsewhere. */
function edgeIndex (n: HashTree, side: 'left' | 'right'): number {
  let x = n
  while (x.kind === 'fork') x = side === 'left' ? x.left : x.right
  return x.kind === 'labeled' ? labelIndex(x.label) : -1
}
