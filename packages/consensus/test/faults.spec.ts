import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { InMemoryMetrics, subnetIdFromPublicKeyDer, toHex } from '@icnet/types'
import { dealThresholdKeys, generateNodeKeyPair } from '@icnet/crypto'
import { Committee, Consensus, InMemoryBus, LmdbConsensusStore, NodeSigner } from '../src/index.js'
import { assertSameChains, dealSubnet, startBusSubnet, startNode, waitFor, type SubnetKeys, type TestNode } from './helpers.js'

/** A 4-node subnet whose node 0 signs threshold shares with another subnet's key share. */
function subnetWithWrongShareKey (): SubnetKeys {
  const keys = dealThresholdKeys({ n: 4, t: 3 })
  const wrong = dealThresholdKeys({ n: 4, t: 3 })
  const bls = Array.from({ length: 4 }, () => generateNodeKeyPair())
  const committee = new Committee({
    subnetId: subnetIdFromPublicKeyDer(keys.publicKeyDer),
    nodes: Array.from({ length: 4 }, (_, i) => `node-${i}`),
    blsPublicKeys: bls.map(k => k.publicKey),
    thresholdPublicKey: keys.publicKey,
    thresholdSharePublicKeys: keys.sharePublicKeys,
    threshold: keys.threshold
  })
  const signers = bls.map((k, i) => new NodeSigner({ index: i, blsSecretKey: k.secretKey, thresholdSecretKey: (i === 0 ? wrong : keys).shares[i]!.secretKey }))
  return { committee, signers }
}

async function stopAll (nodes: TestNode[]): Promise<void> {
  await Promise.all(nodes.map(async n => { await n.consensus.stop() }))
}

