#!/usr/bin/env node
// The node side of the multi-host testnet (scripts/multihost/run.sh drives it):
//
//   node slo.mjs init   --dir D --subnets S --nodes N --net 10.231.0 [--first-host 10] [--rate 10] [--payload-size 1024] [--system-subnets 0]
//        genesis with one IPv4 host per node (node k over all subnets: <net>.<first-host + k>),
//        the XNet load canister on every subnet; writes D/hosts.txt ("<s>-<i> <ip>" per line).
//        All subnets are application subnets unless --system-subnets says otherwise: the IC's
//        SLO tests load application subnets only (a system subnet caps its streams at 100 messages)
//   node slo.mjs wait   --dir D [--timeout 180]
//        until every node answers /health and every subnet certifies heights
//   node slo.mjs status --dir D
//   node slo.mjs rtt    --dir D --to <s>-<i> [--count 40]
//        TCP connect round trips to that node (run it inside another node's namespace:
//        the path between two hosts)
//   node slo.mjs metrics --dir D
//        saves every node's /metrics to nodes/<s>-<i>/metrics.txt
//   node slo.mjs run    --dir D [--duration 90] [--rate 10] [--drain 120]
//        the XNet SLO workload on the running nodes; prints the result as the last
//        JSON line and exits 1 if an SLO assertion fails
//
// It talks to the replicas only over their HTTP endpoints (/health, /api/load,
// /api/ingress, /api/state-root), so it runs wherever it can reach them: here,
// in the namespace that holds the switch.
import '@icnet/types/polyfill'
import { writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { dirname, join, resolve } from 'node:path'
import { initTestnet } from '@icnet/registry'
import {
  DEFAULT_LOAD_PAYLOAD_BYTES, DEFAULT_LOAD_RATE, loadConfigureArg, openTestnet, planGenesisCanisters, probeNode,
  readGenesisCanisters, writeGenesisCanisters
} from '@icnet/replica'

/** The IC's XNet SLO assertions (ic-reference §7), per subnet. */
export const SLO = { maxFailuresPct: 5, maxSeqErrors: 0, maxMeanLatencyMs: 20_000, minSendRatio: 0.3 }

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))
const log = (...a) => { console.error(`[${new Date().toISOString().slice(11, 19)}]`, ...a) }

function flags (argv, spec) {
  const out = {}
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].replace(/^--/, '')
    if (!argv[i].startsWith('--') || !(name in spec)) throw new Error(`unknown flag ${argv[i]}`)
    const v = argv[++i]
    if (v === undefined) throw new Error(`--${name} needs a value`)
    out[name] = spec[name] === 'number' ? Number(v) : v
    if (spec[name] === 'number' && !Number.isFinite(out[name])) throw new Error(`--${name} must be a number`)
  }
  return out
}

async function getJson (url, timeoutMs = 3_000) {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) })
    return res.ok || res.status === 503 ? await res.json() : undefined
  } catch { return undefined }
}

async function init (f) {
  const subnets = f.subnets ?? 2
  const nodes = f.nodes ?? 4
  const net = f.net ?? '10.231.0'
  const first = f['first-host'] ?? 10
  if (subnets * nodes + first > 254) throw new Error(`${subnets * nodes} nodes do not fit in ${net}.${first}..254`)
  const hostFor = (s, i) => `${net}.${first + s * nodes + i}`
  const dir = resolve(f.dir)
  const system = f['system-subnets'] ?? 0
  const types = Array.from({ length: subnets }, (_, s) => s < system ? 'system' : 'application')
  const layout = await initTestnet({ subnets, nodesPerSubnet: nodes, dir, hostFor, types })
  const plan = planGenesisCanisters(layout.registry, ['xnet-load'], { rate: f.rate ?? DEFAULT_LOAD_RATE, payloadSize: f['payload-size'] ?? DEFAULT_LOAD_PAYLOAD_BYTES })
  await writeGenesisCanisters(join(dir, 'canisters.json'), plan)
  const lines = []
  for (let s = 0; s < subnets; s++) for (let i = 0; i < nodes; i++) lines.push(`${s}-${i} ${hostFor(s, i)}`)
  await writeFile(join(dir, 'hosts.txt'), `${lines.join('\n')}\n`)
  log(`genesis: ${subnets} subnets (${Math.min(system, subnets)} system) x ${nodes} nodes in ${dir}, hosts ${hostFor(0, 0)}..${hostFor(subnets - 1, nodes - 1)}`)
}

