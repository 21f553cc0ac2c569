import { readFile, writeFile } from 'node:fs/promises'
import { ConfigError } from '../errors.js'

/** How a node's XNet server corrupts the certified slices it sends. */
export const SLICE_FAULTS = ['alter-payload', 'alter-hash', 'bad-signature', 'rotate'] as const
export type SliceFault = typeof SLICE_FAULTS[number]
/** How a node's state-sync server misbehaves. */
export const CHUNK_FAULTS = ['corrupt', 'stall'] as const
export type ChunkFault = typeof CHUNK_FAULTS[number]
/** Highest flood rate accepted: enough to test scoring, not enough to melt the host. */
export const MAX_GOSSIP_FLOOD_PER_S = 10_000

/**
 * Byzantine behaviour injected into one node, for fault tests on test networks
 * (`replica.faults` in its config). Every fault wraps a public interface in the
 * replica; the protocol packages stay honest.
 */
export interface ReplicaFaults {
  /** Corrupts every certified slice this node's xnet server sends. 'rotate' cycles through the three. */
  xnetSlices?: SliceFault
  /** State-sync server misbehaviour: wrong bytes for every block it sends, or never answering want-block. */
  stateSyncChunks?: ChunkFault
  /** Publishes this many invalid artifacts per second on its subnet's gossip topics. */
  gossipFloodPerS?: number
  /** Enables the admin routes POST/DELETE /api/faults/partition (test networks only). */
  admin?: boolean
}

const KNOWN = new Set(['xnetSlices', 'stateSyncChunks', 'gossipFloodPerS', 'admin'])

/** Parses `replica.faults` (absent: undefined, no faults). Unknown keys and bad values are a ConfigError. */
export function parseReplicaFaults (raw: unknown, path: string): ReplicaFaults | undefined {
  if (raw === undefined) return undefined
  const fail = (what: string): never => { throw new ConfigError(`${path}: ${what}`) }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('"replica.faults" must be an object')
  const r = raw as Record<string, unknown>
  for (const k of Object.keys(r)) if (!KNOWN.has(k)) fail(`unknown option replica.faults.${k}`)
  const out: ReplicaFaults = {}
  if (r.xnetSlices !== undefined) {
    if (!(SLICE_FAULTS as readonly unknown[]).includes(r.xnetSlices)) fail(`replica.faults.xnetSlices must be one of ${SLICE_FAULTS.join(', ')}`)
    out.xnetSlices = r.xnetSlices as SliceFault
  }
  if (r.stateSyncChunks !== undefined) {
    if (!(CHUNK_FAULTS as readonly unknown[]).includes(r.stateSyncChunks)) fail(`replica.faults.stateSyncChunks must be one of ${CHUNK_FAULTS.join(', ')}`)
    out.stateSyncChunks = r.stateSyncChunks as ChunkFault
  }
  if (r.gossipFloodPerS !== undefined) {
    const n = r.gossipFloodPerS
    if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0 || n > MAX_GOSSIP_FLOOD_PER_S) fail(`replica.faults.gossipFloodPerS must be a number in (0, ${MAX_GOSSIP_FLOOD_PER_S}]`)
    out.gossipFloodPerS = n as number
  }
  if (r.admin !== undefined) {
    if (typeof r.admin !== 'boolean') fail('replica.faults.admin must be true or false')
    out.admin = r.admin as boolean
  }
  return out
}

/** The faults that are on, for the start-up warning ("xnetSlices=rotate, admin"). */
export function describeFaults (f: ReplicaFaults): string[] {
  const on: string[] = []
  if (f.xnetSlices !== undefined) on.push(`xnetSlices=${f.xnetSlices}`)
  if (f.stateSyncChunks !== undefined) on.push(`stateSyncChunks=${f.stateSyncChunks}`)
  if (f.gossipFloodPerS !== undefined) on.push(`gossipFloodPerS=${f.gossipFloodPerS}`)
  if (f.admin === true) on.push('admin')
  return on
}

/**
 * Sets `replica.faults` in a node's config file (read, modify, write; other
 * fields untouched). An empty object removes the section. Checked like the
 * replica checks it, so a typo fails here rather than at the node's start.
 */
export async function setNodeFaults (configPath: string, faults: ReplicaFaults): Promise<void> {
  parseReplicaFaults(faults, configPath)
  const raw = JSON.parse(await readFile(configPath, 'utf8')) as Record<string, unknown>
  const replica = (typeof raw.replica === 'object' && raw.replica !== null ? raw.replica : {}) as Record<string, unknown>
  if (Object.keys(faults).length === 0) delete replica.faults
  else replica.faults = { ...faults }
  raw.replica = replica
  // The config holds the node's keys: keep the file private.
  await writeFile(configPath, `${JSON.stringify(raw, null, 2)}\n`, { mode: 0o600 })
}
