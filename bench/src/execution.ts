/**
 * Execution benchmark: messages/s through the sandbox for the echo and counter
 * canisters, the cost of metering (the same module instrumented and not, in
 * the same run), and the cost of handing a message to a worker thread and back.
 *
 *   npm run bench -- execution [messages=20000] [loopIterations=50000000]
 */
import { Principal, canisterIdFromU64 } from '@icnet/types'
import { WasmSandbox, WorkerSandbox } from '@icnet/execution'
import type { Sandbox } from '@icnet/execution'
import { loadTestCanister } from '@icnet/execution/canisters'

const MESSAGES = Number(process.argv[2] ?? 20_000)
const LOOP = Number(process.argv[3] ?? 50_000_000)
const LIMIT = 100_000_000_000n
const caller = Principal.anonymous()
const payload = new Uint8Array(1024).fill(7)

function emit (o: Record<string, unknown>): void {
  console.log(JSON.stringify(o, (_k, v) => typeof v === 'bigint' ? Number(v) : v))
}

async function install (sb: Sandbox, index: number, name: 'echo' | 'counter' | 'test'): Promise<ReturnType<typeof canisterIdFromU64>> {
  const id = canisterIdFromU64(index)
  await sb.install({ canisterId: id, mode: 'install', module: await loadTestCanister(name), arg: new Uint8Array(0), caller, time: 1n, instructionLimit: LIMIT })
  return id
}

/** Sequential messages (each awaited): rate in messages/s. */
async function sequential (sb: Sandbox, id: ReturnType<typeof canisterIdFromU64>, method: string, arg: Uint8Array, n: number): Promise<number> {
  for (let i = 0; i < Math.min(1000, n); i++) {
    await sb.execute({ kind: 'update', canisterId: id, method, arg, caller, time: BigInt(i), instructionLimit: LIMIT })
  }
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < n; i++) {
    const r = await sb.execute({ kind: 'update', canisterId: id, method, arg, caller, time: BigInt(i), instructionLimit: LIMIT })
    if (r.outcome.kind !== 'reply') throw new Error(`unexpected outcome ${r.outcome.kind}`)
  }
  return n / (Number(process.hrtime.bigint() - t0) / 1e9)
}

/** Messages to several canisters with up to `window` in flight each: rate in messages/s. */
async function pipelined (sb: Sandbox, ids: Array<ReturnType<typeof canisterIdFromU64>>, n: number, window = 64): Promise<number> {
  const t0 = process.hrtime.bigint()
  await Promise.all(ids.map(async id => {
    const per = Math.floor(n / ids.length)
    let sent = 0
    const lane = async (): Promise<void> => {
      while (sent < per) {
        sent++
        await sb.execute({ kind: 'update', canisterId: id, method: 'echo', arg: payload, caller, time: 1n, instructionLimit: LIMIT })
      }
    }
    await Promise.all(Array.from({ length: window }, lane))
  }))
  return n / (Number(process.hrtime.bigint() - t0) / 1e9)
}

/** Wall time of one execution of the test canister's compute loop, in ms. */
async function loopTime (sb: Sandbox, id: ReturnType<typeof canisterIdFromU64>, arg: Uint8Array): Promise<{ ms: number, instructions: bigint }> {
  const t0 = process.hrtime.bigint()
  const r = await sb.execute({ kind: 'update', canisterId: id, method: 'work', arg, caller, time: 1n, instructionLimit: LIMIT })
  const ms = Number(process.hrtime.bigint() - t0) / 1e6
  if (r.outcome.kind !== 'reply') throw new Error('loop did not reply')
  return { ms, instructions: r.instructionsUsed }
}

function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

const ROUNDS = 5
const metered = new WasmSandbox()
const unmetered = new WasmSandbox({ unmetered: true })
const echoId = await install(metered, 1, 'echo')
const counterId = await install(metered, 2, 'counter')
const echoPlainId = await install(unmetered, 1, 'echo')

