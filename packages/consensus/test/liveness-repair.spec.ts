import assert from 'node:assert/strict'
import { InMemoryMetrics, type NodeId } from '@icnet/types'
import { Consensus, InMemoryBus, type ArtifactHandler, type ArtifactTransport, type CatchUpHandler } from '../src/index.js'
import { assertSameChains, dealSubnet, startConsumer, startNode, waitFor, type SubnetKeys, type TestNode } from './helpers.js'

/**
 * An in-process network that can be split into groups: artifacts and
 * catch-up requests reach only the members of the sender's group, as a
 * network partition (or a firewall rule) would do.
 */
class PartitionBus {
  private readonly members = new Map<NodeId, { artifact?: ArtifactHandler, catchUp?: CatchUpHandler }>()
  private groupOf = new Map<NodeId, number>()

  transport (id: NodeId): ArtifactTransport {
    const me: { artifact?: ArtifactHandler, catchUp?: CatchUpHandler } = {}
    this.members.set(id, me)
    const reachable = (): Array<[NodeId, typeof me]> => [...this.members].filter(([peer]) => peer !== id && this.sameGroup(id, peer))
    return {
      broadcast: (kind, bytes) => {
        for (const [peer, m] of reachable()) {
          setImmediate(() => { if (this.sameGroup(id, peer)) m.artifact?.(kind, bytes, id) })
        }
      },
      onArtifact: (handler) => { me.artifact = handler },
      requestCatchUp: async (request) => {
        const peers = reachable().filter(([, m]) => m.catchUp != null)
        if (peers.length === 0) return undefined
        return await peers[Math.floor(Math.random() * peers.length)]![1].catchUp!(request)
      },
      onCatchUpRequest: (handler) => { me.catchUp = handler }
    }
  }

  split (groups: NodeId[][]): void {
    this.groupOf = new Map(groups.flatMap((g, i) => g.map(id => [id, i] as [NodeId, number])))
  }

  heal (): void { this.groupOf.clear() }

  private sameGroup (a: NodeId, b: NodeId): boolean {
    return (this.groupOf.get(a) ?? -1) === (this.groupOf.get(b) ?? -1)
  }
}