/** Probes every node; per subnet: nodes up, height, and the load counters of the node that executed furthest. */
async function snapshot (testnet) {
  const probes = await Promise.all(testnet.nodes.map(n => probeNode(n)))
  const subnets = new Map()
  for (const p of probes) {
    let s = subnets.get(p.subnetIndex)
    if (s === undefined) { s = { index: p.subnetIndex, nodes: 0, up: 0, height: 0, certified: Number.POSITIVE_INFINITY, load: undefined }; subnets.set(p.subnetIndex, s) }
    s.nodes++
    if (p.health == null) continue
    s.up++
    s.height = Math.max(s.height, p.health.height)
    s.certified = Math.min(s.certified, p.health.certifiedHeight)
    if (p.load != null && (s.load === undefined || p.load.height > s.load.height)) s.load = p.load
  }
  for (const s of subnets.values()) if (!Number.isFinite(s.certified)) s.certified = 0
  return { probes, subnets: [...subnets.values()].sort((a, b) => a.index - b.index) }
}

function line (s) {
  const l = s.load ?? {}
  const lat = l.latencyCount > 0 ? (l.latencySumMs / l.latencyCount).toFixed(0) : '-'
  return `subnet ${s.index}: nodes ${s.up}/${s.nodes} height ${s.height} certified ${s.certified} sent ${l.sent ?? 0} replied ${l.replied ?? 0} ` +
    `rejected ${l.rejected ?? 0} in flight ${l.inFlight ?? 0} seq errors ${l.seqErrors ?? 0} latency ${lat} ms`
}

async function wait (f) {
  const testnet = await openTestnet(f.dir)
  const until = Date.now() + (f.timeout ?? 180) * 1000
  let last = 0
  for (;;) {
    const { subnets } = await snapshot(testnet)
    if (subnets.every(s => s.up === s.nodes && s.certified >= 2)) { for (const s of subnets) log(line(s)); return }
    if (Date.now() > until) throw new Error(`the testnet did not come up within ${f.timeout ?? 180} s: ${subnets.map(line).join('; ')}`)
    if (Date.now() - last > 10_000) { last = Date.now(); for (const s of subnets) log(`starting: ${line(s)}`) }
    await sleep(1_000)
  }
}

async function status (f) {
  const testnet = await openTestnet(f.dir)
  const { probes, subnets } = await snapshot(testnet)
  for (const p of probes) {
    const n = testnet.nodes.find(x => x.name === p.name)
    const h = p.health
    console.log(`${p.name.padEnd(5)} ${n.config.http?.host ?? '-'}`.padEnd(22) + (h == null ? 'down' : `${h.status} height ${h.height} certified ${h.certifiedHeight} peers ${h.peers}`))
  }
  for (const s of subnets) console.log(line(s))
}

/**
 * Round trips between two hosts: TCP connects to the node's p2p port, one at a
 * time. The far kernel answers the SYN, so no replica event loop is in the
 * sample: it is the path's RTT (plus this process's wake-up).
 */
async function rtt (f) {
  const testnet = await openTestnet(f.dir)
  const node = testnet.nodes.find(n => n.name === f.to)
  const m = node?.config.listenAddresses[0]?.match(/^\/ip4\/([0-9.]+)\/tcp\/(\d+)/)
  if (m == null) throw new Error(`no node ${f.to} with a TCP listen address`)
  const [, host, port] = m
  const once = () => new Promise(resolve => {
    const t = performance.now()
    const s = connect({ host, port: Number(port) })
    const done = ok => { s.destroy(); resolve(ok ? performance.now() - t : undefined) }
    s.setTimeout(5_000, () => done(false))
    s.once('connect', () => done(true))
    s.once('error', () => done(false))
  })
  const times = []
  let errors = 0
  for (let i = 0; i < (f.count ?? 40); i++) {
    const ms = await once()
    if (ms === undefined) errors++
    else times.push(ms)
  }
  times.sort((a, b) => a - b)
  const at = p => times.length === 0 ? 0 : Math.round(10 * times[Math.min(times.length - 1, Math.floor(p / 100 * times.length))]) / 10
  console.log(JSON.stringify({ to: f.to, samples: times.length, errors, min_ms: at(0), p50_ms: at(50), p90_ms: at(90), max_ms: at(100) }))
}

/** Saves every node's Prometheus metrics next to its log (for a post-mortem once the nodes are gone). */
async function metrics (f) {
  const testnet = await openTestnet(f.dir)
  await Promise.all(testnet.nodes.filter(n => n.config.http != null).map(async n => {
    try {
      const res = await fetch(`http://${n.config.http.host}:${n.config.http.port}/metrics`, { signal: AbortSignal.timeout(5_000) })
      if (res.ok) await writeFile(join(dirname(n.logPath), 'metrics.txt'), await res.text())
    } catch {}
  }))
}

/** Submits an ingress message to every node of a subnet (whichever proposes next includes it); resolves with its id once one took it. */
async function submit (testnet, subnetIndex, body) {
  const ids = await Promise.all(testnet.nodes.filter(n => n.subnetIndex === subnetIndex && n.config.http != null).map(async n => {
    try {
      const res = await fetch(`http://${n.config.http.host}:${n.config.http.port}/api/ingress`, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(5_000)
      })
      return res.status === 202 ? (await res.json()).requestId : undefined
    } catch { return undefined }
  }))
  return ids.find(x => x !== undefined)
}

