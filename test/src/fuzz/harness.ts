/**
 * The fuzzing harness: every target is a fast-check property run either for a
 * fixed number of inputs (the default, quick enough for every test run) or for
 * a time budget (`FUZZ_SECONDS=<s>` per target). A failure is shrunk by
 * fast-check to a minimal input and reported with its seed and path, so that
 * `FUZZ_SEED=<seed> FUZZ_PATH=<path>` replays exactly that case; with
 * `FUZZ_FINDINGS=<file>` each failure is also appended to a JSON-lines file.
 */
import { appendFileSync } from 'node:fs'
import { format } from 'node:util'
import fc from 'fast-check'
import { IcnetError, toHex } from '@icnet/types'

const seconds = Number(process.env.FUZZ_SECONDS ?? '0')
/** True when fuzzing for a time budget rather than a fixed number of runs. */
export const LONG_MODE = Number.isFinite(seconds) && seconds > 0
const budgetMs = LONG_MODE ? seconds * 1000 : 0
const runScale = Number(process.env.FUZZ_RUN_SCALE ?? '1')

/** Mocha timeout for one target: its budget plus generous room for shrinking a failure. */
export function targetTimeoutMs (defaultMs = 120_000): number {
  return LONG_MODE ? budgetMs + 300_000 : defaultMs
}

export interface TargetResult {
  target: string
  runs: number
  /** Inputs the decoder accepted: a sanity check that mutations still reach past the first checks. */
  accepted: number
  ms: number
  failed: boolean
  seed: number
}

let accepted = 0

const results: TargetResult[] = []
/** What each target did in this process. */
export function fuzzResults (): readonly TargetResult[] { return results }

// With FUZZ_RESULTS=<file>, each target's figures are appended there as a JSON line (the fuzz script reads them).
const resultsFile = process.env.FUZZ_RESULTS
function record (result: TargetResult): void {
  results.push(result)
  if (resultsFile !== undefined) appendFileSync(resultsFile, `${JSON.stringify(result)}\n`)
}

/**
 * Runs a property as a fuzz target: `runs` inputs in a normal test run, or until
 * the time budget in long mode. Throws with the shrunk counterexample on failure.
 */
export async function fuzz<T> (target: string, arb: fc.Arbitrary<T>, check: (value: T) => void | Promise<void>, runs: number): Promise<void> {
  const seed = process.env.FUZZ_SEED !== undefined ? Number(process.env.FUZZ_SEED) : Date.now() ^ (Math.random() * 0x100000000)
  const params: fc.Parameters<[T]> = LONG_MODE
    ? { seed, numRuns: Number.MAX_SAFE_INTEGER, interruptAfterTimeLimit: budgetMs, markInterruptAsFailure: false, endOnFailure: false }
    : { seed, numRuns: Math.max(1, Math.round(runs * runScale)) }
  if (process.env.FUZZ_PATH !== undefined) params.path = process.env.FUZZ_PATH
  const started = performance.now()
  accepted = 0
  let count = 0
  const counted = async (value: T): Promise<void> => { count++; await check(value) }
  const details = await fc.check(fc.asyncProperty(arb, counted), params)
  const ms = Math.round(performance.now() - started)
  record({ target, runs: details.numRuns, accepted, ms, failed: details.failed, seed })
  if (!details.failed) return
  const example = details.counterexample?.[0]
  const report = {
    target,
    seed: details.seed,
    path: details.counterexamplePath,
    input: example instanceof Uint8Array ? toHex(example) : format('%o', example).slice(0, 4000),
    error: format('%s', details.errorInstance).slice(0, 2000)
  }
  if (process.env.FUZZ_FINDINGS !== undefined) appendFileSync(process.env.FUZZ_FINDINGS, `${JSON.stringify(report)}\n`)
  throw new Error(`fuzz target ${target} failed after ${details.numRuns} runs (${count} calls); replay with FUZZ_SEED=${String(details.seed)} FUZZ_PATH=${String(details.counterexamplePath)}\n${JSON.stringify(report, null, 2)}`)
}

/** Allocation allowed for one decode call: a fixed 32 MiB plus 512 bytes per input byte. */
const ALLOCATION_SLACK_BYTES = 32 * 1024 * 1024
const ALLOCATION_PER_INPUT_BYTE = 512

export class UntypedFailure extends Error {
  constructor (message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'UntypedFailure'
  }
}

export type ErrorPredicate = (err: unknown) => boolean
/** The contract of every icnet decoder: only IcnetError subclasses. */
export const icnetErrorsOnly: ErrorPredicate = err => err instanceof IcnetError

/**
 * Calls `decode(input)` and enforces the decoder contract: it returns, or
 * throws an error `allowed` accepts (never a RangeError, TypeError or other
 * crash), and it does not allocate far more than the input's size. The heap
 * and ArrayBuffer growth measured across the call is a lower bound of what the
 * call allocated (a collection during the call only lowers it), so an excess
 * is real, never noise.
 */
export function expectDecoderContract<R> (input: Uint8Array, decode: (bytes: Uint8Array) => R, allowed: ErrorPredicate = icnetErrorsOnly): { ok: true, value: R } | { ok: false, error: unknown } {
  const before = process.memoryUsage()
  let outcome: { ok: true, value: R } | { ok: false, error: unknown }
  try {
    outcome = { ok: true, value: decode(input) }
  } catch (error) {
    outcome = { ok: false, error }
  }
  const after = process.memoryUsage()
  checkOutcome(input, outcome, allowed, before, after)
  if (outcome.ok) accepted++
  return outcome
}

/** As `expectDecoderContract`, for decoders that return a promise. */
export async function expectAsyncDecoderContract<R> (input: Uint8Array, decode: (bytes: Uint8Array) => Promise<R>, allowed: ErrorPredicate = icnetErrorsOnly): Promise<{ ok: true, value: R } | { ok: false, error: unknown }> {
  const before = process.memoryUsage()
  let outcome: { ok: true, value: R } | { ok: false, error: unknown }
  try {
    outcome = { ok: true, value: await decode(input) }
  } catch (error) {
    outcome = { ok: false, error }
  }
  const after = process.memoryUsage()
  checkOutcome(input, outcome, allowed, before, after)
  if (outcome.ok) accepted++
  return outcome
}

function checkOutcome (input: Uint8Array, outcome: { ok: boolean, error?: unknown }, allowed: ErrorPredicate, before: NodeJS.MemoryUsage, after: NodeJS.MemoryUsage): void {
  const limit = ALLOCATION_SLACK_BYTES + ALLOCATION_PER_INPUT_BYTE * input.length
  const grown = Math.max(after.heapUsed - before.heapUsed, 0) + Math.max(after.arrayBuffers - before.arrayBuffers, 0)
  if (grown > limit) {
    throw new UntypedFailure(`decoding ${input.length} bytes allocated at least ${grown} bytes (limit ${limit})`)
  }
  if (!outcome.ok && !allowed(outcome.error)) {
    const e = outcome.error as { name?: string, message?: string } | undefined
    throw new UntypedFailure(`decoder threw ${e?.name ?? typeof e}: ${String(e?.message ?? e).slice(0, 300)}`, { cause: outcome.error })
  }
}