// Metered and uninstrumented rounds alternate, and medians are compared, so
// load from other processes on this shared machine hits both alike.
const echoRates: number[] = []
const echoPlainRates: number[] = []
const counterRates: number[] = []
for (let r = 0; r < ROUNDS; r++) {
  echoRates.push(await sequential(metered, echoId, 'echo', payload, MESSAGES / ROUNDS))
  echoPlainRates.push(await sequential(unmetered, echoPlainId, 'echo', payload, MESSAGES / ROUNDS))
  counterRates.push(await sequential(metered, counterId, 'inc', new Uint8Array(0), MESSAGES / ROUNDS))
}
const echoPerS = median(echoRates)
const echoUnmetered = median(echoPlainRates)
const counterPerS = median(counterRates)
emit({ bench: 'execution', what: 'echo, 1 KiB, in-process, sequential (median of 5 rounds)', messages: MESSAGES, per_s: Math.round(echoPerS) })
emit({ bench: 'execution', what: 'echo, 1 KiB, in-process, uninstrumented', messages: MESSAGES, per_s: Math.round(echoUnmetered) })
emit({ bench: 'execution', what: 'counter inc, in-process, sequential', messages: MESSAGES, per_s: Math.round(counterPerS) })

const loopId = await install(metered, 50, 'test')
const loopPlainId = await install(unmetered, 50, 'test')
const loopArg = new Uint8Array(4)
new DataView(loopArg.buffer).setUint32(0, LOOP, true)
const loopMs: number[] = []
const loopPlainMs: number[] = []
let loopInstructions = 0n
for (let r = 0; r < 2 * ROUNDS + 1; r++) {
  const m = await loopTime(metered, loopId, loopArg)
  loopInstructions = m.instructions
  const q = await loopTime(unmetered, loopPlainId, loopArg)
  if (r === 0) continue
  loopMs.push(m.ms)
  loopPlainMs.push(q.ms)
}
// The fastest of the alternating runs is the least disturbed by other load.
const meteringOverhead = Math.min(...loopMs) / Math.min(...loopPlainMs)
emit({
  bench: 'execution', what: `compute loop of ${LOOP} iterations, metered vs uninstrumented (fastest of ${2 * ROUNDS} alternating runs)`,
  metered_ms: +Math.min(...loopMs).toFixed(2), uninstrumented_ms: +Math.min(...loopPlainMs).toFixed(2), overhead: +meteringOverhead.toFixed(3),
  median_overhead: +(median(loopMs) / median(loopPlainMs)).toFixed(3),
  instructions: loopInstructions, instructions_per_s: Math.round(Number(loopInstructions) / (Math.min(...loopMs) / 1000))
})

const workers = new WorkerSandbox({ workers: 2 })
const w1 = await install(workers, 1, 'echo')
const w2 = await install(workers, 2, 'echo')
const workerSeq = await sequential(workers, w1, 'echo', payload, MESSAGES)
const handoffUs = (1 / workerSeq - 1 / echoPerS) * 1e6
emit({ bench: 'execution', what: 'echo, 1 KiB, worker thread, sequential', messages: MESSAGES, per_s: Math.round(workerSeq), handoff_us_per_message: +handoffUs.toFixed(1) })
const workerPar = await pipelined(workers, [w1, w2], MESSAGES * 2)
emit({ bench: 'execution', what: 'echo, 1 KiB, 2 canisters on 2 workers, 64 in flight each', messages: MESSAGES * 2, per_s: Math.round(workerPar) })
await workers.close()

emit({
  bench: 'execution',
  echo_per_s: Math.round(echoPerS),
  counter_per_s: Math.round(counterPerS),
  metering_overhead: +meteringOverhead.toFixed(3),
  metering_overhead_echo: +(echoUnmetered / echoPerS).toFixed(3),
  worker_echo_per_s_sequential: Math.round(workerSeq),
  worker_echo_per_s_parallel: Math.round(workerPar),
  worker_handoff_us: +handoffUs.toFixed(1),
  baseline: 'uninstrumented module and in-process sandbox, same run'
})
