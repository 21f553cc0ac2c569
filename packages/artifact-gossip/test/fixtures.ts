import '@icnet/types/polyfill'
import { Principal, RoutingTable, concatBytes, domainSeparator, readU64be, u64be, type NodeId, type RegistryView, type SubnetId, type SubnetRecord, type NodeRecord } from '@icnet/types'
import { BlsVerifierPool, generateNodeKeyPair, nodeSign, type NodeKeyPair } from '@icnet/crypto'
import { gossipsub, type GossipSub } from '@libp2p/gossipsub'
import { createTestNode, type TestTransport } from '@icnet/test-utils'
import { artifactGossip, artifactGossipsubOptions, subnetConnectionGater, PeerBanList, type ArtifactGossipService, type ArtifactKind, type SignatureVerifier, type ArtifactGossipInit, type GossipsubRouter } from '../src/index.js'
import type { Libp2p } from '@libp2p/interface'

/**
 * A test artifact: height (u64) | signer public key (48) | BLS signature (96) | payload.
 * The signature covers a domain separator, the height and the payload.
 */
export interface Note {
  height: number
  publicKey: Uint8Array
  signature: Uint8Array
  payload: Uint8Array
}

const NOTE_DOMAIN = domainSeparator('icnet-test-note')
const HEADER = 8 + 48 + 96

export function noteMessage (height: number, payload: Uint8Array): Uint8Array {
  return concatBytes(NOTE_DOMAIN, u64be(height), payload)
}

export function makeNote (keys: NodeKeyPair, height: number, payload: Uint8Array, opts: { corrupt?: boolean } = {}): Uint8Array {
  const signature = nodeSign(keys.secretKey, noteMessage(height, payload))
  if (opts.corrupt === true) signature.set(nodeSign(keys.secretKey, noteMessage(height + 1, payload)))
  return concatBytes(u64be(height), keys.publicKey, signature, payload)
}

/** Counters a test reads to prove what the gossip layer did (or did not) call. */
export interface NoteKindCounters {
  decoded: number
  signatureSets: number
  validated: number
  heightsSigned: number[]
}

export function noteKind (opts: { kind?: string, maxBytes?: number } = {}): { kind: ArtifactKind<Note>, counters: NoteKindCounters } {
  const counters: NoteKindCounters = { decoded: 0, signatureSets: 0, validated: 0, heightsSigned: [] }
  const kind: ArtifactKind<Note> = {
    kind: opts.kind ?? 'note',
    maxBytes: opts.maxBytes ?? 2 * 1024 * 1024,
    decode (bytes) {
      counters.decoded++
      if (bytes.byteLength < HEADER) throw new RangeError('note too short')
      return {
        height: Number(readU64be(bytes.subarray(0, 8))),
        publicKey: bytes.subarray(8, 56),
        signature: bytes.subarray(56, HEADER),
        payload: bytes.subarray(HEADER)
      }
    },
    height: note => note.height,
    signatureSets (note) {
      counters.signatureSets++
      counters.heightsSigned.push(note.height)
      return [{ publicKey: note.publicKey, message: noteMessage(note.height, note.payload), signature: note.signature }]
    },
    validate () {
      counters.validated++
      return 'accept'
    }
  }
  return { kind, counters }
}

/** A registry the test fills in once node ids are known. */
export class TestRegistry implements RegistryView {
  readonly version = 1
  private readonly subnets = new Map<string, SubnetRecord>()
  private readonly nodes = new Map<NodeId, NodeRecord>()

  addSubnet (id: SubnetId): void {
    this.subnets.set(id.toText(), { id, type: 'application', nodes: [], publicKey: new Uint8Array(96), publicKeyDer: new Uint8Array(0) })
  }

  addNode (id: NodeId, subnetId: SubnetId): void {
    this.subnets.get(subnetId.toText())!.nodes.push(id)
    this.nodes.set(id, { id, subnetId, p2pAddresses: [], blsPublicKey: new Uint8Array(48) })
  }

  subnetIds (): SubnetId[] { return [...this.subnets.values()].map(s => s.id) }
  getSubnet (id: SubnetId): SubnetRecord | undefined { return this.subnets.get(id.toText()) }
  getNode (id: NodeId): NodeRecord | undefined { return this.nodes.get(id) }
  subnetOfNode (id: NodeId): SubnetId | undefined { return this.nodes.get(id)?.subnetId }
  routingTable (): RoutingTable { return new RoutingTable([]) }
  rootSubnetId (): SubnetId { return this.subnetIds()[0]! }
}

export const SUBNET: SubnetId = Principal.fromUint8Array(new Uint8Array([0x5e, 0x70, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x02]))

/** Gossipsub's public interface, plus the public methods of its class that the service uses. */
export type GossipNode = Libp2p<{ pubsub: GossipSub & GossipsubRouter, artifacts: ArtifactGossipService }>

export interface MeshNode {
  node: GossipNode
  service: ArtifactGossipService
  counters: NoteKindCounters
  keys: NodeKeyPair
  bans: PeerBanList
  id: string
}

export interface MeshOptions {
  transport?: TestTransport
  verifier: SignatureVerifier
  registry: TestRegistry
  /** Refuse non-members at the connection level (default false: scoring and validators only). */
  strictGater?: boolean
  /** Register this node in the registry (default true). */
  member?: boolean
  service?: Partial<ArtifactGossipInit>
  kind?: { maxBytes?: number }
}

/** A node running gossipsub (configured for artifacts) and the artifact gossip service. */
export async function createMeshNode (opts: MeshOptions): Promise<MeshNode> {
  const { kind, counters } = noteKind(opts.kind)
  const bans = new PeerBanList()
  const node = await createTestNode({
    transport: opts.transport ?? 'tcp',
    connectionGater: subnetConnectionGater({
      subnetId: SUBNET,
      registry: opts.registry,
      bans,
      admitNonMembers: () => opts.strictGater !== true
    }),
    services: {
      pubsub: gossipsub(artifactGossipsubOptions({ subnetId: SUBNET, registry: opts.registry, kinds: ['note'] })),
      artifacts: artifactGossip({ subnetId: SUBNET, registry: opts.registry, verifier: opts.verifier, kinds: [kind], bans, ...opts.service })
    }
  }) as unknown as GossipNode
  const id = node.peerId.toString()
  if (opts.member !== false) opts.registry.addNode(id, SUBNET)
  return { node, service: node.services.artifacts, counters, keys: generateNodeKeyPair(), bans, id }
}

export async function createMesh (n: number, opts: Omit<MeshOptions, 'registry'> & { registry?: TestRegistry }): Promise<{ nodes: MeshNode[], registry: TestRegistry }> {
  const registry = opts.registry ?? new TestRegistry()
  if (registry.getSubnet(SUBNET) == null) registry.addSubnet(SUBNET)
  const nodes: MeshNode[] = []
  for (let i = 0; i < n; i++) nodes.push(await createMeshNode({ ...opts, registry }))
  return { nodes, registry }
}

/** Waits until every node sees every other member subscribed to the topic and has a mesh. */
export async function waitForMesh (nodes: MeshNode[], waitFor: (c: () => boolean, o: { timeoutMs: number, what: string }) => Promise<void>): Promise<void> {
  const topic = nodes[0]!.service.topic('note')
  await waitFor(() => nodes.every(m => m.node.services.pubsub.getSubscribers(topic).length >= nodes.length - 1 && m.node.services.pubsub.getMeshPeers(topic).length > 0),
    { timeoutMs: 60_000, what: 'gossipsub mesh' })
}

export function sharedVerifier (): BlsVerifierPool {
  return new BlsVerifierPool({ workers: 1 })
}
