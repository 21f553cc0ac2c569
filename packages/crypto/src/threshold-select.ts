/**
 * The curve library behind the public threshold API: blst where its binary
 * exists for the running Node.js, mcl-wasm otherwise. Measured for signing,
 * combining and verifying, blst is about 3x faster than mcl-wasm and mcl-wasm
 * 5-9x faster than @noble/curves (docs/benchmarks/crypto.md); all three
 * produce identical bytes.
 */
import { blstBackend } from './threshold-blst.js'
import { mclBackend } from './threshold-mcl.js'
import { nobleBackend } from './threshold-noble.js'
import type { ThresholdBackend } from './threshold-backend.js'

export const thresholdBackend: ThresholdBackend = blstBackend ?? mclBackend

/** Every implementation available in this process, for cross-checks and benchmarks. */
export const thresholdBackends: Readonly<Partial<Record<ThresholdBackend['name'], ThresholdBackend>>> = {
  ...(blstBackend === undefined ? {} : { blst: blstBackend }),
  mcl: mclBackend,
  noble: nobleBackend
}
