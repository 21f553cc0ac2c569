import { Tagged, encode } from 'cborg'
import { IncrementalHashTree, type HashTreeSnapshot, type Path } from '@icnet/hashtree'
import { encodeCanisterRanges, encodeLeb128 } from '@icnet/crypto'
import { encodeStreamMessage, u64be, type CanisterId, type Principal, type RegistryView, type StreamMessage, type SubnetId } from '@icnet/types'
import { encodeStreamHeader, type Stream } from '@icnet/xnet-stream'
import type { CanisterState } from './canister.js'
import { nodeQueryKey } from './node-keys.js'
import type { IngressStatus } from './types.js'

/**
 * The canonical state tree (docs/protocols/canonical-state.md), kept in an
 * `IncrementalHashTree`. Message routing records what changed during a round and
 * calls the `set…`/`sync…` methods once at its end, so the cost of the new root
 * follows the round's changes, not the size of the state.
 */
const utf8 = new TextEncoder()
const SELF_DESCRIBE_TAG = 55799

/** Canonical CBOR bytes of each stream message, computed once (the tree leaf, the slice payload, the checkpoint). */
const messageBytes = new WeakMap<StreamMessage, Uint8Array>()
/** The message behind a leaf we wrote, so that serving a slice needs no decoding. */
const messageOfBytes = new WeakMap<Uint8Array, StreamMessage>()

export function encodeMessageOnce (m: StreamMessage): Uint8Array {
  let b = messageBytes.get(m)
  if (b === undefined) {
    b = encodeStreamMessage(m)
    messageBytes.set(m, b)
    messageOfBytes.set(b, m)
  }
  return b
}

export function knownMessage (bytes: Uint8Array): StreamMessage | undefined { return messageOfBytes.get(bytes) }

export function encodeControllers (controllers: readonly Principal[]): Uint8Array {
  return encode(new Tagged(SELF_DESCRIBE_TAG, controllers.map(c => c.toUint8Array())))
}

export function requestStatusLabel (status: IngressStatus['status']): Uint8Array { return utf8.encode(status) }

export class StateTree {
  readonly tree = new IncrementalHashTree()
  /** The message index range of each stream that is in the tree, by subnet text. */
  private readonly streamRanges = new Map<string, { begin: number, end: number }>()

  constructor () {
    // Always present (possibly empty), so a tree rebuilt from a checkpoint has the same shape as a live one.
    for (const top of ['canister', 'request_status', 'streams', 'subnet']) this.tree.ensureSubtree([top])
  }

  rootHash (): Uint8Array { return this.tree.rootHash() }
  snapshot (): HashTreeSnapshot { return this.tree.snapshot() }

  setTime (timeNs: bigint): void { this.tree.set(['time'], encodeLeb128(timeNs)) }

  setMetadata (height: number, prevStateHash: Uint8Array): void {
    this.tree.set(['metadata', 'height'], encodeLeb128(height))
    this.tree.set(['metadata', 'prev_state_hash'], prevStateHash)
  }

  setRequestStatus (requestId: Uint8Array, state: IngressStatus | undefined): void {
    const base: Path = ['request_status', requestId]
    this.tree.delete(base)
    if (state === undefined) return
    this.tree.set([...base, 'status'], requestStatusLabel(state.status))
    if (state.status === 'replied') this.tree.set([...base, 'reply'], state.reply)
    if (state.status === 'rejected') {
      this.tree.set([...base, 'reject_code'], encodeLeb128(state.code))
      this.tree.set([...base, 'reject_message'], utf8.encode(state.message))
    }
  }

  setCanister (c: CanisterState): void {
    const base: Path = ['canister', c.id.toUint8Array()]
    this.tree.set([...base, 'certified_data'], c.certifiedData)
    this.tree.set([...base, 'controllers'], encodeControllers(c.controllers))
    // A canister without code (created, not installed) has no module_hash, as on the IC.
    if (c.moduleHash.length > 0) this.tree.set([...base, 'module_hash'], c.moduleHash)
    else this.tree.delete([...base, 'module_hash'])
  }

  deleteCanister (id: CanisterId): void { this.tree.delete(['canister', id.toUint8Array()]) }

  /** `/subnet/<id>/{public_key, canister_ranges, node/<node>/public_key}` for every subnet in the registry. */
  setSubnets (registry: RegistryView): void {
    this.tree.delete(['subnet'])
    this.tree.ensureSubtree(['subnet'])
    const table = registry.routingTable()
    for (const id of registry.subnetIds()) {
      const rec = registry.getSubnet(id)
      if (rec === undefined) continue
      const base: Path = ['subnet', id.toUint8Array()]
      this.tree.set([...base, 'public_key'], rec.publicKeyDer)
      this.tree.set([...base, 'canister_ranges'], encodeCanisterRanges(table.rangesOf(id).map(r => [r.start, r.end] as const)))
      for (const node of rec.nodes) {
        const k = nodeQueryKey(node)
        if (k !== undefined) this.tree.set([...base, 'node', k.label, 'public_key'], k.publicKeyDer)
      }
    }
  }

  /**
   * Brings `/streams/<subnet>` up to date with `stream`: the header, new messages
   * appended, collected ones deleted. Cost: the messages that came and went.
   */
  syncStream (subnet: SubnetId, stream: Stream): void {
    const key = subnet.toText()
    const label = subnet.toUint8Array()
    const base: Path = ['streams', label]
    this.tree.set([...base, 'header'], encodeStreamHeader(stream.header()))
    const had = this.streamRanges.get(key) ?? { begin: stream.begin, end: stream.begin }
    for (let i = had.begin; i < Math.min(had.end, stream.begin); i++) this.tree.delete([...base, 'messages', u64be(i)])
    for (let i = Math.max(had.end, stream.begin); i < stream.end; i++) {
      this.tree.set([...base, 'messages', u64be(i)], encodeMessageOnce(stream.get(i)!))
    }
    // An empty stream has no `messages` level at all (not an empty one): one canonical shape.
    if (stream.length === 0) this.tree.delete([...base, 'messages'])
    this.streamRanges.set(key, { begin: stream.begin, end: stream.end })
  }
}
