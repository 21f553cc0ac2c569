import { loadConfigureArg, readGenesisCanisters, type GenesisCanister } from '../genesis-canisters.js'
import { toHex } from '@icnet/types'
import { httpUrlOf, openTestnet, type TestnetDir } from './layout.js'
import { latencySummary, progressLine, summarize, type SubnetProgress, type TrafficCounts } from './progress.js'
import { TestnetSupervisor, type NodeProbe } from './supervisor.js'

export interface RunOptions {
  dir: string
  /** Seconds of traffic; undefined with keepRunning: until Ctrl-C. */
  durationS?: number
  keepRunning?: boolean
  /** Seconds allowed for processes to start and every subnet to make progress before traffic begins (default 120; traffic starts as soon as they do). */
  startupS?: number
  /** Seconds allowed after the traffic window for every request to get its answer (default 120; the run goes on as soon as all are answered). */
  drainS?: number
  /** Keep the traffic on past `durationS` until every subnet executed this many heights with it (tests that need a number of rounds on a slow machine). */
  minTrafficHeights?: number
  /** Requests per round per subnet instead of the rate in the genesis canisters file. */
  rate?: number
  /** Progress lines (default: console.log every 2 s). */
  onProgress?: (lines: string[], subnets: SubnetProgress[]) => void
  progressEveryMs?: number
  /** Called once every node answers /health (e.g. to kill and restart one in a test). */
  onRunning?: (sup: TestnetSupervisor) => void | Promise<void>
  /** Byzantine nodes (by name): left out of the state agreement, which is a property of the honest nodes. */
  byzantine?: string[]
  /** Called after the drain and the agreement check, while every node still runs (e.g. to scrape their metrics). */
  onDrained?: (sup: TestnetSupervisor) => void | Promise<void>
  /**
   * The drain also waits for this to settle (within `drainS`): work that needs the
   * testnet running past the traffic, such as a fault scenario restarting a node
   * and waiting for it to catch up. The agreement check then includes that node.
   */
  settle?: Promise<unknown>
  signal?: AbortSignal
}

export interface RunSummary extends TrafficCounts {
  durationS: number
  subnets: Array<SubnetProgress & { agreedHeight: number, agreedRoots: number, trafficHeights: number }>
  latencyMs: { mean: number, p50: number, p99: number }
  roundsPerSecond: number
  /** Seconds between the heights at which the start and stop `configure` messages executed (the traffic window as the subnets saw it). */
  trafficS: number
  /** Every request got exactly one answer, no sequence errors, and every node of a subnet has the same state root at a common height. */
  ok: boolean
  problems: string[]
}

const sleep = async (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))
/** How long the state comparison waits for a node with no certified height yet (one that just installed a checkpoint). */
const AGREEMENT_WAIT_MS = 30_000

/** Asks every up node of a subnet for its state root at the highest height all of them kept; returns the height and the distinct roots. */
async function agreement (testnet: TestnetDir, probes: NodeProbe[], subnetIndex: number, byzantine: ReadonlySet<string>): Promise<{ height: number, roots: Set<string> }> {
  const up = probes.filter(p => p.subnetIndex === subnetIndex && p.health != null && !byzantine.has(p.name))
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

/** Submits one ingress message to every node of a subnet (any of them may make the next block); resolves with its request id once one node took it. */
async function submitToSubnet (testnet: TestnetDir, subnetIndex: number, body: { canisterId: string, method: string, arg: Uint8Array, nonce: string }): Promise<string | undefined> {
  const nodes = testnet.nodes.filter(n => n.subnetIndex === subnetIndex)
  const ids = await Promise.all(nodes.map(async n => {
    const base = httpUrlOf(n.config)
    if (base === undefined) return undefined
    try {
      const res = await fetch(`${base}/api/ingress`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ canisterId: body.canisterId, method: body.method, arg: toHex(body.arg), nonce: body.nonce }),
        signal: AbortSignal.timeout(5_000)
      })
      if (res.status !== 202) return undefined
      return ((await res.json()) as { requestId: string }).requestId
    } catch { return undefined }
  }))
  return ids.find(x => x !== undefined)
}

/** The height at which a subnet executed an ingress message (its status is terminal), or undefined. */
async function ingressDone (testnet: TestnetDir, subnetIndex: number, requestId: string): Promise<boolean> {
  for (const n of testnet.nodes.filter(x => x.subnetIndex === subnetIndex)) {
    const base = httpUrlOf(n.config)
    if (base === undefined) continue
    try {
      const res = await fetch(`${base}/api/ingress/${requestId}`, { signal: AbortSignal.timeout(2_000) })
      if (!res.ok) continue
      const st = (await res.json()) as { status: string }
      if (st.status === 'replied' || st.status === 'done') return true
      if (st.status === 'rejected') throw new Error(`configure ${requestId} was rejected`)
    } catch (err) { if ((err as Error).message.startsWith('configure')) throw err }
  }
  return false
}

