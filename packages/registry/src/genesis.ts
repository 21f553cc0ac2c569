import { mkdir } from 'node:fs/promises'
import { isIPv4 } from 'node:net'
import { join, resolve } from 'node:path'
import { dealThresholdKeys, generateNodeKeyPair, proveNodeKeyPossession } from '@icnet/crypto'
import { InvalidEncodingError, LimitExceededError, canisterIdFromU64, subnetIdFromPublicKeyDer, toHex, type SubnetType } from '@icnet/types'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { MAX_NODES_PER_SUBNET, MAX_SUBNETS } from './limits.js'
import { type NodeConfig, writeNodeConfig } from './node-config.js'
import { DEFAULT_SUBNET_PARAMS, type NodeRecordJson, type RegistryRecords, type SubnetParams, type SubnetRecordJson } from './records.js'
import type { Registry } from './registry.js'
import { FileRegistryStore } from './store.js'

/** Canister ids per subnet in the genesis routing table (as the IC allocates: 2^20 per subnet). */
export const CANISTER_IDS_PER_SUBNET = 1n << 20n

export interface InitTestnetOptions {
  /** Number of subnets; the first is the root (system) subnet. */
  subnets: number
  /** Nodes in every subnet (or one count per subnet). */
  nodesPerSubnet: number | number[]
  /** Output directory: `registry/` and `nodes/<subnet>-<node>/`. */
  dir: string
  /** First TCP port: node k (counting over all subnets) gets p2p port basePort + 2k and HTTP port basePort + 2k + 1. Default 4100. */
  basePort?: number
  /** Host the nodes listen on and advertise. Default 127.0.0.1. */
  host?: string
  /**
   * Host of one node, when nodes live on different hosts (e.g. one network
   * namespace or machine per node); overrides `host` for that node. Called
   * once per node with its subnet index and its index within the subnet.
   */
  hostFor?: (subnetIndex: number, nodeIndex: number) => string
  /** Parameter overrides applied to every subnet. */
  params?: Partial<SubnetParams>
  /** Parameter overrides per subnet index, applied after `params` (e.g. a slow subnet's round budget). */
  subnetParams?: ReadonlyArray<Partial<SubnetParams> | undefined>
  /** Subnet types, per subnet; default: the root is 'system', the rest 'application'. */
  types?: SubnetType[]
}

export interface TestnetLayout {
  registry: Registry
  registryDir: string
  /** Node config paths, grouped by subnet in registry order. */
  nodeConfigs: string[][]
}

/**
 * Genesis for a testnet: deals every key with a trusted dealer and writes the
 * first registry version plus one private config per node. This is the core of
 * `icnet testnet init --subnets S --nodes N --dir D`.
 *
 * Keys: each node gets a libp2p Ed25519 key (its node id), a BLS key for
 * consensus multi-signatures and a share of its subnet's threshold key
 * (t = 2f+1 of n = 3f+1, f = ⌊(n-1)/3⌋). Only public parts go into the registry;
 * each secret is written once, into its node's config (mode 0600).
 */
