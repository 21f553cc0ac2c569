#!/usr/bin/env node
/**
 * `npm start`: a local mesh of 2 subnets x 4 nodes as real processes on
 * loopback, the XNet load canister on each subnet, 60 s of cross-subnet traffic
 * (`--duration S` to change, `--keep-running` to run until Ctrl-C), live
 * progress, and a summary; exit status 0 only if nothing was lost.
 */
import '@icnet/types/polyfill'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseFlags } from '../cli/args.js'
import { testnetInit } from '../cli/commands.js'
import { UsageError } from '../errors.js'
import { runTestnet, summaryTable } from '../testnet/run.js'

async function demo (): Promise<number> {
  const f = parseFlags(process.argv.slice(2), {
    duration: { type: 'number', min: 1 },
    'keep-running': { type: 'boolean' },
    subnets: { type: 'number', min: 2, max: 8 },
    nodes: { type: 'number', min: 1, max: 13 },
    rate: { type: 'number' },
    dir: { type: 'string' },
    'base-port': { type: 'number', min: 1024, max: 65000 }
  }, 'npm start --')
  const dir = (f.dir as string | undefined) ?? await mkdtemp(join(tmpdir(), 'icnet-demo-'))
  const subnets = (f.subnets as number | undefined) ?? 2
  const nodes = (f.nodes as number | undefined) ?? 4
  console.log(`icnet demo: ${subnets} subnets x ${nodes} nodes as separate processes on 127.0.0.1 (data in ${dir})`)
  console.log('each subnet runs the XNet load canister (wasm) under message routing; traffic starts once every subnet certifies heights')
  // Application subnets only, as in the IC's XNet SLO tests (a system subnet caps its streams at 100 messages).
  await testnetInit({ subnets, nodes, dir, canisters: 'xnet-load', rate: (f.rate as number | undefined) ?? 10, basePort: (f['base-port'] as number | undefined) ?? 4100, systemSubnets: 0 }, { log: s => { console.log(s) } })
  const ac = new AbortController()
  const onSignal = (): void => { console.log('stopping every node...'); ac.abort() }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  const keep = f['keep-running'] === true
  const duration = (f.duration as number | undefined) ?? 60
  console.log(keep ? 'traffic until Ctrl-C' : `${duration} s of cross-subnet traffic, then a drain and the summary`)
  try {
    const summary = await runTestnet({ dir, keepRunning: keep, ...(keep ? {} : { durationS: duration }), signal: ac.signal })
    console.log(summaryTable(summary))
    return summary.ok || (keep && ac.signal.aborted) ? 0 : 1
  } finally {
    if (f.dir === undefined) await rm(dir, { recursive: true, force: true })
  }
}

demo().then(code => { process.exit(code) }, err => {
  console.error(err instanceof UsageError ? `icnet demo: ${err.message}` : err)
  process.exit(err instanceof UsageError ? 2 : 1)
})
