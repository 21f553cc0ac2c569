import { readdir, stat } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { FileRegistryStore, type Registry } from '@icnet/registry'
import { TestnetLayoutError } from '../errors.js'
import { loadReplicaConfig, type ReplicaConfig } from '../config.js'

/** A testnet directory as `icnet testnet init` wrote it. */
export interface TestnetDir {
  dir: string
  registry: Registry
  /** Node configs in subnet, then node order. */
  nodes: Array<{ name: string, subnetIndex: number, nodeIndex: number, configPath: string, config: ReplicaConfig, logPath: string }>
  canistersPath: string
}

export async function openTestnet (dirArg: string): Promise<TestnetDir> {
  const dir = resolve(dirArg)
  try { await stat(join(dir, 'registry')) } catch {
    throw new TestnetLayoutError(`${dir} holds no testnet (no registry/); create one with: icnet testnet init --subnets 2 --nodes 4 --dir ${dirArg}`)
  }
  const registry = await new FileRegistryStore(join(dir, 'registry')).latest()
  const names = (await readdir(join(dir, 'nodes'))).filter(n => /^\d+-\d+$/.test(n))
  names.sort((a, b) => {
    const [as, an] = a.split('-').map(Number) as [number, number]
    const [bs, bn] = b.split('-').map(Number) as [number, number]
    return as - bs || an - bn
  })
  const nodes: TestnetDir['nodes'] = []
  for (const name of names) {
    const [subnetIndex, nodeIndex] = name.split('-').map(Number) as [number, number]
    const configPath = join(dir, 'nodes', name, 'config.json')
    nodes.push({ name, subnetIndex, nodeIndex, configPath, config: await loadReplicaConfig(configPath), logPath: join(dir, 'nodes', name, 'replica.log') })
  }
  if (nodes.length === 0) throw new TestnetLayoutError(`${dir}/nodes holds no node configs`)
  return { dir, registry, nodes, canistersPath: join(dir, 'canisters.json') }
}

/** The node's HTTP base URL from its config. */
export function httpUrlOf (config: ReplicaConfig): string | undefined {
  return config.http == null ? undefined : `http://${config.http.host}:${config.http.port}`
}
