/**
 * The fault-scenario harness: runs a multi-process testnet under the XNet
 * load workload, lets a scenario inject faults while the traffic flows, and
 * ends with the checks every scenario shares (nothing lost, no sequence
 * errors, every node of a subnet at the same certified state root).
 *
 * Environment:
 * - ICNET_KEEP_FAULTS: keep each scenario's testnet directory (it is kept
 *   anyway when the run failed) and show progress live.
 * - ICNET_FAULTS_RESULTS=<dir>: `recordResult` writes `<dir>/<name>.json`.
 */
import assert from 'node:assert/strict'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  cliMain, openTestnet, probeNode, runTestnet, setNodeFaults,
  type Health, type ReplicaFaults, type RunSummary, type TestnetDir, type TestnetSupervisor
} from '@icnet/replica'

export type { ReplicaFaults }

export interface Scenario {
  name: string
  /** First TCP port; a testnet of n nodes in all uses basePort .. basePort + 2n - 1. */
  basePort: number
  /** Default 2. */
  subnets?: number
  /** Nodes per subnet, default 4. */
  nodes?: number
  /** Requests per round per subnet, default 10. */
  rate?: number
  /** Seconds of traffic, default 25. */
  durationS?: number
  /** Heights between checkpoints (the registry default when unset). */
  checkpointInterval?: number
  /** Fault hooks per node name ("<subnet>-<node>"). */
  faults?: Record<string, ReplicaFaults>
  /** Runs once every node answers, while the traffic starts; the drain waits for it, and its error fails the scenario. */
  chaos?: (ctx: ScenarioContext) => Promise<void>
  /** Keep the traffic on until every subnet executed this many heights with it. */
  minTrafficHeights?: number
  /** Seconds allowed after the traffic for every request to be answered (default 120; the run goes on as soon as all are). */
  drainS?: number
}

export interface ScenarioContext {
  dir: string
  sup: TestnetSupervisor
  testnet: TestnetDir
  /** The highest executed height among the running nodes of a subnet (0 if none answers). */
  heightOf: (subnetIndex: number) => Promise<number>
  /** Waits until `heightOf(subnetIndex) >= height`; throws after `timeoutMs` (default 120 s). */
  waitHeight: (subnetIndex: number, height: number, timeoutMs?: number) => Promise<void>
  /** One node's `/metrics` text. */
  metrics: (node: string) => Promise<string>
  /** A timeline line (shown live with ICNET_KEEP_FAULTS, and with a failure). */
  log: (msg: string) => void
  /** Aborted when the run ended (every node stopped): a chaos step still waiting gives up. */
  signal: AbortSignal
}

export interface ScenarioResult {
  name: string
  summary: RunSummary
  dir: string
  /** Every node's `/metrics` text after the drain, by node name. */
  metricsAtEnd: Map<string, string>
  /** Scenario-specific figures (recorded by `recordResult`). */
  extra: Record<string, unknown>
  /** The scenario's timeline and the last progress lines. */
  timeline: string[]
}

/** A node given any misbehaviour (the admin routes alone leave it honest). */
function isByzantine (f: ReplicaFaults): boolean {
  return f.xnetSlices !== undefined || f.stateSyncChunks !== undefined || f.gossipFloodPerS !== undefined
}

const sleep = async (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))
const keep = (): boolean => process.env.ICNET_KEEP_FAULTS !== undefined
/** Progress lines kept for a failure report. */
const PROGRESS_KEPT = 12
/** How often `waitHeight` polls. */
const POLL_MS = 500

/** Places `replica.faults` in each named node's config file. */
async function writeFaults (testnet: TestnetDir, faults: Record<string, ReplicaFaults>): Promise<void> {
  for (const [name, f] of Object.entries(faults)) {
    const node = testnet.nodes.find(n => n.name === name)
    if (node == null) throw new RangeError(`scenario faults name node ${name}, which the testnet does not have`)
    await setNodeFaults(node.configPath, f)
  }
}

async function scrape (testnet: TestnetDir, name: string): Promise<string> {
  const node = testnet.nodes.find(n => n.name === name)
  if (node?.config.http == null) throw new RangeError(`node ${name} has no HTTP endpoint`)
  const res = await fetch(`http://${node.config.http.host}:${node.config.http.port}/metrics`, { signal: AbortSignal.timeout(5_000) })
  if (!res.ok) throw new Error(`${name}/metrics answered ${res.status}`)
  return await res.text()
}

/**
 * Creates the testnet in a temporary directory, runs it with the scenario's
 * faults and chaos, scrapes every node's metrics after the drain, and removes
 * the directory (unless ICNET_KEEP_FAULTS is set or the run failed).
 */
