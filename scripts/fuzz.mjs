#!/usr/bin/env node
// Runs the fuzz targets of test/dist/src/fuzz (build first: `npx tsc -b test`).
//
//   node scripts/fuzz.mjs                      every target, its default number of inputs
//   node scripts/fuzz.mjs --seconds 60         every target for 60 s each
//   node scripts/fuzz.mjs --only crypto,http   the spec files whose names contain these
//   node scripts/fuzz.mjs --scale 10           ten times the default inputs per target
//
// Prints one JSON line per target, then a summary line with every finding (seed,
// path and minimised input; replay one with FUZZ_SEED=<seed> FUZZ_PATH=<path>).
// A run that outlives its budget by far is killed and reported as a hang.
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const dir = join(root, 'test/dist/src/fuzz')

function option (name, fallback) {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback
}

const seconds = Number(option('seconds', '0'))
const scale = Number(option('scale', '1'))
const only = option('only', '').split(',').filter(Boolean)
if (!Number.isFinite(seconds) || seconds < 0 || !Number.isFinite(scale) || scale <= 0) {
  console.error('usage: node scripts/fuzz.mjs [--seconds N] [--scale K] [--only name,name]')
  process.exit(2)
}
if (!existsSync(dir)) {
  console.error('test/dist/src/fuzz is missing: build the tests first (npx tsc -b test)')
  process.exit(2)
}
// harness.spec.js tests the harness with a planted bug: not a target.
const specs = readdirSync(dir).filter(f => f.endsWith('.spec.js') && f !== 'harness.spec.js' && (only.length === 0 || only.some(o => f.includes(o)))).sort()
if (specs.length === 0) {
  console.error(`no fuzz spec matches ${only.join(',')}`)
  process.exit(2)
}

const work = mkdtempSync(join(tmpdir(), 'icnet-fuzz-'))
const resultsFile = join(work, 'results.jsonl')
const findingsFile = join(work, 'findings.jsonl')
const readLines = file => existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean).map(l => JSON.parse(l)) : []

// Each spec file runs in its own process, so that one that hangs or dies is reported without losing the rest.
const started = Date.now()
const failures = []
for (const spec of specs) {
  // Generous: a budget per target (a file has a handful), plus set-up, shrinking and the fixed-count mode.
  const hardLimitMs = (seconds * 12 + 600) * 1000
  const env = { ...process.env, FUZZ_RESULTS: resultsFile, FUZZ_FINDINGS: findingsFile, FUZZ_RUN_SCALE: String(scale) }
  if (seconds > 0) env.FUZZ_SECONDS = String(seconds)
  else delete env.FUZZ_SECONDS
  const child = spawn(process.execPath, [join(root, 'node_modules/mocha/bin/mocha.js'), '--reporter', 'dot', '--timeout', String(hardLimitMs), '--exit', join(dir, spec)],
    { cwd: root, env, stdio: ['ignore', 'inherit', 'inherit'] })
  const timer = setTimeout(() => { failures.push({ spec, reason: `killed after ${hardLimitMs} ms (hang)` }); child.kill('SIGKILL') }, hardLimitMs)
  const code = await new Promise(resolve => child.on('exit', (c, signal) => resolve(c ?? signal)))
  clearTimeout(timer)
  if (code !== 0 && !failures.some(f => f.spec === spec)) failures.push({ spec, reason: `mocha exited with ${code}` })
}

const results = readLines(resultsFile)
const findings = readLines(findingsFile)
for (const r of results) console.log(JSON.stringify(r))
console.log(JSON.stringify({
  mode: seconds > 0 ? `${seconds} s per target` : `fixed runs x${scale}`,
  specs: specs.length,
  targets: results.length,
  runs: results.reduce((n, r) => n + r.runs, 0),
  accepted: results.reduce((n, r) => n + r.accepted, 0),
  seconds: Math.round((Date.now() - started) / 1000),
  failures,
  findings
}))
rmSync(work, { recursive: true, force: true })
process.exit(failures.length > 0 || findings.length > 0 ? 1 : 0)