/**
 * Runs a testnet as one process per node: starts the processes, waits until
 * every subnet makes progress, starts the load canisters' traffic with a
 * `configure` ingress message on each subnet, shows progress, stops the traffic
 * the same way, waits for it to drain, checks that nothing was lost and that
 * the nodes of each subnet agree, and stops everything.
 */
export async function runTestnet (opts: RunOptions): Promise<RunSummary> {
  const testnet = await openTestnet(opts.dir)
  const genesis = await readGenesisCanisters(testnet.canistersPath)
  const loaders = new Map<number, GenesisCanister>()
  for (const c of genesis.canisters) {
    if (c.module !== 'xnet-load' || c.load == null) continue
    const idx = testnet.registry.subnetIds().findIndex(s => s.toText() === c.subnetId)
    if (idx >= 0) loaders.set(idx, c)
  }
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
  let phase = 'starting'
  try {
    const tick = async (): Promise<SubnetProgress[]> => {
      probes = await sup.probeAll()
      const now = Date.now()
      const subnets = summarize(probes, prev, now)
      if (now - lastShown >= every) {
        show([`[${phase}]`, ...subnets.map(progressLine)], subnets)
        lastShown = now
        prev = { at: now, heights: new Map(subnets.map(s => [s.subnetIndex, s.height])) }
      }
      return subnets
    }
    // Startup: every node answers and every subnet certifies heights (slow machines take longer: wait on the condition, not a fixed time).
    const startupUntil = Date.now() + (opts.startupS ?? 120) * 1000
    let subnets = await tick()
    while (!aborted && !(probes.every(p => p.health != null) && subnets.every(s => s.certifiedHeight >= 2))) {
      if (problems.length > 0) throw new Error(`testnet failed to start: ${problems.join('; ')} (see nodes/*/replica.log)`)
      if (Date.now() > startupUntil) throw new Error(`testnet did not start within ${opts.startupS ?? 120} s: ${subnets.map(progressLine).join('; ')}`)
      await sleep(500)
      subnets = await tick()
    }
    if (!runningCalled) {
      runningCalled = true
      await opts.onRunning?.(sup)
    }
    // Traffic on: one configure per subnet, executed at the same height on each of its nodes.
    const configure = async (rate: number | undefined, nonce: string): Promise<void> => {
      const pending = new Map<number, string>()
      for (const [idx, c] of loaders) {
        const body = { canisterId: c.canisterId, method: 'configure', arg: loadConfigureArg(c, rate), nonce: toHex(new TextEncoder().encode(nonce)) }
        let id = await submitToSubnet(testnet, idx, body)
        while (!aborted && id === undefined) {
          await sleep(500)
          id = await submitToSubnet(testnet, idx, body)
        }
        if (id !== undefined) pending.set(idx, id)
      }
      const until = Date.now() + 60_000
      while (!aborted && pending.size > 0) {
        for (const [idx, id] of [...pending]) if (await ingressDone(testnet, idx, id)) pending.delete(idx)
        if (pending.size === 0) break
        if (Date.now() > until) throw new Error(`configure (${nonce}) not executed within 60 s`)
        await tick()
        await sleep(250)
      }
    }
    phase = 'traffic'
    await configure(opts.rate, `start-${Date.now()}`)
    subnets = await tick()
    firstAt = { at: Date.now(), heights: new Map(subnets.map(s => [s.subnetIndex, s.height])) }
    const stopAt = opts.keepRunning === true || opts.durationS === undefined ? undefined : Date.now() + opts.durationS * 1000
    const enoughHeights = (xs: SubnetProgress[]): boolean => opts.minTrafficHeights === undefined ||
      xs.every(x => x.height - (firstAt!.heights.get(x.subnetIndex) ?? 0) >= opts.minTrafficHeights!)
    while (!aborted && (stopAt === undefined || Date.now() < stopAt || !enoughHeights(subnets))) {
      await sleep(1_000)
      subnets = await tick()
    }
    const wasAborted = aborted
    aborted = false // stop the traffic and drain even after Ctrl-C, so the summary is exact
    phase = 'stopping traffic'
    await configure(0, `stop-${Date.now()}`)
    const trafficEnd = Date.now()
    const atStop = new Map((await tick()).map(x => [x.subnetIndex, x.height]))
    // Drain: every request answered.
    phase = 'draining'
    const drainUntil = Date.now() + (opts.drainS ?? 120) * 1000
    let settled = opts.settle === undefined
    opts.settle?.then(() => { settled = true }, () => { settled = true })
    subnets = await tick()
    while (Date.now() < drainUntil && (!settled || subnets.some(s => s.inFlight > 0 || s.sent !== s.replied + s.rejected || s.nodesUp < s.nodes))) {
      await sleep(1_000)
      subnets = await tick()
    }
    aborted = wasAborted || aborted
    const endAt = Date.now()
    // A node that has just installed a checkpoint from its peers has certified nothing of its own
    // yet: give it a moment to certify, so the comparison has a common height to look at.
    const byzantine = new Set(opts.byzantine ?? [])
    const certifyUntil = Date.now() + AGREEMENT_WAIT_MS
    while (Date.now() < certifyUntil && probes.some(p => p.health != null && p.health.certifiedHeight === 0 && !byzantine.has(p.name))) {
      await sleep(500)
      subnets = await tick()
    }
    // Every node catches up to the same certified height before the comparison.
    const withAgreement = await Promise.all(subnets.map(async s => {
      const a = await agreement(testnet, probes, s.subnetIndex, byzantine)
      return { ...s, agreedHeight: a.height, agreedRoots: a.roots.size, trafficHeights: (atStop.get(s.subnetIndex) ?? 0) - (firstAt!.heights.get(s.subnetIndex) ?? 0) }
    }))
    const total = (k: 'sent' | 'replied' | 'rejected' | 'seqErrors' | 'seqGaps' | 'inFlight'): number => subnets.reduce((n, s) => n + s[k], 0)
    const sent = total('sent')
    const replied = total('replied')
    const rejected = total('rejected')
    const seqErrors = total('seqErrors')
    const seqGaps = total('seqGaps')
    if (sent !== replied + rejected) problems.push(`${sent - replied - rejected} requests without an answer`)
    if (seqErrors > 0) problems.push(`${seqErrors} sequence errors`)
    // A gap no reject accounts for is a request that vanished on the way.
    if (seqGaps > rejected) problems.push(`${seqGaps - rejected} requests missing at their receivers without a reject`)
    if (loaders.size > 0 && sent === 0) problems.push('no request was sent')
    for (const s of withAgreement) {
      if (s.agreedRoots !== 1) problems.push(`subnet ${s.subnetIndex}: ${s.agreedRoots} different state roots at height ${s.agreedHeight}`)
      if (s.nodesUp !== s.nodes) problems.push(`subnet ${s.subnetIndex}: ${s.nodes - s.nodesUp} nodes not answering`)
    }
    if (aborted) problems.push('stopped before the run completed')
    await opts.onDrained?.(sup)
    const spanS = (endAt - firstAt.at) / 1000
    const rounds = spanS === 0
      ? 0
      : subnets.reduce((n, s) => n + (s.height - (firstAt!.heights.get(s.subnetIndex) ?? 0)) / spanS, 0) / Math.max(1, subnets.length)
    return {
      durationS: opts.durationS ?? spanS,
      trafficS: (trafficEnd - firstAt.at) / 1000,
      subnets: withAgreement,
      sent, replied, rejected, seqErrors, seqGaps,
      inFlight: total('inFlight'),
      latencyMs: latencySummary(probes),
      roundsPerSecond: rounds,
      ok: problems.length === 0,
      problems
    }
  } finally {
    await sup.stopAll()
  }
}

