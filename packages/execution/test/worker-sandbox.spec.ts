import assert from 'node:assert/strict'
import { InMemoryMetrics } from '@icnet/types'
import { InvalidModuleError, WorkerSandbox } from '../src/index.js'
import { loadTestCanister } from '../src/canisters/index.js'
import { A, B, deliver, forwardArg, install, query, readU64, replyData, text, u64, update } from './helpers.js'

describe('WorkerSandbox', () => {
  it('runs canisters on two workers, including calls between them', async () => {
    const sb = new WorkerSandbox({ workers: 2 })
    try {
      await install(sb, A, await loadTestCanister('test'))
      await install(sb, B, await loadTestCanister('echo'))
      const r = await update(sb, A, 'forward', forwardArg(0, B, 'echo', text('over the thread boundary')))
      assert.ok(r.calls[0]!.callee.toText() === B.toText(), 'principals survive the worker boundary')
      const { callback } = await deliver(sb, A, r)
      assert.deepEqual(replyData(callback), text('over the thread boundary'))
    } finally {
      await sb.close()
    }
  })

  it('refuses invalid modules with the typed error across the thread boundary', async () => {
    const sb = new WorkerSandbox({ workers: 1 })
    try {
      await assert.rejects(install(sb, A, text('junk')), (err: unknown) => err instanceof InvalidModuleError && err.reason === 'malformed')
      await assert.rejects(query(sb, A, 'stats'), { name: 'CanisterStateError' })
    } finally {
      await sb.close()
    }
  })

  it('the watchdog terminates a runaway worker and restores its canisters from their committed state', async () => {
    // Unmetered, the spin loop never ends: only the watchdog can stop it.
    const metrics = new InMemoryMetrics()
    const sb = new WorkerSandbox({ workers: 1, unmetered: true, watchdogMs: 300, metrics })
    try {
      await install(sb, A, await loadTestCanister('test'))
      await install(sb, B, await loadTestCanister('counter'))
      await update(sb, B, 'add', u64(41n))
      const hung = update(sb, A, 'spin')
      const queued = update(sb, B, 'inc')
      await assert.rejects(hung, { name: 'WatchdogTimeoutError' })
      await assert.rejects(queued, { name: 'WatchdogTimeoutError' })
      // The canister in the rebuilt worker kept its committed state.
      assert.equal(readU64(replyData(await update(sb, B, 'inc'))), 42n)
      assert.equal(readU64(replyData(await query(sb, A, 'stats'))), 0n)
    } finally {
      await sb.close()
    }
  })
})
