/**
 * The curve library behind the public threshold API: blst where its binary
 * exists for the running Node.js, mcl-wasm otherwise. Measured for signing,
 * combining and verifying, blst is about 3x faster than mcl-wasm and mcl-wasm
 * 5-9x faster than @noble/curves (docs/benchmarks/crypto.md); all three
 * produce identical bytes. `ICNET_THRESHOLD_LIBRARY=blst|mcl|noble` picks one
 * explicitly (for comparisons); naming one that is not available here is an
 * error at start-up rather than a silent fallback.
 *
 * mcl-wasm is loaded only when it is needed (no blst binary, the variable
 * asks for it, or `loadThresholdBackends` for cross-checks): compiling and
 * starting its WebAssembly costs a process about 160 ms of CPU and 30 MB.
 */
import { blstBackend } from './threshold-blst.js'
import { nobleBackend } from './threshold-noble.js'
import type { ThresholdBackend } from './threshold-backend.js'

type Name = ThresholdBackend['name']

/** The environment variable that overrides the choice. */
export const THRESHOLD_LIBRARY_ENV = 'ICNET_THRESHOLD_LIBRARY'

const loaded = new Map<Name, ThresholdBackend>([
  ...(blstBackend === undefined ? [] : [['blst', blstBackend] as const]),
  ['noble', nobleBackend]
])

async function loadMcl (): Promise<ThresholdBackend> {
  const { mclBackend } = await import('./threshold-mcl.js')
  loaded.set('mcl', mclBackend)
  return mclBackend
}

/** Every implementation loaded in this process so far. */
export function loadedThresholdBackends (): ReadonlyMap<Name, ThresholdBackend> {
  return loaded
}

/** Loads every implementation available on this platform (mcl-wasm included) and returns them all. */
export async function loadThresholdBackends (): Promise<ReadonlyMap<Name, ThresholdBackend>> {
  if (!loaded.has('mcl')) await loadMcl()
  return loaded
}

async function chooseBackend (): Promise<ThresholdBackend> {
  const wanted = process.env[THRESHOLD_LIBRARY_ENV]
  if (wanted === undefined || wanted === '') return blstBackend ?? await loadMcl()
  if (wanted === 'mcl') return await loadMcl()
  const backend = loaded.get(wanted as Name)
  if (backend === undefined) {
    throw new Error(`${THRESHOLD_LIBRARY_ENV}=${wanted}: not a threshold library available here (${[...loaded.keys(), 'mcl'].join(', ')})`)
  }
  return backend
}

export const thresholdBackend: ThresholdBackend = await chooseBackend()
