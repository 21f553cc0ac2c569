import { dealThresholdKeys, generateNodeKeyPair } from '@icnet/crypto'
import { subnetIdFromPublicKeyDer, toHex } from '@icnet/types'
import { Committee, Consensus, InMemoryBus, type ArtifactTransport, type Batch, type ConsensusInit, type ConsensusStore, NodeSigner } from '../src/index.js'

export interface SubnetKeys {
  committee: Committee
  signers: NodeSigner[]
}

/** Deals a subnet of n nodes in memory (what genesis does, without files). */
export function dealSubnet (n: number): SubnetKeys {
  const f = Math.floor((n - 1) / 3)
  const keys = dealThresholdKeys({ n, t: 2 * f + 1 })
  const bls = Array.from({ length: n }, () => generateNodeKeyPair())
  const committee = new Committee({
    subnetId: subnetIdFromPublicKeyDer(keys.publicKeyDer),
    nodes: Array.from({ length: n }, (_, i) => `node-${i}`),
    blsPublicKeys: bls.map(k => k.publicKey),
    thresholdPublicKey: keys.publicKey,
    thresholdSharePublicKeys: keys.sharePublicKeys,
    threshold: keys.threshold
  })
  const signers = bls.map((k, i) => new NodeSigner({ index: i, blsSecretKey: k.secretKey, thresholdSecretKey: keys.shares[i]!.secretKey }))
  return { committee, signers }
}

/** A consensus node plus the batches its host received (block hash hex per height). */
export interface TestNode {
  consensus: Consensus
  chain: Map<number, string>
  batches: Batch[]
  /** Resolves when the consumer loop ends (after stop). */
  consumer: Promise<void>
}

export function startConsumer (consensus: Consensus, chain: Map<number, string>, batches: Batch[], onBatch?: (b: Batch) => Promise<void> | void): Promise<void> {
  return (async () => {
    for await (const b of consensus.batches()) {
      if (chain.has(b.height)) throw new Error(`height ${b.height} delivered twice`)
      chain.set(b.height, toHex(b.blockHash))
      batches.push(b)
      await onBatch?.(b)
    }
  })()
}

export async function startNode (keys: SubnetKeys, i: number, transport: ArtifactTransport, extra: Partial<ConsensusInit> & { store?: ConsensusStore } = {}, unitDelayMs = 30): Promise<TestNode> {
  const consensus = new Consensus({
    committee: keys.committee,
    signer: keys.signers[i]!,
    params: { unitDelayMs, maxBlockPayloadBytes: 4 * 1024 * 1024, checkpointInterval: 50 },
    transport,
    name: `n${i}`,
    ...extra
  })
  await consensus.start()
  const chain = new Map<number, string>()
  const batches: Batch[] = []
  return { consensus, chain, batches, consumer: startConsumer(consensus, chain, batches) }
}

export async function startBusSubnet (n: number, extra: (i: number) => Partial<ConsensusInit> = () => ({})): Promise<{ keys: SubnetKeys, bus: InMemoryBus, nodes: TestNode[] }> {
  const keys = dealSubnet(n)
  const bus = new InMemoryBus()
  const nodes: TestNode[] = []
  for (let i = 0; i < n; i++) nodes.push(await startNode(keys, i, bus.transport(`node-${i}`), extra(i)))
  return { keys, bus, nodes }
}

/** Every pair of nodes agrees on every height both delivered; returns the common length. */
export function assertSameChains (nodes: TestNode[]): number {
  let min = Number.POSITIVE_INFINITY
  for (const a of nodes) {
    min = Math.min(min, a.chain.size)
    for (const b of nodes) {
      for (const [h, hash] of a.chain) {
        const other = b.chain.get(h)
        if (other !== undefined && other !== hash) throw new Error(`fork at height ${h}: ${hash} vs ${other}`)
      }
    }
  }
  return min
}

export async function waitFor (cond: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}
