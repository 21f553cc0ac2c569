import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { initTestnet } from '@icnet/registry'
import { principalEquals } from '@icnet/types'
import { loadReplicaConfig } from '../config.js'
import { UsageError } from '../errors.js'
import { DEFAULT_LOAD_PAYLOAD_BYTES, DEFAULT_LOAD_RATE, isGenesisModule, planGenesisCanisters, writeGenesisCanisters, type GenesisModule } from '../genesis-canisters.js'
import { Replica } from '../replica.js'
import { httpUrlOf, openTestnet } from '../testnet/layout.js'
import { runTestnet, summaryTable, type RunSummary } from '../testnet/run.js'
import { probeNode } from '../testnet/supervisor.js'
import { parseFlags, parsePerSubnet } from './args.js'
import { CANISTER_USAGE } from './canister-usage.js'

export const USAGE = `usage: icnet <command> [flags]

  testnet init   --subnets S --nodes N --dir D [--canisters xnet-load] [--rate R] [--payload-size B]
                 [--base-port P] [--host H] [--unit-delay-ms MS] [--checkpoint-interval K]
                 [--system-subnets K]   (the first K subnets are system subnets; default 1, the root)
                 [--stream-max-messages N]  (messages an XNet stream holds before outputs wait; default 10000)
                 [--round-budget I]         (instructions per round; default 4000000000)
                 [--xnet-payload-bytes B]   (XNet slice bytes per block, so messages inducted per round; default 458752)
                 --rate, --round-budget and --xnet-payload-bytes take one value for every subnet, or
                 SUBNET=VALUE[,SUBNET=VALUE...] by subnet index, e.g. a slow receiver:
                 --rate 0=20,1=0 --round-budget 1=20000000 --xnet-payload-bytes 1=8192
  testnet up     --dir D [--duration S | --keep-running] [--json]
  testnet status --dir D [--json]
  replica        --config FILE
${CANISTER_USAGE}
  bench xnet     [--subnets 3] [--nodes 4] [--rate R] [--duration 60] [--payload-size 1024] [--dir D] [--json]
                 [--unit-delay-ms MS] [--round-budget I] [--xnet-payload-bytes B]
                 [--search [--max-rate 10000] [--max-runs 8]]   (from --rate, double then bisect: the highest
                 rate with mean latency <= 2 s and failures < 5%; one fresh testnet per run, 30 s each by default)
`

type Out = { log: (s: string) => void }

export interface InitFlags {
  subnets: number
  nodes: number
  dir: string
  canisters?: string
  rate?: number
  /** Load rate per subnet index, where it differs from `rate`. */
  ratePerSubnet?: Array<number | undefined>
  payloadSize?: number
  basePort?: number
  host?: string
  unitDelayMs?: number
  checkpointInterval?: number
  /**
   * How many of the first subnets are system subnets (default 1: the root, as on
   * the IC). Streams towards a system subnet hold at most 100 messages (IC:
   * SYSTEM_SUBNET_STREAM_MSG_LIMIT), so load runs use 0, like the IC's XNet SLO
   * tests, which load application subnets only.
   */
  systemSubnets?: number
  /** Messages an outgoing XNet stream holds before outputs wait in output queues (every subnet). */
  streamMaxMessages?: number
  /** Instructions per round, per subnet index (a small budget makes a slow subnet). */
  roundBudget?: Array<number | undefined>
  /** XNet slice bytes per block, per subnet index (a small one: a subnet that inducts few messages per round). */
  xnetPayloadBytes?: Array<number | undefined>
}