async function executed (testnet, subnetIndex, requestId) {
  for (const n of testnet.nodes.filter(x => x.subnetIndex === subnetIndex && x.config.http != null)) {
    const st = await getJson(`http://${n.config.http.host}:${n.config.http.port}/api/ingress/${requestId}`)
    if (st?.status === 'replied' || st?.status === 'done') return true
    if (st?.status === 'rejected') throw new Error(`configure ${requestId} was rejected on subnet ${subnetIndex}`)
  }
  return false
}

/** Sets every subnet's load canister to `rate` requests per round (0 stops) by ingress; resolves once every subnet executed it. */
async function configure (testnet, loaders, rate, tag) {
  const pending = new Map()
  for (const [idx, c] of loaders) {
    const body = { canisterId: c.canisterId, method: 'configure', arg: Buffer.from(loadConfigureArg(c, rate)).toString('hex'), nonce: Buffer.from(`${tag}-${Date.now()}`).toString('hex') }
    const until = Date.now() + 60_000
    let id = await submit(testnet, idx, body)
    while (id === undefined) {
      if (Date.now() > until) throw new Error(`no node of subnet ${idx} accepted the configure message`)
      await sleep(500)
      id = await submit(testnet, idx, body)
    }
    pending.set(idx, id)
  }
  const until = Date.now() + 60_000
  while (pending.size > 0) {
    for (const [idx, id] of [...pending]) if (await executed(testnet, idx, id)) pending.delete(idx)
    if (pending.size === 0) break
    if (Date.now() > until) throw new Error(`configure (${tag}) not executed within 60 s on subnets ${[...pending.keys()].join(', ')}`)
    await sleep(300)
  }
}

/** Every up node of a subnet reports the same state root at the highest height all of them certified. */
async function agreement (testnet, subnet) {
  const nodes = testnet.nodes.filter(n => n.subnetIndex === subnet.index && n.config.http != null)
  const roots = new Set()
  await Promise.all(nodes.map(async n => {
    const r = await getJson(`http://${n.config.http.host}:${n.config.http.port}/api/state-root/${subnet.certified}`)
    roots.add(r?.stateRoot ?? `missing@${n.name}`)
  }))
  return { height: subnet.certified, roots: roots.size }
}