const stateRoot = (h: number): Uint8Array => Uint8Array.from({ length: 32 }, (_, i) => (h * 13 + i) & 0xff)
const height = (n: TestNode): number => n.consensus.finalizedHeight
const sleep = async (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

async function stopAll (nodes: TestNode[]): Promise<void> {
  for (const n of nodes) await n.consensus.stop()
  await Promise.all(nodes.map(async n => n.consumer.catch(() => {})))
}

describe('consensus liveness repair', function () {
  this.timeout(120_000)

  it('a subnet split in two halves without a quorum resumes after the heal (each half re-sends the block it backed)', async () => {
    const keys = dealSubnet(4)
    const bus = new PartitionBus()
    const nodes: TestNode[] = []
    for (let i = 0; i < 4; i++) nodes.push(await startNode(keys, i, bus.transport(`node-${i}`)))
    try {
      await waitFor(() => nodes.every(n => height(n) >= 10), '10 heights on every node')
      bus.split([['node-0', 'node-1'], ['node-2', 'node-3']])
      // Long enough for every node to see the stuck round and back its own half's block
      // (the liveness period is 1 s at this unit delay; re-sends start after two).
      await sleep(3_000)
      const during = Math.max(...nodes.map(height))
      await sleep(1_500)
      assert.equal(Math.max(...nodes.map(height)), during, 'no height finalized without a quorum')
      bus.heal()
      await waitFor(() => nodes.every(n => height(n) >= during + 10), '10 more heights on every node after the heal', 60_000)
      assert.ok(assertSameChains(nodes) >= during + 10)
    } finally {
      await stopAll(nodes)
    }
  })

  it('members that become reachable after the first shares went out get them again at once, not after a stall', async () => {
    const keys = dealSubnet(4)
    const bus = new InMemoryBus()
    const transports = [0, 1, 2, 3].map(i => bus.transport(`node-${i}`))
    // Two of four unreachable at the start, as when processes come up before their connections:
    // the shares for height 1 that nodes broadcast now reach at most one peer, and no quorum forms.
    transports[2]!.setOnline(false)
    transports[3]!.setOnline(false)
    const metrics = new InMemoryMetrics()
    // Δ = 500 ms makes the liveness period 10 s: a stall re-send would come only after 20 s.
    const unitDelayMs = 500
    const nodes: TestNode[] = []
    for (let i = 0; i < 4; i++) nodes.push(await startNode(keys, i, transports[i]!, i === 0 ? { metrics } : {}, unitDelayMs))
    try {
      await sleep(300)
      assert.ok(nodes.every(n => height(n) === 0), 'nothing finalized without a quorum')
      transports[2]!.setOnline(true)
      transports[3]!.setOnline(true)
      await waitFor(() => nodes.every(n => height(n) >= 2), 'height 2 on every node, well before a stall re-send', 8_000)
      assert.ok(metrics.get('icnet_consensus_resends_total', { reason: 'peer-joined' }) >= 1, 're-sent because members joined')
      assert.equal(metrics.get('icnet_consensus_resends_total', { reason: 'stall' }), 0, 'no stall was needed')
      assertSameChains(nodes)
    } finally {
      await stopAll(nodes)
    }
  })

  it('a restarted node far behind catches up through consensus in consecutive catch-ups, not on the liveness timer', async () => {
    const keys = dealSubnet(4)
    const bus = new InMemoryBus()
    const nodes: TestNode[] = []
    for (let i = 0; i < 3; i++) nodes.push(await startNode(keys, i, bus.transport(`node-${i}`)))
    try {
      // More than two catch-up answers' worth (64 blocks each) behind.
      await waitFor(() => nodes.every(n => height(n) >= 150), '150 heights on the three running nodes', 90_000)
      const metrics = new InMemoryMetrics()
      // Like a restarted process before its first connection: its catch-up at start finds nobody to ask.
      const transport = bus.transport('node-3')
      transport.setOnline(false)
      const late = await startNode(keys, 3, transport, { metrics })
      nodes.push(late)
      await sleep(100)
      assert.equal(height(late), 0)
      transport.setOnline(true)
      const online = Math.max(...nodes.slice(0, 3).map(height))
      // The shares of peers far ahead start the catch-up at once, and it goes on while it brings blocks:
      // the node is at the subnet's height while the subnet is still within a few rounds of where it was.
      // Waiting for the liveness timer instead (three periods without progress, then one answer per period)
      // would let the subnet run tens of heights further first.
      await waitFor(() => height(late) >= online, `node 3 at height ${online}`, 60_000)
      const subnetThen = Math.max(...nodes.slice(0, 3).map(height))
      assert.ok(subnetThen < online + 20, `node 3 caught up to ${online} only when the subnet was at ${subnetThen}`)
      assert.ok(metrics.get('icnet_consensus_catch_ups_total', { result: 'progress' }) >= 3, 'several catch-ups in a row')
      await waitFor(() => height(late) >= subnetThen + 5, 'node 3 following the subnet')
      assertSameChains(nodes)
    } finally {
      await stopAll(nodes)
    }
  })

  it('a node executing behind the subnet certifies the heights whose shares went by while it was away', async () => {
    const keys: SubnetKeys = dealSubnet(4)
    const bus = new InMemoryBus()
    const certified = Array.from({ length: 4 }, () => new Set<number>())
    const nodes: TestNode[] = []
    const startHostedNode = async (i: number, transport: ArtifactTransport): Promise<TestNode> => {
      const consensus = new Consensus({
        committee: keys.committee,
        signer: keys.signers[i]!,
        params: { unitDelayMs: 30, maxBlockPayloadBytes: 1024 * 1024, checkpointInterval: 1000 },
        transport,
        name: `n${i}`,
        onCertification: c => { certified[i]!.add(Number(c.height)) }
      })
      await consensus.start()
      const chain = new Map<number, string>()
      const batches: TestNode['batches'] = []
      // The host executes each batch and submits its state root.
      const consumer = startConsumer(consensus, chain, batches, async b => { await consensus.submitStateRoot(b.height, stateRoot(b.height)) })
      return { consensus, chain, batches, consumer }
    }
    for (let i = 0; i < 3; i++) nodes.push(await startHostedNode(i, bus.transport(`node-${i}`)))
    try {
      await waitFor(() => certified[0]!.has(60), 'height 60 certified on node 0', 90_000)
      // Node 3 was away while heights 1..60 were certified: it got none of their shares.
      const transport = bus.transport('node-3')
      transport.setOnline(false)
      const late = await startHostedNode(3, transport)
      nodes.push(late)
      transport.setOnline(true)
      await waitFor(() => late.chain.has(60), 'node 3 executed height 60')
      await waitFor(() => [...Array(60).keys()].every(h => certified[3]!.has(h + 1)), 'node 3 certified every height it executed, 1..60', 30_000)
      const last = Math.max(...certified[0]!)
      await waitFor(() => certified[3]!.has(last), `node 3 certified ${last} too`)
      assertSameChains(nodes)
    } finally {
      await stopAll(nodes)
    }
  })
})