export function summaryTable (s: RunSummary): string {
  const rows: Array<[string, string]> = [
    ['rounds/s (mean per subnet)', s.roundsPerSecond.toFixed(2)],
    ...s.subnets.map(x => [`subnet ${x.subnetIndex} ${x.subnetId.slice(0, 5)}${x.root ? ' (root)' : ''} height`, `${x.height}, ${x.trafficHeights} with traffic (nodes agree at ${x.agreedHeight}: ${x.agreedRoots === 1 ? 'yes' : 'NO'})`] as [string, string]),
    ['requests sent', String(s.sent)],
    ['requests replied', String(s.replied)],
    ['requests rejected', String(s.rejected)],
    ['unanswered', String(s.sent - s.replied - s.rejected)],
    ['sequence errors', String(s.seqErrors)],
    ['sequence gaps (rejected on the way)', String(s.seqGaps)],
    ['latency mean / p50 / p99', `${s.latencyMs.mean.toFixed(0)} / ${s.latencyMs.p50.toFixed(0)} / ${s.latencyMs.p99.toFixed(0)} ms`],
    ['result', s.ok ? 'OK: nothing lost' : `FAILED: ${s.problems.join('; ')}`]
  ]
  const w = Math.max(...rows.map(r => r[0].length))
  const line = `+${'-'.repeat(w + 2)}+${'-'.repeat(Math.max(...rows.map(r => r[1].length)) + 2)}+`
  return [line, ...rows.map(([k, v]) => `| ${k.padEnd(w)} | ${v.padEnd(line.length - w - 7)} |`), line].join('\n')
}
