import type { Libp2p } from '@libp2p/interface'
import { connectAll, createTestNode, stopAll } from '@icnet/test-utils'
import type { RegistryView, SubnetId } from '@icnet/types'
import { StaticRegistryView } from '../src/static-registry.js'
import { RejectReason, principalEquals } from '@icnet/types'
import { XNetPayloadBuilder } from '../src/payload-builder.js'
import { CertifiedSlicePool } from '../src/slice-pool.js'
import { xnetStream, type XNetStreamInit, type XNetStreamService } from '../src/service.js'
import type { TestSubnet } from './fixtures.js'
import { makeSubnet, seqOf } from './fixtures.js'

export type XNetNode = Libp2p<{ xnet: XNetStreamService }>

/**
 * A minimal host for one node of a subnet: a pool the service fills, a payload
 * builder, and `round()`, which builds and validates a payload, inducts it
 * (accepting, or rejecting every `rejectEvery`-th message), garbage-collects our
 * streams from the signals it carries, and certifies the new state.
 */
export class TestHost {
  readonly pool: CertifiedSlicePool
  readonly builder: XNetPayloadBuilder
  readonly received = new Map<string, number[]>()
  readonly rejectedBack: number[] = []
  node!: XNetNode

  constructor (readonly subnet: TestSubnet, readonly registry: () => RegistryView, readonly rejectEvery = 0) {
    this.pool = new CertifiedSlicePool({ ourSubnet: subnet.id, registry })
    this.builder = new XNetPayloadBuilder({ ourSubnet: subnet.id, registry, pool: this.pool })
  }

  async start (extra: Partial<XNetStreamInit> = {}): Promise<XNetNode> {
    this.node = await createTestNode({
      services: {
        xnet: xnetStream({
          subnetId: this.subnet.id,
          registry: this.registry,
          store: this.subnet.store,
          pool: this.pool,
          expectedIndices: (source) => this.expected(source),
          pollIntervalMs: 25,
          ...extra
        })
      }
    }) as unknown as XNetNode
    return this.node
  }

  expected (source: SubnetId): { message: number, signal: number } {
    const s = this.subnet.store.stream(source)
    return { message: s.signalsEnd, signal: s.begin }
  }

  round (): number {
    const ctx = {
      ownStream: (remote: SubnetId) => {
        const s = this.subnet.store.stream(remote)
        return { begin: s.begin, end: s.end, signalsEnd: s.signalsEnd }
      },
      pastPayloads: [],
      byteLimit: 4 * 1024 * 1024
    }
    const { payload } = this.builder.buildPayload(ctx)
    this.builder.validatePayload(payload, ctx)
    let inducted = 0
    for (const { subnet: source, slice } of payload.slices) {
      const reverse = this.subnet.store.stream(source)
      const got = this.received.get(source.toText()) ?? []
      for (const m of slice.messages) {
        if (this.rejectEvery > 0 && m.index % this.rejectEvery === this.rejectEvery - 1) {
          reverse.pushRejectSignal(RejectReason.QueueFull)
        } else {
          reverse.pushAcceptSignal()
          got.push(seqOf(m.message))
        }
        inducted++
      }
      this.received.set(source.toText(), got)
      for (const r of reverse.discardMessagesBefore(slice.header.signalsEnd, slice.header.rejectSignals)) this.rejectedBack.push(seqOf(r.message))
      reverse.discardSignalsBefore(slice.header.begin)
    }
    this.subnet.store.certify()
    return inducted
  }

  others (): SubnetId[] {
    return this.registry().subnetIds().filter(s => !principalEquals(s, this.subnet.id))
  }
}

/**
 * Two started hosts, A and B, each the one node of its own subnet, in one registry
 * and connected; no background polling, so only adverts and explicit pulls move slices.
 * `receiverInit` adds to B's service options.
 */
export async function startConnectedPair (receiverInit: Partial<XNetStreamInit> = {}): Promise<{ ha: TestHost, hb: TestHost, stop: () => Promise<void> }> {
  let registry!: RegistryView
  const ha = new TestHost(makeSubnet(), () => registry)
  const hb = new TestHost(makeSubnet(), () => registry)
  await Promise.all([ha.start({ backgroundRefill: false }), hb.start({ backgroundRefill: false, ...receiverInit })])
  registry = new StaticRegistryView({
    subnets: [ha, hb].map(h => h.subnet.record([h.node.peerId.toString()])),
    nodes: [ha, hb].map(h => ({ id: h.node.peerId.toString(), subnetId: h.subnet.id, p2pAddresses: h.node.getMultiaddrs().map(String), blsPublicKey: new Uint8Array(48) }))
  })
  await connectAll([ha.node, hb.node])
  return { ha, hb, stop: async () => { await stopAll([ha.node, hb.node]) } }
}

