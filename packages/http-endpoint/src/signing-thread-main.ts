/**
 * The thread's main script for Ed25519SigningThread (see signing-thread.ts): signs each
 * batch of messages it is sent with the key it was started with and answers
 * with the signatures, 64 bytes each, in one buffer.
 */
import type { KeyObject } from 'node:crypto'
import { parentPort, workerData } from 'node:worker_threads'
import { ed25519Sign } from './ed25519-sign.js'
import type { SignBatch, SignedBatch } from './signing-thread.js'

const sign = ed25519Sign((workerData as { key: KeyObject }).key)
const port = parentPort!

port.on('message', (batch: SignBatch) => {
  const count = batch.ends.length
  const signatures = new Uint8Array(count * 64)
  let start = 0
  for (let i = 0; i < count; i++) {
    const end = batch.ends[i]!
    signatures.set(sign(batch.data.subarray(start, end)), i * 64)
    start = end
  }
  const answer: SignedBatch = { id: batch.id, signatures }
  port.postMessage(answer, [signatures.buffer])
})
