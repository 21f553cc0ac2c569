import '@icnet/types/polyfill'
import { dealThresholdKeys, generateNodeKeyPair, proveNodeKeyPossession } from '@icnet/crypto'
import { DEFAULT_SUBNET_PARAMS, Registry, type RegistryRecords } from '@icnet/registry'
import { canisterIdFromU64, subnetIdFromPublicKeyDer, toHex } from '@icnet/types'
import { createTestNode, connectAll } from '@icnet/test-utils'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import { Consensus, type ConsensusInit, type ConsensusStore, type ConsensusTransport, committeeFromRegistry, consensusTransport, NodeSigner } from '../src/index.js'
import { startConsumer, type TestNode } from './helpers.js'

/** A dealt subnet with a registry whose node ids are real libp2p peer ids. */
export interface LoopbackSubnet {
  registry: Registry
  libp2pKeys: PrivateKey[]
  signers: NodeSigner[]
}

export async function dealLoopbackSubnet (n: number, unitDelayMs = 30): Promise<LoopbackSubnet> {
  const f = Math.floor((n - 1) / 3)
  const keys = dealThresholdKeys({ n, t: 2 * f + 1 })
  const subnetId = subnetIdFromPublicKeyDer(keys.publicKeyDer).toText()
  const libp2pKeys = await Promise.all(Array.from({ length: n }, async () => await generateKeyPair('Ed25519')))
  const ids = libp2pKeys.map(k => peerIdFromPrivateKey(k).toString())
  const bls = ids.map(() => generateNodeKeyPair())
  const records: RegistryRecords = {
    version: 1,
    rootSubnetId: subnetId,
    subnets: [{
      id: subnetId,
      type: 'system',
      nodes: ids,
      publicKey: toHex(keys.publicKey),
      publicKeyDer: toHex(keys.publicKeyDer),
      threshold: keys.threshold,
      thresholdShares: keys.shares.map(s => ({ index: s.index, publicKey: toHex(s.publicKey) })),
      params: { ...DEFAULT_SUBNET_PARAMS, unitDelayMs, checkpointInterval: 50 }
    }],
    // Addresses are ephemeral in tests: the nodes are connected directly instead.
    nodes: ids.map((id, i) => ({ id, subnetId, p2pAddresses: [], blsPublicKey: toHex(bls[i]!.publicKey), blsPossessionProof: toHex(proveNodeKeyPossession(bls[i]!.secretKey)) })),
    routingTable: [{ start: canisterIdFromU64(0).toText(), end: canisterIdFromU64(1000).toText(), subnetId }],
    canisterMigrations: []
  }
  return {
    registry: new Registry(records),
    libp2pKeys,
    signers: bls.map((k, i) => new NodeSigner({ index: i, blsSecretKey: k.secretKey, thresholdSecretKey: keys.shares[i]!.secretKey }))
  }
}

export type ConsensusLibp2p = Libp2p<{ consensusTransport: ConsensusTransport }>

export interface LoopbackNode extends TestNode {
  libp2p: ConsensusLibp2p
}

export async function startLibp2pNode (subnet: LoopbackSubnet, i: number, extra: Partial<ConsensusInit> & { store?: ConsensusStore } = {}): Promise<ConsensusLibp2p> {
  const subnetId = subnet.registry.rootSubnetId()
  return await createTestNode({
    privateKey: subnet.libp2pKeys[i]!,
    services: { consensusTransport: consensusTransport({ subnetId, registry: subnet.registry, dialMembers: false, ...(extra.metrics != null ? { metrics: extra.metrics } : {}) }) }
  }) as unknown as ConsensusLibp2p
}

export async function startConsensusOn (subnet: LoopbackSubnet, i: number, libp2p: ConsensusLibp2p, extra: Partial<ConsensusInit> & { store?: ConsensusStore } = {}): Promise<LoopbackNode> {
  const subnetId = subnet.registry.rootSubnetId()
  const p = subnet.registry.requireSubnet(subnetId).params
  const consensus = new Consensus({
    committee: committeeFromRegistry(subnet.registry, subnetId),
    signer: subnet.signers[i]!,
    params: { unitDelayMs: p.unitDelayMs, maxBlockPayloadBytes: p.maxBlockPayloadBytes, checkpointInterval: p.checkpointInterval },
    transport: libp2p.services.consensusTransport,
    name: `p${i}`,
    ...extra
  })
  await consensus.start()
  const chain = new Map<number, string>()
  const batches: TestNode['batches'] = []
  return { consensus, chain, batches, consumer: startConsumer(consensus, chain, batches), libp2p }
}

/** Starts nodes `indices` of the subnet on loopback TCP, fully connected, each running consensus. */
export async function startLoopbackSubnet (subnet: LoopbackSubnet, indices: number[], extra: (i: number) => Partial<ConsensusInit> = () => ({})): Promise<LoopbackNode[]> {
  const libp2ps = await Promise.all(indices.map(async i => await startLibp2pNode(subnet, i, extra(i))))
  await connectAll(libp2ps)
  const nodes: LoopbackNode[] = []
  for (const [k, i] of indices.entries()) nodes.push(await startConsensusOn(subnet, i, libp2ps[k]!, extra(i)))
  return nodes
}

export async function stopLoopbackNodes (nodes: LoopbackNode[]): Promise<void> {
  await Promise.all(nodes.map(async n => { await n.consensus.stop(); await n.libp2p.stop() }))
}