/** `icnet testnet init`: registry genesis plus genesis canisters on every subnet. */
export async function testnetInit (f: InitFlags, out: Out): Promise<void> {
  const modules: GenesisModule[] = []
  for (const m of (f.canisters ?? '').split(',').filter(Boolean)) {
    if (!isGenesisModule(m)) throw new UsageError(`testnet init: unknown canister module "${m}" (known: xnet-load)`)
    modules.push(m)
  }
  const layout = await initTestnet({
    subnets: f.subnets,
    nodesPerSubnet: f.nodes,
    dir: f.dir,
    ...(f.basePort !== undefined ? { basePort: f.basePort } : {}),
    ...(f.host !== undefined ? { host: f.host } : {}),
    types: Array.from({ length: f.subnets }, (_, i) => i < (f.systemSubnets ?? 1) ? 'system' as const : 'application' as const),
    params: {
      ...(f.unitDelayMs !== undefined ? { unitDelayMs: f.unitDelayMs } : {}),
      ...(f.checkpointInterval !== undefined ? { checkpointInterval: f.checkpointInterval } : {}),
      ...(f.streamMaxMessages !== undefined ? { streamMaxMessages: f.streamMaxMessages } : {})
    },
    subnetParams: Array.from({ length: f.subnets }, (_, i) => ({
      ...(f.roundBudget?.[i] !== undefined ? { maxInstructionsPerRound: f.roundBudget[i] } : {}),
      ...(f.xnetPayloadBytes?.[i] !== undefined ? { maxXNetPayloadBytes: f.xnetPayloadBytes[i] } : {})
    }))
  })
  const plan = planGenesisCanisters(layout.registry, modules, {
    rate: f.rate ?? DEFAULT_LOAD_RATE,
    payloadSize: f.payloadSize ?? DEFAULT_LOAD_PAYLOAD_BYTES,
    ...(f.ratePerSubnet !== undefined ? { ratePerSubnet: f.ratePerSubnet } : {})
  })
  await writeGenesisCanisters(join(resolve(f.dir), 'canisters.json'), plan)
  const system = Math.min(f.subnets, f.systemSubnets ?? 1)
  out.log(`testnet in ${resolve(f.dir)}: ${f.subnets} subnets x ${f.nodes} nodes (${system} system, ${f.subnets - system} application), registry version ${layout.registry.version}`)
  for (const c of plan.canisters) out.log(`  canister ${c.canisterId} (${c.module}) on subnet ${c.subnetId}`)
  out.log(`start it with: icnet testnet up --dir ${f.dir}`)
}

export async function testnetStatus (dir: string, json: boolean, out: Out): Promise<void> {
  const t = await openTestnet(dir)
  const root = t.registry.rootSubnetId()
  const rows = await Promise.all(t.nodes.map(async n => {
    const probe = await probeNode(n)
    return {
      node: n.name,
      node_id: n.config.nodeId,
      subnet_id: n.config.subnetId,
      root_subnet: principalEquals(root, t.registry.subnetOfNode(n.config.nodeId)!),
      http_url: httpUrlOf(n.config) ?? null,
      health: probe.health ?? null
    }
  }))
  if (json) { out.log(JSON.stringify(rows)); return }
  for (const r of rows) {
    const h = r.health
    out.log(`${r.node.padEnd(5)} ${r.subnet_id.slice(0, 11)}${r.root_subnet ? ' root' : '     '} ${String(r.http_url).padEnd(24)} ` +
      (h == null ? 'down' : `${h.status} height ${h.height} certified ${h.certifiedHeight} peers ${h.peers}`))
  }
}

export async function runReplica (configPath: string): Promise<void> {
  const config = await loadReplicaConfig(configPath)
  const replica = await Replica.start({ config })
  let stopping = false
  const stop = (signal: string): void => {
    if (stopping) return
    stopping = true
    replica.log.info('shutting down', { signal })
    const force = setTimeout(() => { process.exit(1) }, 15_000)
    force.unref()
    replica.stop().then(() => { process.exit(0) }, err => { replica.log.error('stop failed', { err }); process.exit(1) })
  }
  process.on('SIGINT', () => { stop('SIGINT') })
  process.on('SIGTERM', () => { stop('SIGTERM') })
}

