import { compareBytes, encodeStreamMessage, equalBytes, type StreamMessage } from '@icnet/types'
import { forkTreeOf, labeled, leaf, type HashTree, type LabeledNode } from '@icnet/hashtree'
import { encodeStreamHeader } from './header-codec.js'
import type { SliceMessage } from './slice.js'
import { messageFieldLength } from './slice-codec.js'
import { HEADER_LABEL, MESSAGES_LABEL, STREAMS_LABEL, indexLabel } from './slice-tree.js'
import type { Stream, StreamHeader } from './stream.js'

const utf8 = new TextEncoder()
const METADATA_LABEL = utf8.encode('metadata')
const HEIGHT_LABEL = utf8.encode('height')

/** One stream as certified at a height: what slices are cut from. */
export interface CertifiedStream {
  header: StreamHeader
  headerBytes: Uint8Array
  messages: SliceMessage[]
  /** Where each message's wire field starts, counted from the first message's. */
  offsets: Float64Array
}

interface StreamEntry {
  destination: Uint8Array
  /** Index of `messages[0]` (the stream's `begin` at the last certification). */
  begin: number
  messages: SliceMessage[]
  /** `/messages/<index>` nodes, one per message (the same objects from height to height). */
  nodes: LabeledNode[]
  /** The stream's `/streams/<subnet>` node at the last certification, reused while nothing changed. */
  node: LabeledNode | undefined
  certified: CertifiedStream | undefined
}

const encodedMessages = new WeakMap<StreamMessage, Uint8Array>()

function encodeOnce (m: StreamMessage): Uint8Array {
  let b = encodedMessages.get(m)
  if (b === undefined) { b = encodeStreamMessage(m); encodedMessages.set(m, b) }
  return b
}

/**
 * The state tree `/streams/<subnet>/{header,messages/<index>}` + `/metadata/height`
 * of a store's streams, kept from one certification to the next so that a new
 * height hashes only what changed. A stream only appends at its end and collects
 * at its front, so a message's leaf and labeled nodes (and their digests: the
 * bulk of the work, a SHA-256 over each message) are made once, when it is first
 * certified, and reused at every later height. What a height re-hashes is its new
 * messages, the changed headers, and the forks of each changed stream's messages
 * level (the IC's fork shape pairs children by position from the level's first,
 * so collecting at the front moves every pair: n − 1 fork hashes of 64 bytes),
 * plus the few forks above. A stream that did not change keeps its whole subtree.
 *
 * The result is the tree `buildHashTree` makes of the same content, node for
 * node (tested against it), so roots, witnesses and slices are byte-identical.
 * Reused nodes are the same objects, so a `DigestCache` that hashed them at an
 * earlier height answers their digests without hashing again.
 */
export class CertifiedStreamTree {
  private readonly entries = new Map<string, StreamEntry>()

  /**
   * The tree of `streams` (by key: the destination's text) at `height`, and
   * each stream as certified. Entries of streams no longer given are dropped.
   */
  build (height: number, streams: ReadonlyMap<string, { destination: Uint8Array, stream: Stream }>): { tree: HashTree, streams: Map<string, CertifiedStream> } {
    const certified = new Map<string, CertifiedStream>()
    const nodes: LabeledNode[] = []
    for (const [key, { destination, stream }] of streams) {
      let e = this.entries.get(key)
      if (e === undefined) {
        e = { destination, begin: stream.begin, messages: [], nodes: [], node: undefined, certified: undefined }
        this.entries.set(key, e)
      }
      this.update(e, stream)
      certified.set(key, e.certified!)
      nodes.push(e.node!)
    }
    for (const key of this.entries.keys()) if (!streams.has(key)) this.entries.delete(key)
    nodes.sort((a, b) => compareBytes(a.label, b.label))
    const metadata = labeled(METADATA_LABEL, labeled(HEIGHT_LABEL, leaf(indexLabel(height))))
    const top = labeled(STREAMS_LABEL, forkTreeOf(nodes))
    // Labels sorted: 'metadata' < 'streams'.
    return { tree: forkTreeOf([metadata, top]), streams: certified }
  }

  /** Brings `e` up to `stream`'s current content, re-hashing only what is new. */
  private update (e: StreamEntry, stream: Stream): void {
    const header = stream.header()
    const headerBytes = encodeStreamHeader(header)
    // Messages still held from the last certification (a stream collects at its front and
    // appends at its end); the identity check keeps this right whatever the host did.
    const skip = header.begin - e.begin
    let kept = 0
    if (skip >= 0) {
      const upTo = Math.min(e.messages.length - skip, header.end - header.begin)
      while (kept < upTo && stream.get(header.begin + kept) === e.messages[skip + kept]!.message) kept++
    }
    const unchanged = skip === 0 && kept === e.messages.length && e.certified !== undefined &&
      header.end === e.begin + kept && equalBytes(headerBytes, e.certified.headerBytes)
    if (unchanged) return
    const messages = skip === 0 && kept === e.messages.length ? e.messages : e.messages.slice(Math.max(0, skip), Math.max(0, skip) + kept)
    const nodes = messages === e.messages ? e.nodes : e.nodes.slice(Math.max(0, skip), Math.max(0, skip) + kept)
    for (let index = header.begin + kept; index < header.end; index++) {
      const message = stream.get(index)!
      const bytes = encodeOnce(message)
      messages.push({ index, bytes, message })
      nodes.push(labeled(indexLabel(index), leaf(bytes)))
    }
    e.begin = header.begin
    e.messages = messages
    e.nodes = nodes
    const children: LabeledNode[] = [labeled(HEADER_LABEL, leaf(headerBytes))]
    if (nodes.length > 0) children.push(labeled(MESSAGES_LABEL, forkTreeOf(nodes)))
    e.node = labeled(e.destination, forkTreeOf(children))
    // The certified view is a snapshot: `messages` grows in place at the next height.
    const snapshot = messages.slice()
    e.certified = { header, headerBytes, messages: snapshot, offsets: fieldOffsets(snapshot) }
  }
}

function fieldOffsets (messages: readonly SliceMessage[]): Float64Array {
  const offsets = new Float64Array(messages.length + 1)
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!
    offsets[i + 1] = offsets[i]! + messageFieldLength(m.index, m.bytes.length)
  }
  return offsets
}