export async function initTestnet (opts: InitTestnetOptions): Promise<TestnetLayout> {
  if (!Number.isInteger(opts.subnets) || opts.subnets < 1 || opts.subnets > MAX_SUBNETS) throw new LimitExceededError(`subnets must be in [1, ${MAX_SUBNETS}]`)
  const counts = Array.from({ length: opts.subnets }, (_, s) => Array.isArray(opts.nodesPerSubnet) ? opts.nodesPerSubnet[s] : opts.nodesPerSubnet)
  for (const n of counts) {
    if (n === undefined || !Number.isInteger(n) || n < 1 || n > MAX_NODES_PER_SUBNET) throw new LimitExceededError(`nodes per subnet must be in [1, ${MAX_NODES_PER_SUBNET}]`)
  }
  const dir = resolve(opts.dir)
  const host = opts.host ?? '127.0.0.1'
  const basePort = opts.basePort ?? 4100
  const registryDir = join(dir, 'registry')
  const params: SubnetParams = { ...DEFAULT_SUBNET_PARAMS, ...(opts.params ?? {}) }

  const subnets: SubnetRecordJson[] = []
  const nodes: NodeRecordJson[] = []
  const routingTable: RegistryRecords['routingTable'] = []
  const configs: Array<{ path: string, config: NodeConfig }> = []
  const nodeConfigs: string[][] = []
  let portIndex = 0

  for (let s = 0; s < opts.subnets; s++) {
    const n = counts[s]!
    const f = Math.floor((n - 1) / 3)
    const t = 2 * f + 1
    const dealt = await dealThresholdKeys({ n, t })
    const subnetId = subnetIdFromPublicKeyDer(dealt.publicKeyDer).toText()
    const record: SubnetRecordJson = {
      id: subnetId,
      type: opts.types?.[s] ?? (s === 0 ? 'system' : 'application'),
      nodes: [],
      publicKey: toHex(dealt.publicKey),
      publicKeyDer: toHex(dealt.publicKeyDer),
      threshold: t,
      thresholdShares: [],
      params: { ...params, ...(opts.subnetParams?.[s] ?? {}) }
    }
    const paths: string[] = []
    for (let i = 0; i < n; i++) {
      const libp2pKey = await generateKeyPair('Ed25519')
      const nodeId = peerIdFromPrivateKey(libp2pKey).toString()
      const bls = await generateNodeKeyPair()
      const share = dealt.shares[i]!
      const nodeHost = opts.hostFor?.(s, i) ?? host
      // Addresses are written as /ip4 multiaddrs, so a node host must be an IPv4 address.
      if (opts.hostFor !== undefined && !isIPv4(nodeHost)) throw new InvalidEncodingError(`hostFor(${s}, ${i}) gave "${String(nodeHost).slice(0, 64)}", not an IPv4 address`)
      const p2pPort = basePort + 2 * portIndex
      const httpPort = p2pPort + 1
      portIndex++
      record.nodes.push(nodeId)
      record.thresholdShares.push({ index: share.index, publicKey: toHex(share.publicKey) })
      nodes.push({
        id: nodeId,
        subnetId,
        p2pAddresses: [`/ip4/${nodeHost}/tcp/${p2pPort}/p2p/${nodeId}`],
        httpUrl: `http://${nodeHost}:${httpPort}`,
        blsPublicKey: toHex(bls.publicKey),
        blsPossessionProof: toHex(proveNodeKeyPossession(bls.secretKey))
      })
      const nodeDir = join(dir, 'nodes', `${s}-${i}`)
      const config: NodeConfig = {
        nodeId,
        subnetId,
        nodeIndex: i,
        libp2pPrivateKey: toHex(privateKeyToProtobuf(libp2pKey)),
        blsSecretKey: toHex(bls.secretKey),
        thresholdShare: { index: share.index, secretKey: toHex(share.secretKey), publicKey: toHex(share.publicKey) },
        dataDir: join(nodeDir, 'data'),
        registryDir,
        listenAddresses: [`/ip4/${nodeHost}/tcp/${p2pPort}`],
        http: { host: nodeHost, port: httpPort }
      }
      const path = join(nodeDir, 'config.json')
      configs.push({ path, config })
      paths.push(path)
    }
    subnets.push(record)
    nodeConfigs.push(paths)
    routingTable.push({
      start: canisterIdFromU64(BigInt(s) * CANISTER_IDS_PER_SUBNET).toText(),
      end: canisterIdFromU64(BigInt(s + 1) * CANISTER_IDS_PER_SUBNET - 1n).toText(),
      subnetId
    })
  }

  const store = new FileRegistryStore(registryDir)
  const registry = await store.put({ version: 1, rootSubnetId: subnets[0]!.id, subnets, nodes, routingTable, canisterMigrations: [] })
  for (const { path, config } of configs) {
    await mkdir(config.dataDir, { recursive: true, mode: 0o700 })
    await writeNodeConfig(path, config)
  }
  return { registry, registryDir, nodeConfigs }
}
