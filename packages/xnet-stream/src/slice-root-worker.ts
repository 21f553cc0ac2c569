/**
 * Worker thread of `SliceRootWorkers`: recomputes the state root of a slice from
 * its wire bytes (witness with the payload substituted, `proofRootFromBytes`) and
 * answers with the 32-byte root. The hashing (three SHA-256 calls per message) is
 * the bulk of verifying a slice; here it runs beside the event loop that moves
 * the next slices.
 */
import { parentPort } from 'node:worker_threads'
import { proofRootFromBytes } from './proof-root.js'
import { readSliceWire } from './slice-codec.js'
import type { RootJob, RootResult } from './slice-root-protocol.js'

if (parentPort == null) throw new Error('slice-root-worker must run in a worker thread')
const port = parentPort

port.on('message', (job: RootJob) => {
  const t0 = performance.now()
  let result: RootResult
  try {
    const wire = readSliceWire(job.bytes)
    const root = proofRootFromBytes(wire.proof, {
      subnet: wire.subnet,
      headerBytes: wire.headerBytes,
      first: wire.messages.length > 0 ? wire.messages[0]!.index : 0,
      messages: wire.messages
    })
    result = { id: job.id, root: Uint8Array.from(root), ms: performance.now() - t0 } // a copy of its own: a view could drag a pooled slab along
  } catch (err) {
    // Not ours to report: the caller's thread verifies this slice itself and throws the typed error.
    result = { id: job.id, failed: err instanceof Error ? err.name : 'Error', ms: performance.now() - t0 }
  }
  port.postMessage(result)
})
