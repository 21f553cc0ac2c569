/**
 * What a file write costs on this machine, depending on how recently the memory under
 * it was freed. A state sync writes every byte it fetches into new files, so this cost
 * is part of every sync and of none of the raw-stream baselines it is compared with.
 *
 * Each step writes `--mib` MiB into a new file in 1 MiB writes (16 in flight, as the
 * state sync downloader does), deletes it, then waits `delay` ms before the next step.
 * The baseline is the step that follows a delay of 0: the file's pages come straight back
 * from the one just deleted. On a virtual machine that reports freed memory to its host
 * (Linux free page reporting, e.g. Firecracker's balloon), pages freed a few seconds
 * earlier have gone back to the host and each one faults again when written.
 *
 *   npm run bench -- page-cache [--mib 512] [--delays 0,0,1000,3000,6000,0] [--dir /tmp]
 */
import { open, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

const MiB = 1024 * 1024
const WRITES_IN_FLIGHT = 16
const args = process.argv.slice(2)
function arg (name: string, def: string): string {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? args[i + 1]! : def
}
const mib = Number(arg('mib', '512'))
const delays = arg('delays', '0,0,1000,3000,6000,0').split(',').map(Number)
const dir = arg('dir', tmpdir())
if (!(mib > 0) || delays.some(d => !(d >= 0))) throw new Error('--mib is a positive number and --delays a list of non-negative ms')
const round2 = (x: number): number => Math.round(x * 100) / 100

/** Writes `mib` MiB into a new file and deletes it; CPU ms (all threads, user and system) per MiB. */
async function writeAndDelete (path: string, buf: Uint8Array): Promise<{ cpu: number, system: number, ms: number }> {
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  const fh = await open(path, 'w')
  try {
    const inFlight: Array<Promise<unknown>> = []
    for (let i = 0; i < mib; i++) {
      inFlight.push(fh.write(buf, 0, MiB, i * MiB))
      if (inFlight.length >= WRITES_IN_FLIGHT) await inFlight.shift()
    }
    await Promise.all(inFlight)
  } finally { await fh.close() }
  const ms = performance.now() - t0
  const c = process.cpuUsage(c0)
  await rm(path)
  return { cpu: (c.user + c.system) / 1000 / mib, system: c.system / 1000 / mib, ms }
}

const buf = new Uint8Array(MiB).fill(7)
const path = join(dir, `icnet-page-cache-${process.pid}.bin`)
const steps: Array<{ after_ms: number | null, cpu_ms_per_mib: number, system_ms_per_mib: number, mb_per_s: number }> = []
let previousDelay: number | null = null
try {
  for (const delay of delays) {
    const r = await writeAndDelete(path, buf)
    const step = { after_ms: previousDelay, cpu_ms_per_mib: round2(r.cpu), system_ms_per_mib: round2(r.system), mb_per_s: Math.round(mib * MiB / 1e6 / (r.ms / 1000)) }
    steps.push(step)
    console.log(JSON.stringify({ phase: 'step', ...step }))
    previousDelay = delay
    await sleep(delay)
  }
} finally { await rm(path, { force: true }) }

// The first step writes into whatever memory the machine hands out first; the baseline is
// the best step right after a delete, the others are grouped by how long the pages lay free.
const reused = steps.filter(s => s.after_ms === 0).map(s => s.cpu_ms_per_mib)
const rested = steps.filter(s => s.after_ms !== null && s.after_ms >= 3000).map(s => s.cpu_ms_per_mib)
const best = reused.length > 0 ? Math.min(...reused) : null
const worst = rested.length > 0 ? Math.max(...rested) : null
console.log(JSON.stringify({
  bench: 'page-cache',
  mib,
  first_write_cpu_ms_per_mib: steps[0]?.cpu_ms_per_mib ?? null,
  reused_pages_cpu_ms_per_mib: best,
  pages_free_3s_cpu_ms_per_mib: worst,
  ratio_rested_to_reused: best !== null && worst !== null ? round2(worst / best) : null,
  steps
}))
