import { readFile, stat } from 'node:fs/promises'
import { writeFileAtomic } from '@icnet/registry'
import { Principal, canisterIdFromU64, type CanisterId, type SubnetId } from '@icnet/types'
import { CANISTER_IDS_PER_SUBNET, type Registry } from '@icnet/registry'
import { TestnetLayoutError } from './errors.js'

/** Genesis canister modules `icnet testnet init --canisters` knows by name. */
export const GENESIS_MODULES = ['xnet-load'] as const
export type GenesisModule = typeof GENESIS_MODULES[number]

export function isGenesisModule (s: string): s is GenesisModule {
  return (GENESIS_MODULES as readonly string[]).includes(s)
}

/** Defaults of the XNet load canister: the IC's SLO test (10 requests per round per subnet, 1 KiB each way). */
export const DEFAULT_LOAD_RATE = 10
export const DEFAULT_LOAD_PAYLOAD_BYTES = 1024
const MAX_FILE_BYTES = 1024 * 1024

export interface GenesisCanister {
  subnetId: string
  canisterId: string
  module: GenesisModule
  /** For xnet-load: requests per round (over all targets) and their size; targets are the load canisters of the other subnets. */
  load?: { rate: number, payloadSize: number, targets: string[], startAtMs?: number, stopAtMs?: number }
}

export interface GenesisCanisters {
  version: 1
  canisters: GenesisCanister[]
}

/**
 * Genesis canisters for every subnet: the first canister id of each subnet's
 * range (the registry's routing table), so every node derives the same
 * installation at height 0.
 */
export function planGenesisCanisters (registry: Registry, modules: GenesisModule[], load: { rate: number, payloadSize: number }): GenesisCanisters {
  const subnets = registry.subnetIds()
  const firstId = (i: number): CanisterId => canisterIdFromU64(BigInt(i) * CANISTER_IDS_PER_SUBNET)
  const canisters: GenesisCanister[] = []
  for (const module of modules) {
    subnets.forEach((subnet, i) => {
      const entry: GenesisCanister = { subnetId: subnet.toText(), canisterId: firstId(i).toText(), module }
      if (module === 'xnet-load') {
        entry.load = { ...load, targets: subnets.map((_, j) => j).filter(j => j !== i).map(j => firstId(j).toText()) }
      }
      canisters.push(entry)
    })
  }
  return { version: 1, canisters }
}

export async function writeGenesisCanisters (path: string, g: GenesisCanisters): Promise<void> {
  await writeFileAtomic(path, new TextEncoder().encode(`${JSON.stringify(g, null, 2)}\n`), { mode: 0o644 })
}

/** Reads the genesis canisters file; a missing file means no genesis canisters. */
export async function readGenesisCanisters (path: string): Promise<GenesisCanisters> {
  let size: number
  try { size = (await stat(path)).size } catch { return { version: 1, canisters: [] } }
  if (size > MAX_FILE_BYTES) throw new TestnetLayoutError(`${path}: ${size} bytes, at most ${MAX_FILE_BYTES}`)
  let g: any
  try { g = JSON.parse(await readFile(path, 'utf8')) } catch (err) { throw new TestnetLayoutError(`${path}: not JSON`, { cause: err }) }
  if (g?.version !== 1 || !Array.isArray(g.canisters)) throw new TestnetLayoutError(`${path}: expected {version: 1, canisters: [...]}`)
  for (const c of g.canisters) {
    if (typeof c?.subnetId !== 'string' || typeof c.canisterId !== 'string' || !isGenesisModule(c.module)) throw new TestnetLayoutError(`${path}: malformed canister entry`)
    if (c.load !== undefined && !(Number.isSafeInteger(c.load.rate) && c.load.rate >= 0 && Number.isSafeInteger(c.load.payloadSize) &&
      c.load.payloadSize >= 16 && c.load.payloadSize <= 65536 && Array.isArray(c.load.targets) &&
      (c.load.stopAtMs === undefined || Number.isSafeInteger(c.load.stopAtMs)) &&
      (c.load.startAtMs === undefined || Number.isSafeInteger(c.load.startAtMs)))) throw new TestnetLayoutError(`${path}: malformed load settings`)
  }
  return g as GenesisCanisters
}

/** The load canister on `subnet`, with its targets resolved to their subnets. */
export function loadCanisterOf (g: GenesisCanisters, registry: Registry, subnet: SubnetId): { canisterId: CanisterId, rate: number, payloadSize: number, startAtMs?: number, stopAtMs?: number, targets: Array<{ subnetId: SubnetId, canisterId: CanisterId }> } | undefined {
  const c = g.canisters.find(x => x.module === 'xnet-load' && x.subnetId === subnet.toText())
  if (c?.load == null) return undefined
  const targets = c.load.targets.map(t => {
    const canisterId = Principal.fromText(t)
    const subnetId = registry.routingTable().route(canisterId)
    if (subnetId == null) throw new TestnetLayoutError(`load target ${t} is in no subnet's range`)
    return { subnetId, canisterId }
  })
  return { canisterId: Principal.fromText(c.canisterId), rate: c.load.rate, payloadSize: c.load.payloadSize, ...(c.load.startAtMs !== undefined ? { startAtMs: c.load.startAtMs } : {}), ...(c.load.stopAtMs !== undefined ? { stopAtMs: c.load.stopAtMs } : {}), targets }
}

/**
 * Sets (or clears) the block-time window in which the load canisters send:
 * a run of fixed length then drains, and "nothing lost" is exact
 * (sent = replied + rejected). Written before the nodes start, so all of them
 * read the same window; a restarted node reads it again.
 */
export async function setLoadWindow (path: string, window: { startAtMs?: number, stopAtMs?: number }): Promise<void> {
  const g = await readGenesisCanisters(path)
  for (const c of g.canisters) {
    if (c.load == null) continue
    delete c.load.startAtMs
    delete c.load.stopAtMs
    if (window.startAtMs !== undefined) c.load.startAtMs = window.startAtMs
    if (window.stopAtMs !== undefined) c.load.stopAtMs = window.stopAtMs
  }
  await writeGenesisCanisters(path, g)
}