/** Ctrl-C stops the run (every process is stopped cleanly by the run itself). */
function interruptible (): { signal: AbortSignal, done: () => void } {
  const ac = new AbortController()
  const on = (): void => { ac.abort() }
  process.on('SIGINT', on)
  process.on('SIGTERM', on)
  return { signal: ac.signal, done: () => { process.off('SIGINT', on); process.off('SIGTERM', on) } }
}

export async function testnetUp (f: { dir: string, duration?: number, keepRunning?: boolean, json?: boolean }, out: Out): Promise<boolean> {
  const ctl = interruptible()
  try {
    const keep = f.keepRunning === true || f.duration === undefined
    if (keep) out.log('running until Ctrl-C')
    const summary = await runTestnet({
      dir: f.dir,
      ...(f.duration !== undefined ? { durationS: f.duration } : {}),
      keepRunning: keep,
      signal: ctl.signal,
      ...(f.json === true ? { onProgress: () => {} } : {})
    })
    if (f.json === true) out.log(JSON.stringify(summary, (_k, v) => v instanceof Set ? [...v] : v))
    else out.log(summaryTable(summary))
    return summary.ok || keep
  } finally {
    ctl.done()
  }
}

export interface BenchXnetFlags {
  subnets: number
  nodes: number
  rate: number
  duration: number
  payloadSize: number
  dir?: string
  json: boolean
  basePort?: number
  /** `--round-budget`-style per-subnet values passed to `testnet init`. */
  roundBudget?: Array<number | undefined>
  xnetPayloadBytes?: Array<number | undefined>
  unitDelayMs?: number
}

/** The `bench xnet --json` contract. */
export interface BenchXnetResult {
  rate: number
  requests_per_s: number
  sent: number
  replied: number
  rejected: number
  failures_pct: number
  seq_errors: number
  seq_gaps: number
  latency_ms: { mean: number, p50: number, p99: number }
  rounds_per_s: number
  subnets: number
  nodes: number
  payload_bytes: number
  traffic_s: number
  /** Nothing lost and the nodes of each subnet agree (the runner's checks). */
  ok: boolean
}

/** One run: a fresh testnet with the load canister at `f.rate`, traffic for `f.duration` s, drained and checked. */
async function benchXnetRun (f: BenchXnetFlags, out: Out, signal: AbortSignal): Promise<{ result: BenchXnetResult, summary: RunSummary }> {
  const dir = f.dir ?? await mkdtemp(join(tmpdir(), 'icnet-bench-'))
  try {
    // Application subnets only, as in the IC's XNet SLO tests (a system subnet caps its streams at 100 messages).
    await testnetInit({
      subnets: f.subnets, nodes: f.nodes, dir, canisters: 'xnet-load', rate: f.rate, payloadSize: f.payloadSize, systemSubnets: 0,
      ...(f.basePort !== undefined ? { basePort: f.basePort } : {}),
      ...(f.roundBudget !== undefined ? { roundBudget: f.roundBudget } : {}),
      ...(f.xnetPayloadBytes !== undefined ? { xnetPayloadBytes: f.xnetPayloadBytes } : {}),
      ...(f.unitDelayMs !== undefined ? { unitDelayMs: f.unitDelayMs } : {})
    }, { log: f.json ? () => {} : out.log })
    const s = await runTestnet({ dir, durationS: f.duration, signal, ...(f.json ? { onProgress: () => {} } : {}) })
    const failures = s.sent === 0 ? 0 : (s.rejected + (s.sent - s.replied - s.rejected)) / s.sent * 100
    const result: BenchXnetResult = {
      rate: f.rate,
      requests_per_s: s.trafficS > 0 ? s.sent / s.trafficS : 0,
      sent: s.sent,
      replied: s.replied,
      rejected: s.rejected,
      failures_pct: failures,
      seq_errors: s.seqErrors,
      seq_gaps: s.seqGaps,
      latency_ms: { mean: s.latencyMs.mean, p50: s.latencyMs.p50, p99: s.latencyMs.p99 },
      rounds_per_s: s.roundsPerSecond,
      subnets: f.subnets,
      nodes: f.nodes,
      payload_bytes: f.payloadSize,
      traffic_s: s.trafficS,
      ok: s.ok
    }
    return { result, summary: s }
  } finally {
    if (f.dir === undefined) await rm(dir, { recursive: true, force: true })
  }
}

