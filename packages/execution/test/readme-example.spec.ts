import assert from 'node:assert/strict'
import { Principal, canisterIdFromU64 } from '@icnet/types'
import { JS_TEST_CANISTERS, JsSandbox, WorkerSandbox } from '../src/index.js'
import { loadTestCanister } from '../src/canisters/index.js'

// The README's example, verbatim apart from the assertions standing in for console.log.
describe('README example', () => {
  it('runs', async () => {
    const sandbox = new WorkerSandbox({ workers: 2 })
    const counter = canisterIdFromU64(1)
    const controller = Principal.anonymous()
    const u64 = (n: bigint): Uint8Array => { const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, n, true); return b }

    await sandbox.install({
      canisterId: counter, mode: 'install', module: await loadTestCanister('counter'),
      arg: u64(41n), caller: controller, time: 1_000n, instructionLimit: 1_000_000n
    })
    const r = await sandbox.execute({
      kind: 'update', canisterId: counter, method: 'inc', arg: new Uint8Array(0),
      caller: controller, time: 2_000n, instructionLimit: 1_000_000n
    })
    assert.equal(r.outcome.kind, 'reply') // console.log(r.outcome)  -> { kind: 'reply', data: 42 as u64 LE }
    assert.ok(r.instructionsUsed > 0n) // console.log(r.instructionsUsed)
    assert.deepEqual(r.heap.pages.map(p => p.index), [0]) // console.log(r.heap.pages.map(p => p.index)) -> [0]: one 4 KiB page changed

    const runaway = await sandbox.execute({
      kind: 'update', canisterId: counter, method: 'inc', arg: new Uint8Array(0),
      caller: controller, time: 3_000n, instructionLimit: 10n
    })
    assert.equal(runaway.trap?.kind, 'instruction-limit') // console.log(runaway.trap) -> { kind: 'instruction-limit', ... }
    await sandbox.close()

    // The same canister as a JS class, for fast tests.
    const js = new JsSandbox({ canisters: JS_TEST_CANISTERS })
    await js.install({ canisterId: counter, mode: 'install', module: new TextEncoder().encode('counter'), arg: u64(41n), caller: controller, time: 1_000n, instructionLimit: 1_000_000n })
    const j = await js.execute({ kind: 'update', canisterId: counter, method: 'inc', arg: new Uint8Array(0), caller: controller, time: 2_000n, instructionLimit: 1_000_000n })
    assert.deepEqual(j.outcome, r.outcome) // same reply
  })
})