export async function runScenario (s: Scenario): Promise<ScenarioResult> {
  const dir = await mkdtemp(join(tmpdir(), `icnet-fault-${s.name}-`))
  const started = Date.now()
  const timeline: string[] = []
  const progress: string[] = []
  const log = (msg: string): void => {
    const line = `[${s.name} +${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}`
    timeline.push(line)
    if (keep()) console.log(line)
  }
  let failed = true
  try {
    await cliMain(['testnet', 'init', '--subnets', String(s.subnets ?? 2), '--nodes', String(s.nodes ?? 4), '--dir', dir,
      '--canisters', 'xnet-load', '--rate', String(s.rate ?? 10), '--base-port', String(s.basePort),
      '--unit-delay-ms', '150', '--system-subnets', '0',
      ...(s.checkpointInterval !== undefined ? ['--checkpoint-interval', String(s.checkpointInterval)] : [])], { log: () => {} })
    if (s.faults !== undefined) await writeFaults(await openTestnet(dir), s.faults)
    log(`testnet in ${dir}`)

    const metricsAtEnd = new Map<string, string>()
    const abort = new AbortController()
    let chaos: Promise<void> | undefined
    let chaosError: unknown
    let supervisor: TestnetSupervisor | undefined
    const ended = new AbortController()
    // The drain waits for the chaos too: a node it restarts late still catches up before the checks.
    let chaosSettled!: () => void
    const settle = new Promise<void>(resolve => { chaosSettled = resolve })
    const summary = await runTestnet({
      dir,
      durationS: s.durationS ?? 25,
      drainS: s.drainS ?? 120,
      ...(s.minTrafficHeights !== undefined ? { minTrafficHeights: s.minTrafficHeights } : {}),
      signal: abort.signal,
      settle,
      // A node given a misbehaviour is byzantine: the agreement is checked among the honest ones.
      byzantine: Object.entries(s.faults ?? {}).filter(([, f]) => isByzantine(f)).map(([name]) => name),
      onProgress: (lines: string[]) => {
        const at = `+${((Date.now() - started) / 1000).toFixed(0)}s`
        for (const l of lines) {
          progress.push(`${at} ${l}`)
          if (keep()) console.log(`[${s.name}] ${l}`)
        }
        progress.splice(0, Math.max(0, progress.length - PROGRESS_KEPT))
      },
      onRunning: (sup: TestnetSupervisor) => {
        supervisor = sup
        log('every node answers')
        if (s.chaos === undefined) { chaosSettled(); return }
        const ctx = scenarioContext(dir, sup, log, ended.signal)
        // Not awaited here: runTestnet starts the traffic only once onRunning returns.
        chaos = s.chaos(ctx).catch(err => {
          chaosError = err
          log(`chaos failed: ${(err as Error).message}`)
          abort.abort()
        }).finally(chaosSettled)
      },
      onDrained: async (sup: TestnetSupervisor) => {
        await Promise.all(sup.testnet.nodes.map(async n => {
          try { metricsAtEnd.set(n.name, await scrape(sup.testnet, n.name)) } catch (err) { log(`metrics of ${n.name}: ${(err as Error).message}`) }
        }))
      }
    }).finally(() => { ended.abort() })
    await chaos
    // A chaos step still running when the run ended may have started a node after the supervisor stopped them all.
    await supervisor?.stopAll()
    if (chaosError !== undefined) throw chaosError
    log(`done: ${summary.ok ? 'ok' : summary.problems.join('; ')}`)
    failed = !summary.ok
    return { name: s.name, summary, dir, metricsAtEnd, extra: {}, timeline: [...timeline, ...progress] }
  } finally {
    if (failed && !keep()) console.log(`fault scenario ${s.name} failed; its testnet is kept in ${dir}\n${[...timeline, ...progress].join('\n')}`)
    if (!failed && !keep()) await rm(dir, { recursive: true, force: true })
  }
}

function scenarioContext (dir: string, sup: TestnetSupervisor, log: (msg: string) => void, signal: AbortSignal): ScenarioContext {
  const heightOf = async (subnetIndex: number): Promise<number> => {
    const probes = await sup.probeAll()
    return Math.max(0, ...probes.filter(p => p.subnetIndex === subnetIndex).map(p => p.health?.height ?? 0))
  }
  return {
    dir,
    sup,
    testnet: sup.testnet,
    heightOf,
    waitHeight: async (subnetIndex, height, timeoutMs = 120_000) => {
      const until = Date.now() + timeoutMs
      for (;;) {
        if (signal.aborted) throw new Error(`the run ended before subnet ${subnetIndex} reached height ${height}`)
        const h = await heightOf(subnetIndex)
        if (h >= height) return
        if (Date.now() > until) throw new Error(`subnet ${subnetIndex} did not reach height ${height} within ${timeoutMs} ms (at ${h})`)
        await sleep(POLL_MS)
      }
    },
    metrics: async node => scrape(sup.testnet, node),
    log,
    signal
  }
}

/** One node's `/health` answer, or undefined while it does not answer. */
export async function nodeHealth (ctx: ScenarioContext, name: string): Promise<Health | undefined> {
  const node = ctx.testnet.nodes.find(n => n.name === name)
  if (node == null) throw new RangeError(`no node ${name}`)
  return (await probeNode(node)).health
}