/** `icnet bench xnet`: a fresh testnet with the load canister, one run, the contract's JSON. */
export async function benchXnet (f: BenchXnetFlags, out: Out): Promise<boolean> {
  const ctl = interruptible()
  try {
    const { result, summary } = await benchXnetRun(f, out, ctl.signal)
    if (!f.json) out.log(summaryTable(summary))
    out.log(JSON.stringify(result))
    return summary.ok
  } finally {
    ctl.done()
  }
}

/** What a rate must meet in `bench xnet --search` (the target of the XNet benchmark). */
export const SEARCH_MAX_MEAN_LATENCY_MS = 2_000
export const SEARCH_MAX_FAILURES_PCT = 5

export interface BenchSearchFlags extends BenchXnetFlags {
  /** Largest rate tried. */
  maxRate: number
  /** Most runs (each a fresh testnet). */
  maxRuns: number
}

export interface SearchStep { rate: number, requests_per_s: number, mean_ms: number, failures_pct: number, ok: boolean }

/**
 * Whether a run meets the search's bar: mean latency ≤ 2 s, failures < 5 %, no
 * sequence error, nothing lost, and some replies at all.
 */
export function meetsSearchBar (r: BenchXnetResult): boolean {
  return r.ok && r.replied > 0 && r.seq_errors === 0 && r.latency_ms.mean <= SEARCH_MAX_MEAN_LATENCY_MS && r.failures_pct < SEARCH_MAX_FAILURES_PCT
}

/**
 * The rates `bench xnet --search` tries, given the outcomes so far: double from
 * the start rate while it passes (halve while it fails), then bisect between
 * the highest passing and the lowest failing rate until they are within 15 %
 * (or 1) of each other. Undefined when the search is done.
 */
export function nextSearchRate (start: number, maxRate: number, tried: ReadonlyArray<{ rate: number, ok: boolean }>): number | undefined {
  if (tried.length === 0) return Math.min(start, maxRate)
  const passed = tried.filter(t => t.ok).map(t => t.rate)
  const failed = tried.filter(t => !t.ok).map(t => t.rate)
  const lo = passed.length === 0 ? undefined : Math.max(...passed)
  const hi = failed.length === 0 ? undefined : Math.min(...failed)
  if (hi === undefined) return lo! >= maxRate ? undefined : Math.min(maxRate, lo! * 2)
  if (lo === undefined) return hi <= 1 ? undefined : Math.max(1, Math.floor(hi / 2))
  if (hi - lo <= Math.max(1, Math.floor(lo * 0.15))) return undefined
  return Math.floor((lo + hi) / 2)
}

/** `icnet bench xnet --search`: the highest rate that keeps mean latency ≤ 2 s and failures < 5 %. */
export async function benchXnetSearch (f: BenchSearchFlags, out: Out): Promise<boolean> {
  const ctl = interruptible()
  const steps: Array<SearchStep & { result: BenchXnetResult }> = []
  try {
    for (let rate = nextSearchRate(f.rate, f.maxRate, steps); rate !== undefined && steps.length < f.maxRuns && !ctl.signal.aborted; rate = nextSearchRate(f.rate, f.maxRate, steps)) {
      const { result } = await benchXnetRun({ ...f, rate, json: true }, out, ctl.signal)
      const step = { rate, requests_per_s: result.requests_per_s, mean_ms: result.latency_ms.mean, failures_pct: result.failures_pct, ok: meetsSearchBar(result), result }
      steps.push(step)
      // One line per run (the full result), so a long search shows where it is.
      out.log(JSON.stringify({ step: steps.length, ...result, meets_bar: step.ok }))
    }
    const best = steps.filter(s => s.ok).sort((a, b) => b.rate - a.rate)[0]
    out.log(JSON.stringify({
      search: steps.map(({ result: _r, ...s }) => s),
      best_rate: best?.rate ?? null,
      best_requests_per_s: best?.requests_per_s ?? null,
      bar: { mean_ms: SEARCH_MAX_MEAN_LATENCY_MS, failures_pct: SEARCH_MAX_FAILURES_PCT },
      subnets: f.subnets,
      nodes: f.nodes,
      payload_bytes: f.payloadSize,
      duration_s: f.duration
    }))
    return best !== undefined
  } finally {
    ctl.done()
  }
}