describe('consensus faults over an in-memory bus', function () {
  this.timeout(120_000)

  it('stays live with 1 of 4 nodes crashed from the start', async () => {
    const keys = dealSubnet(4)
    const bus = new InMemoryBus()
    const nodes: TestNode[] = []
    for (let i = 0; i < 3; i++) nodes.push(await startNode(keys, i, bus.transport(`node-${i}`)))
    try {
      await waitFor(() => nodes.every(n => n.chain.size >= 30), '30 heights on the 3 live nodes')
      assert.ok(assertSameChains(nodes) >= 30)
    } finally {
      await stopAll(nodes)
    }
  })

  it('an equivocating block maker cannot split the honest nodes', async () => {
    const metrics = new InMemoryMetrics()
    const { nodes } = await startBusSubnet(4, i => i === 0 ? { faults: { equivocate: true } } : { metrics: i === 1 ? metrics : undefined })
    const honest = nodes.slice(1)
    try {
      await waitFor(() => honest.every(n => n.chain.size >= 40), '40 heights on the honest nodes')
      assert.ok(assertSameChains(honest) >= 40)
      // Node 0 did equivocate: some heights saw two notarization-worthy proposals of the same rank.
      assert.ok(nodes[0]!.chain.size > 0)
    } finally {
      await stopAll(nodes)
    }
  })

  it('a node signing with a wrong threshold key: its beacon and certification shares are found and counted, the subnet beacons and certifies without it', async () => {
    // Node 0's shares are well-formed points that never verify.
    const keys = subnetWithWrongShareKey()
    const bus = new InMemoryBus()
    const metrics = [new InMemoryMetrics(), new InMemoryMetrics(), new InMemoryMetrics(), new InMemoryMetrics()]
    const certified = new Map<number, Set<string>>()
    const nodes: TestNode[] = []
    const stateRoot = (h: number): Uint8Array => Uint8Array.from({ length: 32 }, (_, i) => (h * 5 + i) & 0xff)
    for (let i = 0; i < 4; i++) {
      nodes.push(await startNode(keys, i, bus.transport(`node-${i}`), {
        metrics: metrics[i]!,
        onCertification: c => {
          const h = Number(c.height)
          if (!certified.has(h)) certified.set(h, new Set())
          certified.get(h)!.add(toHex(c.signature))
        }
      }))
    }
    const hosts = nodes.map(n => (async () => {
      let done = 0
      while (done < 10) {
        await waitFor(() => n.consensus.deliveredHeight > done, 'progress')
        for (; done < n.consensus.deliveredHeight; done++) await n.consensus.submitStateRoot(done + 1, stateRoot(done + 1))
      }
    })())
    try {
      await Promise.all(hosts)
      await waitFor(() => [...certified.keys()].filter(h => h <= 10).length === 10, 'certifications of heights 1..10')
      assert.ok(assertSameChains(nodes) >= 10)
      for (const sigs of certified.values()) assert.equal(sigs.size, 1, 'one certification per height, whoever combined it')
      const invalid = (m: InMemoryMetrics, kind: string): number => m.values.get('icnet_consensus_invalid_artifacts_total')?.get(`kind=${kind}`) ?? 0
      // Shares are combined in arrival order: whenever node 0's came among the first t, the
      // combined signature failed, the shares were checked one by one and node 0's was counted.
      const honest = metrics.slice(1)
      assert.ok(honest.some(m => invalid(m, 'random-beacon-share') > 0), 'bad beacon shares found')
      assert.ok(honest.some(m => invalid(m, 'certification-share') > 0), 'bad certification shares found')
    } finally {
      await stopAll(nodes)
    }
  })

  it('a 7-node subnet tolerates 2 crashed nodes', async () => {
    const keys = dealSubnet(7)
    const bus = new InMemoryBus()
    const nodes: TestNode[] = []
    for (let i = 2; i < 7; i++) nodes.push(await startNode(keys, i, bus.transport(`node-${i}`)))
    try {
      await waitFor(() => nodes.every(n => n.chain.size >= 20), '20 heights on the 5 live nodes')
      assert.ok(assertSameChains(nodes) >= 20)
    } finally {
      await stopAll(nodes)
    }
  })

  it('a node restarted from its lmdb store resumes and catches up without re-delivering', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'icnet-consensus-'))
    const keys = dealSubnet(4)
    const bus = new InMemoryBus()
    const nodes: TestNode[] = []
    for (let i = 0; i < 4; i++) nodes.push(await startNode(keys, i, bus.transport(`node-${i}`), { store: new LmdbConsensusStore(join(dir, `n${i}`)) }))
    try {
      await waitFor(() => nodes[3]!.chain.size >= 15, 'node 3 at height 15')
      await nodes[3]!.consensus.stop()
      await nodes[3]!.consumer
      const before = nodes[3]!.chain
      const stoppedAt = nodes[3]!.consensus.deliveredHeight
      const others = nodes.slice(0, 3)
      await waitFor(() => others.every(n => n.chain.size >= stoppedAt + 20), 'the others 20 heights further')
      const restarted = await startNode(keys, 3, bus.transport('node-3'), { store: new LmdbConsensusStore(join(dir, 'n3')) })
      nodes[3] = restarted
      assert.ok(restarted.consensus.finalizedHeight >= stoppedAt, 'resumed from its store')
      const target = Math.max(...others.map(n => n.chain.size)) + 5
      await waitFor(() => restarted.chain.size > 0 && Math.max(...restarted.chain.keys()) >= target, 'the restarted node to catch up')
      // Delivery resumed right after what the host had taken: nothing twice, nothing missing.
      assert.equal(Math.min(...restarted.chain.keys()), stoppedAt + 1)
      for (const [h, hash] of before) assert.equal(nodes[0]!.chain.get(h), hash)
      assertSameChains(nodes)
    } finally {
      await stopAll(nodes)
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('consensus shutdown', function () {
  this.timeout(60_000)

  it('a host asking for the next batch after stop() gets the end of the stream, not a store that is already closed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'icnet-consensus-'))
    const keys = dealSubnet(4)
    const bus = new InMemoryBus()
    const others: TestNode[] = []
    for (let i = 1; i < 4; i++) others.push(await startNode(keys, i, bus.transport(`node-${i}`)))
    const node = new Consensus({
      committee: keys.committee,
      signer: keys.signers[0]!,
      params: { unitDelayMs: 30, maxBlockPayloadBytes: 1024 * 1024, checkpointInterval: 50 },
      transport: bus.transport('node-0'),
      store: new LmdbConsensusStore(join(dir, 'n0')),
      name: 'n0'
    })
    await node.start()
    try {
      const batches = node.batches()[Symbol.asyncIterator]()
      const first = await batches.next()
      assert.equal(first.done, false)
      // The host is executing that batch when the node shuts down; then it asks for the next one.
      await node.stop()
      assert.deepEqual(await batches.next(), { done: true, value: undefined })
    } finally {
      await stopAll(others)
      await rm(dir, { recursive: true, force: true })
    }
  })
})

describe('certification and catch-up packages', function () {
  this.timeout(120_000)

  it('tells the host whether a certification came late: the subnet had certified the height before this node executed it', async () => {
    const keys = dealSubnet(4)
    const bus = new InMemoryBus()
    const late = new Map<number, boolean[]>()
    const certifiedBy0 = new Set<number>()
    const nodes: TestNode[] = []
    const stateRoot = (h: number): Uint8Array => Uint8Array.from({ length: 32 }, (_, i) => (h * 3 + i) & 0xff)
    for (let i = 0; i < 4; i++) {
      nodes.push(await startNode(keys, i, bus.transport(`node-${i}`), {
        onCertification: (c, info) => {
          if (i === 0) certifiedBy0.add(Number(c.height))
          if (!late.has(i)) late.set(i, [])
          late.get(i)!.push(info.late)
        }
      }))
    }
    // Nodes 0-2 submit each root at once; node 3 only once node 0 has the height certified.
    const hosts = nodes.map((n, i) => (async () => {
      for (let h = 1; h <= 6; h++) {
        await waitFor(() => n.consensus.deliveredHeight >= h, 'progress')
        if (i === 3) {
          await waitFor(() => certifiedBy0.has(h), `certification of ${h} on node 0`)
          // Node 0 may have combined the moment it signed its own share, in this very turn: its
          // share to node 3 is still queued on the bus (setImmediate). Let it arrive first.
          await new Promise(resolve => setImmediate(resolve))
        }
        await n.consensus.submitStateRoot(h, stateRoot(h))
      }
    })())
    try {
      await Promise.all(hosts)
      await waitFor(() => (late.get(3)?.length ?? 0) >= 6, 'node 3 to take 6 certifications')
      assert.deepEqual(late.get(3)!.slice(0, 6), Array(6).fill(true), 'node 3 was behind every time')
      for (const i of [0, 1, 2]) assert.ok(late.get(i)!.every(l => !l), `node ${i} certified on time`)
    } finally {
      await stopAll(nodes)
    }
  })

  it('combines certifications and CUPs; a node far behind jumps to the latest CUP', async () => {
    const keys = dealSubnet(4)
    const bus = new InMemoryBus()
    const certified = new Map<number, Set<string>>()
    const cups: Array<{ node: number, height: number, jumped: boolean }> = []
    const nodes: TestNode[] = []
    const stateRoot = (h: number): Uint8Array => Uint8Array.from({ length: 32 }, (_, i) => (h * 7 + i) & 0xff)
    for (let i = 0; i < 3; i++) {
      const node = await startNode(keys, i, bus.transport(`node-${i}`), {
        onCertification: c => {
          const h = Number(c.height)
          if (!certified.has(h)) certified.set(h, new Set())
          certified.get(h)!.add(toHex(c.signature))
        },
        onCatchUpPackage: (cup, info) => { cups.push({ node: i, height: Number(cup.content!.block!.block!.height), jumped: info.jumped }) }
      })
      nodes.push(node)
    }
    // A host: certify every executed height, checkpoint every 50.
    const hosts = nodes.map((n) => (async () => {
      let done = 0
      while (done < 60) {
        await waitFor(() => n.consensus.deliveredHeight > done, 'progress')
        for (; done < n.consensus.deliveredHeight; done++) {
          const h = done + 1
          await n.consensus.submitStateRoot(h, stateRoot(h))
          if (h % 50 === 0) await n.consensus.submitCheckpoint(h, stateRoot(h))
        }
      }
    })())
    try {
      await Promise.all(hosts)
      await waitFor(() => nodes.every(n => n.consensus.catchUpPackageHeight >= 50), 'CUP at 50 on all')
      await waitFor(() => (certified.get(50)?.size ?? 0) === 1, 'certification of height 50')
      // Threshold signatures are unique: every node combined the same certification.
      for (const sigs of certified.values()) assert.equal(sigs.size, 1)
      assert.ok(cups.some(c => c.height === 50 && !c.jumped))
      // A fresh node (empty store) far behind: it adopts the CUP instead of replaying 50 heights.
      const late = await startNode(keys, 3, bus.transport('node-3'), {
        onCatchUpPackage: (cup, info) => { cups.push({ node: 3, height: Number(cup.content!.block!.block!.height), jumped: info.jumped }) }
      })
      nodes.push(late)
      await waitFor(() => late.chain.size >= 5, 'the late node to deliver batches')
      assert.ok(cups.some(c => c.node === 3 && c.jumped && c.height >= 50))
      assert.ok(Math.min(...late.chain.keys()) > 50, 'no batch below the CUP was replayed')
      assertSameChains(nodes)
    } finally {
      await stopAll(nodes)
    }
  })
})
