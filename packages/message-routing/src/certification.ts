import { createCertificate, type Delegation } from '@icnet/crypto'
import type { HashTreeSnapshot, Path } from '@icnet/hashtree'
import { decodeStreamMessage, u64be, type SubnetId } from '@icnet/types'
import {
  decodeStreamHeader, encodeCertifiedSlice, takePrefix,
  type CertifiedStreamSlice, type CertifiedStreamStore, type EncodeSliceResult, type SliceMessage, type SliceQuery
} from '@icnet/xnet-stream'
import { knownMessage } from './state-tree.js'

/** An executed state frozen for certification: its tree (copy-on-write snapshot) and root. */
export interface StateSnapshot {
  height: number
  tree: HashTreeSnapshot
  root: Uint8Array
}

export interface CertifiedState extends StateSnapshot {
  /** The subnet's combined threshold signature over `dsep("ic-state-root") ‖ root`. */
  signature: Uint8Array
}

/**
 * A `CertifiedStreamStore` over the latest certified state: slices are cut from
 * that state's tree only, so nothing uncertified ever leaves the node.
 */
export class SnapshotStreamStore implements CertifiedStreamStore {
  private readonly latest: () => CertifiedState | undefined

  constructor (latest: () => CertifiedState | undefined) { this.latest = latest }

  encodeSlice (destination: SubnetId, query: SliceQuery): EncodeSliceResult {
    const s = this.slice(destination, query)
    if ('code' in s) return { ok: false, code: s.code }
    return { ok: true, bytes: encodeCertifiedSlice(s), height: s.certification.height, messages: s.messages.length }
  }

  /** The slice itself (not encoded), for in-process hosts and tests. */
  slice (destination: SubnetId, query: SliceQuery): CertifiedStreamSlice | { code: 'NO_STREAM' | 'BAD_BEGIN' } {
    const state = this.latest()
    if (state === undefined) return { code: 'NO_STREAM' }
    const subnet = destination.toUint8Array()
    const found = state.tree.lookup(['streams', subnet, 'header'])
    if (found.status !== 'found') return { code: 'NO_STREAM' }
    const headerBytes = found.value
    const header = decodeStreamHeader(headerBytes)
    const witnessBegin = query.witnessBegin ?? query.msgBegin
    if (!Number.isSafeInteger(query.msgBegin) || query.msgBegin < header.begin || query.msgBegin > header.end ||
      !Number.isSafeInteger(witnessBegin) || witnessBegin < header.begin || witnessBegin > query.msgBegin) {
      return { code: 'BAD_BEGIN' }
    }
    let to = header.end
    if (query.msgLimit !== undefined) to = Math.min(to, query.msgBegin + Math.max(0, query.msgLimit))
    const messages: SliceMessage[] = []
    let bytes = 0
    for (let i = query.msgBegin; i < to; i++) {
      const leaf = state.tree.lookup(['streams', subnet, 'messages', u64be(i)])
      if (leaf.status !== 'found') return { code: 'BAD_BEGIN' }
      messages.push({ index: i, bytes: leaf.value, message: knownMessage(leaf.value) ?? decodeStreamMessage(leaf.value) })
      bytes += leaf.value.length
      // Stop near the byte limit before building the proof; takePrefix makes it exact.
      if (query.byteLimit !== undefined && bytes > query.byteLimit && messages.length > 1) { to = i + 1; break }
    }
    // One path per revealed message: everything else under /streams/<subnet>/messages comes
    // pruned from the digests the incremental tree keeps, so a slice costs a hash per message
    // it reveals, not one per message in the stream (thousands when a backlog builds up).
    const paths: Path[] = [['streams', subnet, 'header']]
    if (messages.length > 0) for (let i = witnessBegin; i < to; i++) paths.push(['streams', subnet, 'messages', u64be(i)])
    const proof = state.tree.witness(paths, { omitValues: true })
    const slice: CertifiedStreamSlice = {
      subnet,
      header,
      headerBytes,
      messages,
      merkleProof: proof,
      certification: { height: state.height, signature: state.signature }
    }
    if (query.byteLimit === undefined) return slice
    return takePrefix(slice, { byteLimit: query.byteLimit, atLeastOne: true }).prefix ?? slice
  }
}

/**
 * A certificate for `read_state`: the certified tree with everything but `paths`
 * (and `/time`, which every certificate reveals) pruned, and the subnet's
 * signature; with a delegation when this is not the root subnet.
 */
export function readStateCertificate (state: CertifiedState, paths: readonly Path[], delegation?: Delegation): Uint8Array {
  const tree = state.tree.witness([['time'], ...paths])
  return createCertificate({ tree, signature: state.signature, ...(delegation === undefined ? {} : { delegation }) })
}