async function run (f) {
  const testnet = await openTestnet(f.dir)
  const genesis = await readGenesisCanisters(testnet.canistersPath)
  const ids = testnet.registry.subnetIds().map(s => s.toText())
  const loaders = new Map(genesis.canisters.filter(c => c.module === 'xnet-load' && c.load != null).map(c => [ids.indexOf(c.subnetId), c]))
  const rate = f.rate ?? [...loaders.values()][0]?.load.rate ?? DEFAULT_LOAD_RATE
  const durationS = f.duration ?? 90
  if (loaders.size < 2) throw new Error('the XNet workload needs a load canister on at least 2 subnets')

  log(`traffic on: ${rate} requests per round per subnet for ${durationS} s`)
  await configure(testnet, loaders, rate, 'start')
  const start = await snapshot(testnet)
  const t0 = Date.now()
  while (Date.now() - t0 < durationS * 1000) {
    await sleep(Math.min(10_000, durationS * 1000 - (Date.now() - t0)))
    for (const s of (await snapshot(testnet)).subnets) log(line(s))
  }
  log('traffic off; draining')
  await configure(testnet, loaders, 0, 'stop')
  const trafficS = (Date.now() - t0) / 1000
  const stop = await snapshot(testnet)
  const drainUntil = Date.now() + (f.drain ?? 120) * 1000
  let end = await snapshot(testnet)
  while (Date.now() < drainUntil && end.subnets.some(s => s.up < s.nodes || s.load == null || s.load.inFlight > 0)) {
    await sleep(1_000)
    end = await snapshot(testnet)
  }
  const spanS = (Date.now() - t0) / 1000

  const perSubnet = []
  for (const s of end.subnets) {
    const l = s.load ?? { sent: 0, replied: 0, rejected: 0, callErrors: 0, seqErrors: 0, seqGaps: 0, inFlight: 0, latencySumMs: 0, latencyCount: 0 }
    const s0 = start.subnets.find(x => x.index === s.index)
    const s1 = stop.subnets.find(x => x.index === s.index)
    const trafficRounds = (s1?.height ?? 0) - (s0?.height ?? 0)
    const unanswered = l.sent - l.replied - l.rejected
    const attempted = l.sent + l.callErrors
    const agreed = await agreement(testnet, s)
    perSubnet.push({
      subnet: s.index,
      sent: l.sent,
      replied: l.replied,
      rejected: l.rejected,
      call_errors: l.callErrors,
      unanswered,
      failures_pct: attempted === 0 ? 0 : (l.callErrors + l.rejected + unanswered) / attempted * 100,
      seq_errors: l.seqErrors,
      seq_gaps: l.seqGaps ?? 0,
      latency_mean_ms: l.latencyCount === 0 ? 0 : l.latencySumMs / l.latencyCount,
      traffic_rounds: trafficRounds,
      send_ratio: trafficRounds === 0 ? 0 : l.sent / (rate * trafficRounds),
      rounds_per_s: ((s.height - (s0?.height ?? 0)) / spanS),
      nodes_up: s.up,
      nodes: s.nodes,
      agreed_height: agreed.height,
      agreed_roots: agreed.roots
    })
  }
  const sum = k => perSubnet.reduce((n, s) => n + s[k], 0)
  const latencyCount = end.subnets.reduce((n, s) => n + (s.load?.latencyCount ?? 0), 0)
  const latencySum = end.subnets.reduce((n, s) => n + (s.load?.latencySumMs ?? 0), 0)
  const attempted = sum('sent') + sum('call_errors')
  const problems = []
  // Receivers count the requests missing from a sender's sequence; a reject accounts for each one, or a request vanished.
  if (sum('seq_gaps') > sum('rejected')) problems.push(`${sum('seq_gaps') - sum('rejected')} requests missing at their receivers without a reject`)
  for (const s of perSubnet) {
    if (s.sent === 0) problems.push(`subnet ${s.subnet}: no request sent`)
    if (!(s.failures_pct < SLO.maxFailuresPct)) problems.push(`subnet ${s.subnet}: failures ${s.failures_pct.toFixed(2)}% (SLO < ${SLO.maxFailuresPct}%)`)
    if (s.seq_errors > SLO.maxSeqErrors) problems.push(`subnet ${s.subnet}: ${s.seq_errors} sequence errors`)
    if (s.latency_mean_ms > SLO.maxMeanLatencyMs) problems.push(`subnet ${s.subnet}: mean latency ${s.latency_mean_ms.toFixed(0)} ms (SLO <= ${SLO.maxMeanLatencyMs} ms)`)
    if (s.send_ratio < SLO.minSendRatio) problems.push(`subnet ${s.subnet}: send ratio ${s.send_ratio.toFixed(2)} (SLO >= ${SLO.minSendRatio})`)
    if (s.unanswered !== 0) problems.push(`subnet ${s.subnet}: ${s.unanswered} requests without an answer after the drain`)
    if (s.agreed_roots !== 1) problems.push(`subnet ${s.subnet}: ${s.agreed_roots} different state roots at height ${s.agreed_height}`)
    if (s.nodes_up !== s.nodes) problems.push(`subnet ${s.subnet}: ${s.nodes - s.nodes_up} nodes down`)
  }
  const result = {
    rate,
    requests_per_s: trafficS > 0 ? sum('sent') / trafficS : 0,
    sent: sum('sent'),
    replied: sum('replied'),
    rejected: sum('rejected'),
    failures_pct: attempted === 0 ? 0 : (sum('call_errors') + sum('rejected') + sum('unanswered')) / attempted * 100,
    seq_errors: sum('seq_errors'),
    seq_gaps: sum('seq_gaps'),
    latency_ms: { mean: latencyCount === 0 ? 0 : latencySum / latencyCount },
    rounds_per_s: perSubnet.reduce((n, s) => n + s.rounds_per_s, 0) / Math.max(1, perSubnet.length),
    traffic_s: trafficS,
    subnets: perSubnet,
    slo: SLO,
    ok: problems.length === 0,
    problems
  }
  console.log(JSON.stringify(result))
  return result.ok
}

const [cmd, ...rest] = process.argv.slice(2)
const spec = {
  init: { dir: 'string', subnets: 'number', nodes: 'number', net: 'string', 'first-host': 'number', rate: 'number', 'payload-size': 'number', 'system-subnets': 'number' },
  wait: { dir: 'string', timeout: 'number' },
  status: { dir: 'string' },
  rtt: { dir: 'string', to: 'string', count: 'number' },
  metrics: { dir: 'string' },
  run: { dir: 'string', duration: 'number', rate: 'number', drain: 'number' }
}
try {
  if (!(cmd in spec)) throw new Error(`usage: slo.mjs ${Object.keys(spec).join('|')} --dir D [...]`)
  const f = flags(rest, spec[cmd])
  if (f.dir === undefined) throw new Error('--dir is required')
  const ok = await { init, wait, status, rtt, metrics, run }[cmd](f)
  process.exitCode = ok === false ? 1 : 0
} catch (err) {
  console.error(`slo.mjs ${cmd ?? ''}: ${err.message}`)
  process.exitCode = 2
}
