import {
  SYSTEM_SUBNET_STREAM_MSG_LIMIT, compareBytes, principalEquals, principalText,
  type CanisterId, type RegistryView, type StreamMessage, type SubnetId
} from '@icnet/types'
import { Stream, type StreamLimits } from '@icnet/xnet-stream'
import type { CanisterState } from './canister.js'
import { IngressHistory } from './ingress-history.js'
import type { MessageRoutingLimits } from './types.js'

export interface StreamEntry { subnet: SubnetId, stream: Stream }

/**
 * The replicated state of a subnet: everything that must be identical on every
 * node after the same batches. Iteration is always in byte order of ids (never
 * Map insertion order), so a state loaded from a checkpoint behaves exactly like
 * one that was never written out.
 */
export class ReplicatedState {
  readonly subnetId: SubnetId
  height = 0
  timeNs = 0n
  /** Root of the state tree at `height` (the previous state's hash for the next round). */
  stateRoot: Uint8Array = new Uint8Array(32)
  /** Root at `height - 1`, certified inside this state as /metadata/prev_state_hash. */
  prevStateRoot: Uint8Array = new Uint8Array(32)
  readonly canisters = new Map<string, CanisterState>()
  readonly streams = new Map<string, StreamEntry>()
  /** Local messages that found no room during the round; inducted first in the next one. */
  loopback: StreamMessage[] = []
  readonly ingress: IngressHistory

  // Changed during the current round (for the state tree).
  readonly dirtyStreams = new Set<string>()
  readonly dirtyCanisters = new Set<string>()

  constructor (subnetId: SubnetId, limits: MessageRoutingLimits) {
    this.subnetId = subnetId
    this.ingress = new IngressHistory(limits.maxIngressHistory)
  }

  canister (id: CanisterId): CanisterState | undefined { return this.canisters.get(id.toHex()) }

  sortedCanisters (): CanisterState[] {
    return [...this.canisters.values()].sort((a, b) => compareBytes(a.id.toUint8Array(), b.id.toUint8Array()))
  }

  sortedStreams (): StreamEntry[] {
    return [...this.streams.values()].sort((a, b) => compareBytes(a.subnet.toUint8Array(), b.subnet.toUint8Array()))
  }

  isLocal (subnet: SubnetId): boolean { return principalEquals(subnet, this.subnetId) }

  /** The stream towards `subnet`, created on first use with the limits for that subnet's type. */
  stream (subnet: SubnetId, registry: RegistryView, limits: MessageRoutingLimits): Stream {
    const key = principalText(subnet)
    let e = this.streams.get(key)
    if (e === undefined) {
      e = { subnet, stream: new Stream({ limits: streamLimits(subnet, registry, limits) }) }
      this.streams.set(key, e)
    }
    this.dirtyStreams.add(key)
    return e.stream
  }
}

export function streamLimits (subnet: SubnetId, registry: RegistryView, limits: MessageRoutingLimits): StreamLimits {
  const system = registry.getSubnet(subnet)?.type === 'system'
  return {
    maxMessages: system ? Math.min(SYSTEM_SUBNET_STREAM_MSG_LIMIT, limits.streamMaxMessages) : limits.streamMaxMessages,
    maxBytes: limits.streamMaxBytes
  }
}
