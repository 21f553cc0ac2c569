/**
 * Worker thread of `SliceRootWorkers`: recomputes the state root of a slice from
 * its wire bytes (witness with the payload substituted, `proofRootFromBytes`) and
 * answers with the 32-byte root (and, given the source subnet's key, whether the
 * threshold signature verifies against it). The hashing (three SHA-256 calls per message) is
 * the bulk of verifying a slice; here it runs beside the event loop that moves
 * the next slices.
 */
import { parentPort } from 'node:worker_threads'
import { certificateMessage, verifyThreshold } from '@icnet/crypto'
import { LruMap } from '@icnet/types'
import { VERIFIED_CERTIFICATIONS_CACHE_SIZE } from './constants.js'
import { certificationKey } from './slice-memo.js'
import { proofRootFromBytes } from './proof-root.js'
import { readSliceWire } from './slice-codec.js'
import type { RootJob, RootResult } from './slice-root-protocol.js'

if (parentPort == null) throw new Error('slice-root-worker must run in a worker thread')
const port = parentPort
/** Triples verified here: the slices of one certified height pay for the pairing check once. */
const verified = new LruMap<string, boolean>(VERIFIED_CERTIFICATIONS_CACHE_SIZE)

function signatureValid (publicKey: Uint8Array, root: Uint8Array, signature: Uint8Array): boolean {
  const key = certificationKey(publicKey, root, signature)
  let ok = verified.get(key)
  if (ok === undefined) {
    ok = verifyThreshold(publicKey, certificateMessage(root), signature)
    verified.set(key, ok)
  }
  return ok
}

port.on('message', (job: RootJob) => {
  const t0 = performance.now()
  let result: RootResult
  try {
    const wire = readSliceWire(job.bytes)
    // The payload's leaf digests, in order, if asked for (filled as the walk hashes each message).
    const digests = job.leafDigests === true ? new Uint8Array(wire.messages.length * 32) : undefined
    const root = proofRootFromBytes(wire.proof, {
      subnet: wire.subnet,
      headerBytes: wire.headerBytes,
      first: wire.messages.length > 0 ? wire.messages[0]!.index : 0,
      messages: wire.messages,
      leafDigestsOut: digests
    })
    const valid = job.publicKey === undefined ? undefined : signatureValid(job.publicKey, root, wire.signature)
    // The root as a copy of its own: a view could drag a pooled slab along.
    result = { id: job.id, root: Uint8Array.from(root), signatureValid: valid, ms: performance.now() - t0, leafDigests: digests }
  } catch (err) {
    // Not ours to report: the caller's thread verifies this slice itself and throws the typed error.
    result = { id: job.id, failed: err instanceof Error ? err.name : 'Error', ms: performance.now() - t0 }
  }
  // The job's buffer goes back to be filled again: warm memory, no page faults for the next slice.
  const buffer = job.bytes.buffer as ArrayBuffer
  const digests = 'leafDigests' in result ? result.leafDigests?.buffer as ArrayBuffer | undefined : undefined
  port.postMessage({ ...result, buffer }, digests === undefined ? [buffer] : [buffer, digests])
})