/**
 * Polls one node's `/health` (every 250 ms) until `done` holds for it; returns
 * the milliseconds waited and that answer. Fails after `timeoutMs`, or when the
 * run ends, saying `what` and where the node stood (`describe` of its last answer).
 */
export async function waitNodeHealth (ctx: ScenarioContext, name: string, done: (h: Health) => boolean, opts: {
  timeoutMs: number, what: string, describe: (h: Health | undefined) => string
}): Promise<{ ms: number, health: Health }> {
  const t0 = Date.now()
  let last: Health | undefined
  for (;;) {
    if (ctx.signal.aborted) throw new Error(`the run ended before ${name} ${opts.what}`)
    last = await nodeHealth(ctx, name) ?? last
    if (last !== undefined && done(last)) return { ms: Date.now() - t0, health: last }
    if (Date.now() - t0 > opts.timeoutMs) throw new Error(`${name} did not ${opts.what} within ${opts.timeoutMs} ms (at ${opts.describe(last)})`)
    await sleep(250)
  }
}

/**
 * The checks every scenario ends with: every request got exactly one reply or
 * reject, no sequence errors, every node of each subnet (restarted ones
 * included) answers, and its honest nodes (byzantine ones left out) have the
 * same state root at a common certified height.
 */
export function assertNothingLost (r: ScenarioResult): void {
  const s = r.summary
  const context = `\n${r.timeline.join('\n')}`
  assert.ok(s.sent > 0, `no request was sent${context}`)
  assert.equal(s.sent, s.replied + s.rejected, `${s.sent - s.replied - s.rejected} requests without an answer: ${s.problems.join('; ')}${context}`)
  assert.equal(s.seqErrors, 0, `sequence errors${context}`)
  for (const x of s.subnets) {
    assert.ok(x.sent > 0 && x.replied > 0, `subnet ${x.subnetIndex} sent and got replies${context}`)
    assert.equal(x.nodesUp, x.nodes, `subnet ${x.subnetIndex}: every node answers${context}`)
    assert.equal(x.agreedRoots, 1, `subnet ${x.subnetIndex}: ${x.agreedRoots} state roots at height ${x.agreedHeight}${context}`)
    assert.ok(x.agreedHeight > 0, `subnet ${x.subnetIndex}: a common certified height${context}`)
  }
  assert.ok(s.ok, `${s.problems.join('; ')}${context}`)
}

/** Parses `name{a="x",b="y"} 12` (labels optional). */
function parseSample (line: string): { name: string, labels: Record<string, string>, value: number } | undefined {
  const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line)
  if (m === null) return undefined
  const labels: Record<string, string> = {}
  for (const l of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!.replace(/\\(.)/g, '$1')
  return { name: m[1]!, labels, value: Number(m[4]) }
}

/** The sum of the series of `name` whose labels include `labels` in a Prometheus text exposition; 0 if none. */
/** The Prometheus text a node served after the drain (fails the scenario if it was not scraped). */
export function metricsOf (r: ScenarioResult, node: string): string {
  const text = r.metricsAtEnd.get(node)
  assert.ok(text !== undefined, `metrics of ${node} after the drain`)
  return text
}

export function metricValue (promText: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0
  for (const line of promText.split('\n')) {
    if (line.startsWith('#') || !line.startsWith(name)) continue
    const sample = parseSample(line)
    if (sample?.name !== name || !Number.isFinite(sample.value)) continue
    if (Object.entries(labels).every(([k, v]) => sample.labels[k] === v)) sum += sample.value
  }
  return sum
}

/** The summary figures of a run plus the scenario's own. */
export function resultFigures (r: ScenarioResult): Record<string, unknown> {
  const s = r.summary
  return {
    name: r.name,
    ok: s.ok,
    sent: s.sent,
    replied: s.replied,
    rejected: s.rejected,
    unanswered: s.sent - s.replied - s.rejected,
    seqErrors: s.seqErrors,
    seqGaps: s.seqGaps,
    latencyMeanMs: Math.round(s.latencyMs.mean),
    latencyP99Ms: Math.round(s.latencyMs.p99),
    roundsPerSecond: Number(s.roundsPerSecond.toFixed(2)),
    trafficS: Number(s.trafficS.toFixed(1)),
    subnets: s.subnets.map(x => ({ subnet: x.subnetIndex, height: x.height, trafficHeights: x.trafficHeights, agreedHeight: x.agreedHeight, agreedRoots: x.agreedRoots })),
    problems: s.problems,
    ...r.extra
  }
}

/** Prints `fault-scenario <name> {json}`; with ICNET_FAULTS_RESULTS set, also writes `<dir>/<name>.json`. */
export async function recordResult (r: ScenarioResult): Promise<void> {
  const figures = resultFigures(r)
  console.log(`fault-scenario ${r.name} ${JSON.stringify(figures)}`)
  const out = process.env.ICNET_FAULTS_RESULTS
  if (out !== undefined && out !== '') {
    await mkdir(out, { recursive: true })
    await writeFile(join(out, `${r.name}.json`), `${JSON.stringify({ ...figures, at: new Date().toISOString() }, null, 2)}\n`)
  }
}
