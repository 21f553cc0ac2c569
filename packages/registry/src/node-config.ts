import { readFile, stat } from 'node:fs/promises'
import { InvalidEncodingError, LimitExceededError } from '@icnet/types'
import { writeFileAtomic } from './atomic-file.js'
import { MAX_NODE_CONFIG_BYTES } from './limits.js'

/**
 * One node's private configuration. It holds the node's secrets (libp2p key,
 * BLS key, threshold key share), so it is written with mode 0600 and never
 * copied anywhere else: the registry only ever holds public parts.
 */
export interface NodeConfig {
  nodeId: string
  subnetId: string
  /** The node's position in its subnet's node list (its signer bitmap bit). */
  nodeIndex: number
  /** libp2p Ed25519 private key, protobuf-encoded (`privateKeyToProtobuf`), hex. */
  libp2pPrivateKey: string
  /** BLS secret key for consensus multi-signatures, hex. */
  blsSecretKey: string
  /** This node's share of the subnet's threshold key. */
  thresholdShare: { index: number, secretKey: string, publicKey: string }
  /** Where the node keeps its consensus pool, checkpoints and registry copy. */
  dataDir: string
  /** The registry directory this node follows. */
  registryDir: string
  /** libp2p listen multiaddrs. */
  listenAddresses: string[]
  /** HTTP endpoint listen address, if the node serves one. */
  http?: { host: string, port: number }
}

export async function writeNodeConfig (path: string, config: NodeConfig): Promise<void> {
  await writeFileAtomic(path, new TextEncoder().encode(`${JSON.stringify(config, null, 2)}\n`), { mode: 0o600 })
}

function need (cond: boolean, what: string): void {
  if (!cond) throw new InvalidEncodingError(`node config: ${what}`)
}

/** Reads and checks a node config (size bounded before parsing). */
export async function readNodeConfig (path: string): Promise<NodeConfig> {
  const { size } = await stat(path)
  if (size > MAX_NODE_CONFIG_BYTES) throw new LimitExceededError(`node config ${path} has ${size} bytes (max ${MAX_NODE_CONFIG_BYTES})`)
  let c: any
  try {
    c = JSON.parse(await readFile(path, 'utf8'))
  } catch (err) {
    throw new InvalidEncodingError('node config: not JSON', { cause: err })
  }
  need(typeof c === 'object' && c !== null, 'not an object')
  for (const k of ['nodeId', 'subnetId', 'libp2pPrivateKey', 'blsSecretKey', 'dataDir', 'registryDir']) need(typeof c[k] === 'string', `${k} must be a string`)
  need(Number.isSafeInteger(c.nodeIndex) && c.nodeIndex >= 0, 'nodeIndex must be a non-negative integer')
  need(typeof c.thresholdShare === 'object' && c.thresholdShare !== null && Number.isSafeInteger(c.thresholdShare.index) &&
    typeof c.thresholdShare.secretKey === 'string' && typeof c.thresholdShare.publicKey === 'string', 'thresholdShare is malformed')
  need(Array.isArray(c.listenAddresses) && c.listenAddresses.every((a: unknown) => typeof a === 'string'), 'listenAddresses must be strings')
  return c as NodeConfig
}