/** Dispatches argv (without node and script) to a command; resolves with the exit code. */
export async function main (argv: string[], out: Out = { log: s => { console.log(s) } }): Promise<number> {
  const [a, b, ...rest] = argv
  if (a === undefined || a === '--help' || a === 'help') { out.log(USAGE); return a === undefined ? 2 : 0 }
  if (a === 'testnet' && b === 'init') {
    const f = parseFlags(rest, {
      subnets: { type: 'number', min: 1, max: 64, required: true },
      nodes: { type: 'number', min: 1, max: 64, required: true },
      dir: { type: 'string', required: true },
      canisters: { type: 'string' },
      rate: { type: 'string' },
      'payload-size': { type: 'number', min: 16, max: 65536 },
      'base-port': { type: 'number', min: 1024, max: 65000 },
      host: { type: 'string' },
      'unit-delay-ms': { type: 'number', min: 1, max: 60_000 },
      'checkpoint-interval': { type: 'number', min: 1 },
      'system-subnets': { type: 'number', min: 0, max: 64 },
      'stream-max-messages': { type: 'number', min: 1, max: 1_000_000 },
      'round-budget': { type: 'string' },
      'xnet-payload-bytes': { type: 'string' }
    }, 'testnet init')
    const subnets = f.subnets as number
    const perSubnet = (flag: string, range: { min: number, max: number }): Array<number | undefined> | undefined =>
      f[flag] === undefined ? undefined : parsePerSubnet(f[flag] as string, flag, subnets, range)
    const rates = perSubnet('rate', { min: 0, max: 100_000 })
    const roundBudget = perSubnet('round-budget', { min: 0, max: 1e15 })
    const xnetPayloadBytes = perSubnet('xnet-payload-bytes', { min: 1, max: 64 * 1024 * 1024 })
    await testnetInit({
      subnets, nodes: f.nodes as number, dir: f.dir as string,
      ...(f.canisters !== undefined ? { canisters: f.canisters as string } : {}),
      ...(rates !== undefined ? { ratePerSubnet: rates } : {}),
      ...(f['stream-max-messages'] !== undefined ? { streamMaxMessages: f['stream-max-messages'] as number } : {}),
      ...(roundBudget !== undefined ? { roundBudget } : {}),
      ...(xnetPayloadBytes !== undefined ? { xnetPayloadBytes } : {}),
      ...(f['payload-size'] !== undefined ? { payloadSize: f['payload-size'] as number } : {}),
      ...(f['base-port'] !== undefined ? { basePort: f['base-port'] as number } : {}),
      ...(f.host !== undefined ? { host: f.host as string } : {}),
      ...(f['unit-delay-ms'] !== undefined ? { unitDelayMs: f['unit-delay-ms'] as number } : {}),
      ...(f['checkpoint-interval'] !== undefined ? { checkpointInterval: f['checkpoint-interval'] as number } : {}),
      ...(f['system-subnets'] !== undefined ? { systemSubnets: f['system-subnets'] as number } : {})
    }, out)
    return 0
  }
  if (a === 'testnet' && b === 'up') {
    const f = parseFlags(rest, { dir: { type: 'string', required: true }, duration: { type: 'number', min: 1 }, 'keep-running': { type: 'boolean' }, json: { type: 'boolean' } }, 'testnet up')
    if (f.duration !== undefined && f['keep-running'] === true) throw new UsageError('testnet up: --duration and --keep-running exclude each other')
    const ok = await testnetUp({ dir: f.dir as string, ...(f.duration !== undefined ? { duration: f.duration as number } : {}), keepRunning: f['keep-running'] === true, json: f.json === true }, out)
    return ok ? 0 : 1
  }
  if (a === 'testnet' && b === 'status') {
    const f = parseFlags(rest, { dir: { type: 'string', required: true }, json: { type: 'boolean' } }, 'testnet status')
    await testnetStatus(f.dir as string, f.json === true, out)
    return 0
  }
  // Loaded on use: the agent costs every replica process about 0.2 s of start-up CPU otherwise.
  if (a === 'canister') return await (await import('./canister.js')).canisterMain(argv.slice(1), out)
  if (a === 'replica') {
    const f = parseFlags(b === undefined ? rest : [b, ...rest], { config: { type: 'string', required: true } }, 'replica')
    await runReplica(f.config as string)
    return -1 // keeps running until a signal
  }
  if (a === 'bench' && b === 'xnet') {
    const f = parseFlags(rest, {
      subnets: { type: 'number', min: 2, max: 16 },
      nodes: { type: 'number', min: 1, max: 16 },
      rate: { type: 'number', max: 100_000 },
      duration: { type: 'number', min: 1 },
      'payload-size': { type: 'number', min: 16, max: 65536 },
      dir: { type: 'string' },
      'base-port': { type: 'number', min: 1024, max: 65000 },
      'unit-delay-ms': { type: 'number', min: 1, max: 60_000 },
      'round-budget': { type: 'string' },
      'xnet-payload-bytes': { type: 'string' },
      json: { type: 'boolean' },
      search: { type: 'boolean' },
      'max-rate': { type: 'number', min: 1, max: 100_000 },
      'max-runs': { type: 'number', min: 1, max: 50 }
    }, 'bench xnet')
    const subnets = (f.subnets as number | undefined) ?? 3
    const search = f.search === true
    if (search && f.dir !== undefined) throw new UsageError('bench xnet: --search makes a fresh testnet per run, so it takes no --dir')
    if (!search && (f['max-rate'] !== undefined || f['max-runs'] !== undefined)) throw new UsageError('bench xnet: --max-rate and --max-runs go with --search')
    const roundBudget = f['round-budget'] === undefined ? undefined : parsePerSubnet(f['round-budget'] as string, 'round-budget', subnets, { min: 0, max: 1e15 })
    const xnetPayloadBytes = f['xnet-payload-bytes'] === undefined ? undefined : parsePerSubnet(f['xnet-payload-bytes'] as string, 'xnet-payload-bytes', subnets, { min: 1, max: 64 * 1024 * 1024 })
    const flags: BenchXnetFlags = {
      subnets,
      nodes: (f.nodes as number | undefined) ?? 4,
      rate: (f.rate as number | undefined) ?? DEFAULT_LOAD_RATE,
      // A search makes several runs: shorter ones by default.
      duration: (f.duration as number | undefined) ?? (search ? 30 : 60),
      payloadSize: (f['payload-size'] as number | undefined) ?? DEFAULT_LOAD_PAYLOAD_BYTES,
      json: f.json === true,
      ...(f.dir !== undefined ? { dir: f.dir as string } : {}),
      ...(f['base-port'] !== undefined ? { basePort: f['base-port'] as number } : {}),
      ...(f['unit-delay-ms'] !== undefined ? { unitDelayMs: f['unit-delay-ms'] as number } : {}),
      ...(roundBudget !== undefined ? { roundBudget } : {}),
      ...(xnetPayloadBytes !== undefined ? { xnetPayloadBytes } : {})
    }
    const ok = search
      ? await benchXnetSearch({ ...flags, maxRate: (f['max-rate'] as number | undefined) ?? 10_000, maxRuns: (f['max-runs'] as number | undefined) ?? 8 }, out)
      : await benchXnet(flags, out)
    return ok ? 0 : 1
  }
  throw new UsageError(`unknown command "${[a, b].filter(Boolean).join(' ')}"\n\n${USAGE}`)
}
