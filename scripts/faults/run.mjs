#!/usr/bin/env node
// Runs every fault scenario (test/dist/faults/*.spec.js, the CI ones, and
// *.long.js, the ones too long for CI), each in its own mocha process, then the
// multi-host SLO run (scripts/multihost/run.sh test, which skips where network
// namespaces cannot be made), and prints a table of the results.
//
//   node scripts/faults/run.mjs [--only SUBSTRING] [--no-multihost] [--results DIR]
//
// Each scenario writes its figures to $ICNET_FAULTS_RESULTS/<name>.json (the
// harness's recordResult); the table is read from there. Exit status 0 iff
// every scenario passed and the multi-host run passed or skipped.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readdir, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const DIST = join(ROOT, 'test/dist/faults')
const MOCHA = join(ROOT, 'node_modules/.bin/mocha')
/** A scenario that runs past this is stopped (a hang); each is meant to take 1-2 minutes. */
const SCENARIO_TIMEOUT_MS = 15 * 60_000

function parseArgs (argv) {
  const opts = { only: undefined, multihost: true, results: process.env.ICNET_FAULTS_RESULTS }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--only') opts.only = argv[++i]
    else if (a === '--no-multihost') opts.multihost = false
    else if (a === '--results') opts.results = argv[++i]
    else { console.error(`unknown flag ${a}\nusage: node scripts/faults/run.mjs [--only SUBSTRING] [--no-multihost] [--results DIR]`); process.exit(2) }
  }
  return opts
}

/** Runs a command with its output passed through; resolves with its exit code, wall time and (if asked) its stdout. */
function run (cmd, args, env, { capture = false, timeoutMs } = {}) {
  return new Promise(resolve => {
    const started = Date.now()
    const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', capture ? 'pipe' : 'inherit', 'inherit'] })
    let out = ''
    child.stdout?.on('data', d => { out += d; process.stdout.write(d) })
    const timer = timeoutMs === undefined ? undefined : setTimeout(() => { child.kill('SIGTERM') }, timeoutMs)
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      resolve({ code: code ?? (signal != null ? 128 : 1), seconds: (Date.now() - started) / 1000, out })
    })
  })
}

/** The scenario's own figures, compact: every scalar of its record beyond the common ones. */
const COMMON = new Set(['name', 'ok', 'sent', 'replied', 'rejected', 'unanswered', 'seqErrors', 'seqGaps', 'latencyMeanMs', 'latencyP99Ms', 'roundsPerSecond', 'trafficS', 'subnets', 'problems', 'at'])
function ownFigures (rec) {
  const parts = []
  for (const [k, v] of Object.entries(rec)) {
    if (COMMON.has(k)) continue
    if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string') parts.push(`${k}=${v}`)
    else parts.push(`${k}=${JSON.stringify(v)}`)
  }
  const s = parts.join(' ')
  return s.length > 160 ? `${s.slice(0, 157)}...` : s
}

function table (rows) {
  const head = ['scenario', 'result', 'wall s', 'sent', 'answered', 'seq err', 'mean lat ms', 'figures']
  const cells = [head, ...rows.map(r => [r.name, r.result, r.seconds.toFixed(0), r.sent ?? '', r.answered ?? '', r.seqErrors ?? '', r.latency ?? '', r.figures ?? ''].map(String))]
  const w = head.map((_, i) => Math.max(...cells.map(c => c[i].length)))
  const line = c => `| ${c.map((x, i) => x.padEnd(w[i])).join(' | ')} |`
  return [line(cells[0]), `|${w.map(n => '-'.repeat(n + 2)).join('|')}|`, ...cells.slice(1).map(line)].join('\n')
}

async function main () {
  const opts = parseArgs(process.argv.slice(2))
  if (!existsSync(DIST)) {
    console.error(`${DIST} does not exist: build the tests first (npx tsc -b test)`)
    process.exit(2)
  }
  const results = opts.results ?? await mkdtemp(join(tmpdir(), 'icnet-faults-results-'))
  await mkdir(results, { recursive: true })
  const files = (await readdir(DIST))
    .filter(f => (f.endsWith('.spec.js') || f.endsWith('.long.js')) && (opts.only === undefined || f.includes(opts.only)))
    .sort((a, b) => Number(a.endsWith('.long.js')) - Number(b.endsWith('.long.js')) || a.localeCompare(b))
  console.log(`fault scenarios: ${files.join(', ')}; results in ${results}`)
  const rows = []
  for (const f of files) {
    console.log(`\n=== ${f}`)
    const before = new Set(await readdir(results))
    const r = await run(MOCHA, ['--timeout', '600000', '--exit', join(DIST, f)], { ICNET_FAULTS_RESULTS: results }, { timeoutMs: SCENARIO_TIMEOUT_MS })
    const written = (await readdir(results)).filter(x => x.endsWith('.json') && !before.has(x))
    if (written.length === 0) rows.push({ name: f.replace(/\.(spec|long)\.js$/, ''), result: r.code === 0 ? 'PASS' : 'FAIL', seconds: r.seconds })
    for (const w of written) {
      const rec = JSON.parse(await readFile(join(results, w), 'utf8'))
      rows.push({
        name: rec.name,
        result: r.code === 0 ? 'PASS' : 'FAIL',
        seconds: r.seconds / written.length,
        sent: rec.sent,
        answered: rec.replied + rec.rejected,
        seqErrors: rec.seqErrors,
        latency: rec.latencyMeanMs,
        figures: ownFigures(rec)
      })
    }
  }
  if (opts.multihost && opts.only === undefined) {
    console.log('\n=== multi-host (scripts/multihost/run.sh test)')
    const r = await run('bash', [join(ROOT, 'scripts/multihost/run.sh'), 'test'], {}, { capture: true })
    const skipped = /^SKIP multihost: (.*)$/m.exec(r.out)
    rows.push({ name: 'multihost-slo', result: skipped !== null ? 'SKIP' : r.code === 0 ? 'PASS' : 'FAIL', seconds: r.seconds, figures: skipped?.[1] ?? '' })
  }
  console.log(`\nfault scenarios (figures in ${results}):\n${table(rows)}`)
  process.exit(rows.some(r => r.result === 'FAIL') ? 1 : 0)
}

await main()
