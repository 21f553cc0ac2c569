/**
 * The thread's main script for Ed25519SigningThread (see signing-thread.ts):
 * does each batch of jobs it is sent (signatures and query answers, see
 * signing-jobs.ts) with the key it was started with, and answers with the
 * outputs in one buffer. A job that fails gives an empty output, which the
 * event loop turns into an error for that job alone.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { ed25519Sign } from './ed25519-sign.js'
import { decodeSigningJobs, runSigningJob } from './signing-jobs.js'
import type { SignBatch, SignedBatch, SigningThreadData } from './signing-thread.js'

const { key, nodeId } = workerData as SigningThreadData
const sign = ed25519Sign(key)
const port = parentPort!

port.on('message', (batch: SignBatch) => {
  const jobs = decodeSigningJobs(batch.data)
  const outputs: Uint8Array[] = new Array(jobs.length)
  const ends = new Uint32Array(jobs.length)
  let size = 0
  for (let i = 0; i < jobs.length; i++) {
    let output: Uint8Array
    try {
      output = runSigningJob(jobs[i]!, sign, nodeId)
    } catch {
      output = new Uint8Array()
    }
    outputs[i] = output
    size += output.length
    ends[i] = size
  }
  const data = new Uint8Array(size)
  for (let i = 0; i < outputs.length; i++) data.set(outputs[i]!, i === 0 ? 0 : ends[i - 1]!)
  const answer: SignedBatch = { id: batch.id, data, ends }
  port.postMessage(answer, [data.buffer, ends.buffer])
})
