/**
 * Worker thread of BlsVerifierPool: receives batches of signature sets,
 * answers with one boolean per set. blst verification is synchronous, so a
 * worker per spare core is what puts the other cores to work.
 */
import { parentPort } from 'node:worker_threads'
import { verifyBatchFindingCulprits } from './batch-verify.js'
import type { WorkerRequest, WorkerResponse } from './verifier-protocol.js'

if (parentPort == null) throw new Error('verifier-worker must run in a worker thread')
const port = parentPort

port.on('message', (request: WorkerRequest) => {
  let response: WorkerResponse
  try {
    const outcome = verifyBatchFindingCulprits(request.sets)
    response = { id: request.id, results: outcome.results, batchFailed: outcome.batchFailed }
  } catch (err) {
    // Verification returns false on bad input; reaching here is a bug, so report rather than die.
    response = { id: request.id, error: err instanceof Error ? err.message : String(err) }
  }
  port.postMessage(response)
})
