import { setLoadWindow } from '../genesis-canisters.js'
import { httpUrlOf, openTestnet, type TestnetDir } from './layout.js'
import { latencySummary, progressLine, summarize, type SubnetProgress } from './progress.js'
import { TestnetSupervisor, type NodeProbe } from './supervisor.js'

export interface RunOptions {
  dir: string
  /** Seconds of traffic; undefined with keepRunning: until Ctrl-C. */
  durationS?: number
  keepRunning?: boolean
  /** Seconds allowed for processes to start and meet before traffic begins. */
  startupS?: number
  /** Seconds allowed after the traffic window for every request to get its answer. */
  drainS?: number
  /** Progress lines (default: console.log every 2 s). */
  onProgress?: (lines: string[], subnets: SubnetProgress[]) => void
  progressEveryMs?: number
  /** Called once every node answers /health (e.g. to kill and restart one in a test). */
  onRunning?: (sup: TestnetSupervisor) => void | Promise<void>
  signal?: AbortSignal
}

export interface RunSummary {
  durationS: number
  subnets: Array<SubnetProgress & { agreedHeight: number, agreedRoots: number }>
  sent: number
  replied: number
  rejected: number
  seqErrors: number
  inFlight: number
  latencyMs: { mean: number, p50: number, p99: number }
  roundsPerSecond: number
  /** Every request got exactly one answer, no sequence errors, and every node of a subnet has the same state root at a common height. */
  ok: boolean
  problems: string[]
  interim: boolean
}

