/**
 * A sandbox worker: owns the canisters assigned to it and runs their messages
 * one at a time, off the replica's event loop.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { WasmSandboxCore } from './wasm-sandbox.js'
import { decodeWire, encodeError, encodeWire, pageBuffers } from './worker-protocol.js'
import type { WorkerInit, WorkerRequest, WorkerResponse } from './worker-protocol.js'
import type { CanisterSnapshot, ExecutionRequest, InstallRequest } from './sandbox.js'
import type { CanisterId } from '@icnet/types'

if (parentPort === null) throw new Error('worker.js must run in a worker thread')
const port = parentPort
const init = workerData as WorkerInit
const core = new WasmSandboxCore({ limits: init.limits, unmetered: init.unmetered })

function handle (req: WorkerRequest): unknown {
  const payload = decodeWire(req.payload)
  switch (req.op) {
    case 'install': return core.install(payload as InstallRequest)
    case 'execute': return core.execute(payload as ExecutionRequest)
    case 'uninstall': core.uninstall(payload as CanisterId); return undefined
    case 'snapshot': return core.snapshot(payload as CanisterId)
    case 'restore': core.restore(payload as CanisterSnapshot); return undefined
  }
}

port.on('message', (req: WorkerRequest) => {
  let response: WorkerResponse
  let transfer: ArrayBuffer[] = []
  try {
    const value = handle(req)
    response = { id: req.id, ok: true, value: encodeWire(value) }
    transfer = pageBuffers(value)
  } catch (err) {
    response = { id: req.id, ok: false, error: encodeError(err) }
  }
  port.postMessage(response, transfer)
})
