/**
 * The curve library behind the public threshold API. mcl-wasm was measured
 * faster than @noble/curves for signing, combining and verifying
 * (docs/benchmarks/crypto.md); both produce identical bytes.
 */
import { mclBackend } from './threshold-mcl.js'
import { nobleBackend } from './threshold-noble.js'
import type { ThresholdBackend } from './threshold-backend.js'

export const thresholdBackend: ThresholdBackend = mclBackend

/** Every implementation, for cross-checks and benchmarks. */
export const thresholdBackends: Readonly<Record<ThresholdBackend['name'], ThresholdBackend>> = {
  mcl: mclBackend,
  noble: nobleBackend
}
