import { readFile, stat } from 'node:fs/promises'
import { writeFileAtomic } from '@icnet/registry'
import { encodeXnetLoadConfig } from '@icnet/execution'
import { Principal, canisterIdFromU64, type CanisterId } from '@icnet/types'
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
  /** For xnet-load: requests per round (over all targets) and their size; targets are the load canisters of the other subnets. The canister starts idle; the testnet runner configures it by ingress. */
  load?: { rate: number, payloadSize: number, targets: string[] }
}

export interface GenesisCanisters {
  version: 1
  canisters: GenesisCanister[]
}

/**
 * Genesis canisters for every subnet: the first canister id of each subnet's
 * range (the registry's routing table), so every node derives the same
 * installation at height 0. `ratePerSubnet[i]`, where given, replaces `rate`
 * for subnet i (0: a subnet that only answers).
 */
export function planGenesisCanisters (registry: Registry, modules: GenesisModule[], load: { rate: number, payloadSize: number, ratePerSubnet?: ReadonlyArray<number | undefined> }): GenesisCanisters {
  const subnets = registry.subnetIds()
  const firstId = (i: number): CanisterId => canisterIdFromU64(BigInt(i) * CANISTER_IDS_PER_SUBNET)
  const canisters: GenesisCanister[] = []
  for (const module of modules) {
    subnets.forEach((subnet, i) => {
      const entry: GenesisCanister = { subnetId: subnet.toText(), canisterId: firstId(i).toText(), module }
      if (module === 'xnet-load') {
        entry.load = { rate: load.ratePerSubnet?.[i] ?? load.rate, payloadSize: load.payloadSize, targets: subnets.map((_, j) => j).filter(j => j !== i).map(j => firstId(j).toText()) }
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
      c.load.targets.length <= 64 && c.load.targets.every((t: unknown) => typeof t === 'string'))) throw new TestnetLayoutError(`${path}: malformed load settings`)
  }
  return g as GenesisCanisters
}

/**
 * The `configure` argument of a subnet's load canister: its planned rate and
 * payload size (`rate` 0 stops the traffic), its targets, and a seed that
 * differs per subnet. Sent as an ingress message, so every node of the subnet
 * executes it at the same height.
 */
export function loadConfigureArg (c: GenesisCanister, rate = c.load?.rate ?? 0): Uint8Array {
  if (c.load == null) throw new TestnetLayoutError(`canister ${c.canisterId} has no load settings`)
  const seed = BigInt(c.canisterId.length) * 0x9E3779B97F4A7C15n + BigInt(Principal.fromText(c.canisterId).toUint8Array().reduce((n, b) => n * 31 + b, 7))
  return encodeXnetLoadConfig({ rate, payloadSize: c.load.payloadSize, seed: BigInt.asUintN(64, seed), targets: c.load.targets.map(t => Principal.fromText(t)) })
}