const sleep = async (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

/** Asks every up node of a subnet for its state root at the highest height all of them kept; returns the height and the distinct roots. */
async function agreement (testnet: TestnetDir, probes: NodeProbe[], subnetIndex: number): Promise<{ height: number, roots: Set<string> }> {
  const up = probes.filter(p => p.subnetIndex === subnetIndex && p.health != null)
  const height = Math.min(...up.map(p => p.health!.certifiedHeight))
  const roots = new Set<string>()
  if (!Number.isFinite(height) || height <= 0) return { height: 0, roots }
  await Promise.all(up.map(async p => {
    const node = testnet.nodes.find(n => n.name === p.name)!
    try {
      const res = await fetch(`${httpUrlOf(node.config)}/api/state-root/${height}`, { signal: AbortSignal.timeout(2_000) })
      if (res.ok) roots.add(((await res.json()) as { stateRoot: string }).stateRoot)
      else roots.add(`missing@${p.name}`)
    } catch { roots.add(`unreachable@${p.name}`) }
  }))
  return { height, roots }
}

/**
 * Runs a testnet as one process per node: sets the traffic window, starts the
 * processes, shows progress, waits for the traffic to drain, checks that
 * nothing was lost and that the nodes of each subnet agree, stops everything.
 */
export async function runTestnet (opts: RunOptions): Promise<RunSummary> {
  const testnet = await openTestnet(opts.dir)
  const startupS = opts.startupS ?? 8
  const startAtMs = Date.now() + startupS * 1000
  const stopAtMs = opts.keepRunning === true || opts.durationS === undefined ? undefined : startAtMs + opts.durationS * 1000
  await setLoadWindow(testnet.canistersPath, { startAtMs, ...(stopAtMs !== undefined ? { stopAtMs } : {}) })
  const sup = new TestnetSupervisor(testnet)
  const problems: string[] = []
  sup.onExit = (name, code) => { problems.push(`node ${name} exited with code ${code}`) }
  const show = opts.onProgress ?? ((lines: string[]) => { for (const l of lines) console.log(l) })
  const every = opts.progressEveryMs ?? 2_000
  let aborted = opts.signal?.aborted === true
  opts.signal?.addEventListener('abort', () => { aborted = true })
  sup.startAll()
  let probes: NodeProbe[] = []
  let prev: { at: number, heights: Map<number, number> } | undefined
  let firstAt: { at: number, heights: Map<number, number> } | undefined
  let lastShown = 0
  let runningCalled = false
  try {
    const tick = async (): Promise<SubnetProgress[]> => {
      probes = await sup.probeAll()
      const now = Date.now()
      const subnets = summarize(probes, prev, now)
      if (now - lastShown >= every) {
        show(subnets.map(progressLine), subnets)
        lastShown = now
        prev = { at: now, heights: new Map(subnets.map(s => [s.subnetIndex, s.height])) }
      }
      if (firstAt == null && now >= startAtMs) firstAt = { at: now, heights: new Map(subnets.map(s => [s.subnetIndex, s.height])) }
      if (!runningCalled && probes.every(p => p.health != null)) {
        runningCalled = true
        await opts.onRunning?.(sup)
      }
      return subnets
    }
    // Traffic window (or until Ctrl-C).
    while (!aborted && (stopAtMs === undefined || Date.now() < stopAtMs)) {
      await tick()
      await sleep(1_000)
    }
    // Drain: every request answered.
    const drainUntil = Date.now() + (opts.drainS ?? 30) * 1000
    let subnets = await tick()
    while (!aborted && Date.now() < drainUntil && subnets.some(s => s.inFlight > 0 || s.sent !== s.replied + s.rejected)) {
      await sleep(1_000)
      subnets = await tick()
    }
    const endAt = Date.now()
    const withAgreement = await Promise.all(subnets.map(async s => {
      const a = await agreement(testnet, probes, s.subnetIndex)
      return { ...s, agreedHeight: a.height, agreedRoots: a.roots.size }
    }))
    const total = (k: 'sent' | 'replied' | 'rejected' | 'seqErrors' | 'inFlight'): number => subnets.reduce((n, s) => n + s[k], 0)
    const sent = total('sent')
    const replied = total('replied')
    const rejected = total('rejected')
    const seqErrors = total('seqErrors')
    if (sent !== replied + rejected) problems.push(`${sent - replied - rejected} requests without an answer`)
    if (seqErrors > 0) problems.push(`${seqErrors} sequence errors`)
    for (const s of withAgreement) {
      if (s.agreedRoots !== 1) problems.push(`subnet ${s.subnetIndex}: ${s.agreedRoots} different state roots at height ${s.agreedHeight}`)
      if (s.nodesUp !== s.nodes) problems.push(`subnet ${s.subnetIndex}: ${s.nodes - s.nodesUp} nodes not answering`)
    }
    if (aborted) problems.push('stopped before the run completed')
    const spanS = firstAt == null ? 0 : (endAt - firstAt.at) / 1000
    const rounds = firstAt == null || spanS === 0
      ? 0
      : subnets.reduce((n, s) => n + (s.height - (firstAt!.heights.get(s.subnetIndex) ?? 0)) / spanS, 0) / Math.max(1, subnets.length)
    return {
      durationS: opts.durationS ?? spanS,
      subnets: withAgreement,
      sent, replied, rejected, seqErrors,
      inFlight: total('inFlight'),
      latencyMs: latencySummary(probes),
      roundsPerSecond: rounds,
      ok: problems.length === 0,
      problems,
      interim: probes.some(p => p.health?.stateMachine === 'interim-stream-load')
    }
  } finally {
    await sup.stopAll()
  }
}

export function summaryTable (s: RunSummary): string {
  const rows: Array<[string, string]> = [
    ['rounds/s (mean per subnet)', s.roundsPerSecond.toFixed(2)],
    ...s.subnets.map(x => [`subnet ${x.subnetIndex} ${x.subnetId.slice(0, 5)}${x.root ? ' (root)' : ''} height`, `${x.height} (nodes agree at ${x.agreedHeight}: ${x.agreedRoots === 1 ? 'yes' : 'NO'})`] as [string, string]),
    ['requests sent', String(s.sent)],
    ['requests replied', String(s.replied)],
    ['requests rejected', String(s.rejected)],
    ['unanswered', String(s.sent - s.replied - s.rejected)],
    ['sequence errors', String(s.seqErrors)],
    ['latency mean / p50 / p99', `${s.latencyMs.mean.toFixed(0)} / ${s.latencyMs.p50.toFixed(0)} / ${s.latencyMs.p99.toFixed(0)} ms`],
    ['result', s.ok ? 'OK: nothing lost' : `FAILED: ${s.problems.join('; ')}`]
  ]
  const w = Math.max(...rows.map(r => r[0].length))
  const line = `+${'-'.repeat(w + 2)}+${'-'.repeat(Math.max(...rows.map(r => r[1].length)) + 2)}+`
  return [line, ...rows.map(([k, v]) => `| ${k.padEnd(w)} | ${v.padEnd(line.length - w - 7)} |`), line].join('\n')
}
