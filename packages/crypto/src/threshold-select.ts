/**
 * The curve library behind the public threshold API: blst where its binary
 * exists for the running Node.js, mcl-wasm otherwise. Measured for signing,
 * combining and verifying, blst is about 3x faster than mcl-wasm and mcl-wasm
 * 5-9x faster than @noble/curves (docs/benchmarks/crypto.md); all three
 * produce identical bytes. `ICNET_THRESHOLD_LIBRARY=blst|mcl|noble` picks one
 * explicitly (for comparisons); naming one that is not available here is an
 * error at start-up rather than a silent fallback.
 */
import { blstBackend } from './threshold-blst.js'
import { mclBackend } from './threshold-mcl.js'
import { nobleBackend } from './threshold-noble.js'
import type { ThresholdBackend } from './threshold-backend.js'

/** Every implementation available in this process, for cross-checks and benchmarks. */
export const thresholdBackends: Readonly<Partial<Record<ThresholdBackend['name'], ThresholdBackend>>> = {
  ...(blstBackend === undefined ? {} : { blst: blstBackend }),
  mcl: mclBackend,
  noble: nobleBackend
}

/** The environment variable that overrides the choice. */
export const THRESHOLD_LIBRARY_ENV = 'ICNET_THRESHOLD_LIBRARY'

function chooseBackend (): ThresholdBackend {
  const wanted = process.env[THRESHOLD_LIBRARY_ENV]
  if (wanted === undefined || wanted === '') return blstBackend ?? mclBackend
  const backend = thresholdBackends[wanted as ThresholdBackend['name']]
  if (backend === undefined) {
    throw new Error(`${THRESHOLD_LIBRARY_ENV}=${wanted}: not a threshold library available here (${Object.keys(thresholdBackends).join(', ')})`)
  }
  return backend
}

export const thresholdBackend: ThresholdBackend = chooseBackend()
