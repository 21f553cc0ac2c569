import { readFile, stat } from 'node:fs/promises'
import { dirname, isAbsolute, join, resolve } from 'node:path'
import { readNodeConfig, type NodeConfig } from '@icnet/registry'
import { ConfigError } from './errors.js'
import { parseReplicaFaults, type ReplicaFaults } from './faults/options.js'
import { isLogLevel, type LogLevel } from './log.js'

/** Largest replica config accepted (the node config part is bounded by the registry). */
export const MAX_CONFIG_BYTES = 64 * 1024

/** Replica options beyond the node's identity and keys; all optional, in a `replica` section of the config file. */
export interface ReplicaOptions {
  /** Structured log level (default info). */
  logLevel: LogLevel
  /** The genesis canisters file `icnet testnet init --canisters` writes (default: next to the registry). */
  genesisCanistersPath: string
  /** Addresses to announce when they differ from the listen addresses (hosts behind NAT); default: the listen addresses. */
  announce?: string[]
  /** Whether process metrics (CPU, memory, event loop lag) are exported too (default true). */
  processMetrics: boolean
  /** Byzantine and test-only behaviour (test networks only): see faults/options.ts. */
  faults?: ReplicaFaults
}

/** A node's config: the private node config from genesis plus the replica options. */
export interface ReplicaConfig extends NodeConfig {
  /** The file it was read from. */
  path: string
  replica: ReplicaOptions
}

function fail (path: string, what: string): never {
  throw new ConfigError(`${path}: ${what}`)
}

/** Parses the `replica` section (absent: all defaults). Paths are relative to the config file. */
export function parseReplicaOptions (raw: unknown, ctx: { path: string, registryDir: string }): ReplicaOptions {
  if (raw === undefined) raw = {}
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(ctx.path, '"replica" must be an object')
  const r = raw as Record<string, unknown>
  const known = new Set(['logLevel', 'genesisCanisters', 'announce', 'processMetrics', 'faults'])
  for (const k of Object.keys(r)) if (!known.has(k)) fail(ctx.path, `unknown option replica.${k}`)
  if (r.logLevel !== undefined && !isLogLevel(r.logLevel)) fail(ctx.path, 'replica.logLevel must be one of debug, info, warn, error')
  if (r.genesisCanisters !== undefined && typeof r.genesisCanisters !== 'string') fail(ctx.path, 'replica.genesisCanisters must be a path')
  if (r.announce !== undefined && !(Array.isArray(r.announce) && r.announce.every(a => typeof a === 'string'))) fail(ctx.path, 'replica.announce must be a list of multiaddrs')
  if (r.processMetrics !== undefined && typeof r.processMetrics !== 'boolean') fail(ctx.path, 'replica.processMetrics must be true or false')
  const base = dirname(ctx.path)
  const canisters = typeof r.genesisCanisters === 'string'
    ? (isAbsolute(r.genesisCanisters) ? r.genesisCanisters : resolve(base, r.genesisCanisters))
    : join(dirname(ctx.registryDir), 'canisters.json')
  const faults = parseReplicaFaults(r.faults, ctx.path)
  return {
    logLevel: (r.logLevel as LogLevel | undefined) ?? 'info',
    genesisCanistersPath: canisters,
    ...(r.announce !== undefined ? { announce: r.announce as string[] } : {}),
    processMetrics: (r.processMetrics as boolean | undefined) ?? true,
    ...(faults !== undefined ? { faults } : {})
  }
}

/** Reads a replica config file: the node config checks of @icnet/registry, then the replica options. */
export async function loadReplicaConfig (path: string): Promise<ReplicaConfig> {
  const abs = resolve(path)
  let size: number
  try {
    size = (await stat(abs)).size
  } catch (err) {
    throw new ConfigError(`${abs}: cannot read the config file`, { cause: err })
  }
  if (size > MAX_CONFIG_BYTES) fail(abs, `${size} bytes, at most ${MAX_CONFIG_BYTES}`)
  let node: NodeConfig
  try {
    node = await readNodeConfig(abs)
  } catch (err) {
    throw new ConfigError(`${abs}: ${(err as Error).message}`, { cause: err })
  }
  const raw = JSON.parse(await readFile(abs, 'utf8')) as Record<string, unknown>
  if (node.http !== undefined && !(typeof node.http.host === 'string' && Number.isInteger(node.http.port) && node.http.port >= 0 && node.http.port < 65536)) {
    fail(abs, 'http must be {host, port} with a port in 0..65535')
  }
  if (node.listenAddresses.length === 0) fail(abs, 'listenAddresses is empty')
  const base = dirname(abs)
  const registryDir = isAbsolute(node.registryDir) ? node.registryDir : resolve(base, node.registryDir)
  const dataDir = isAbsolute(node.dataDir) ? node.dataDir : resolve(base, node.dataDir)
  return { ...node, registryDir, dataDir, path: abs, replica: parseReplicaOptions(raw.replica, { path: abs, registryDir }) }
}
