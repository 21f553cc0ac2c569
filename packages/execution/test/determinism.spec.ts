import assert from 'node:assert/strict'
import fc from 'fast-check'
import { WasmSandbox, WorkerSandbox } from '../src/index.js'
import type { ExecutionResult, Sandbox } from '../src/index.js'
import { loadTestCanister } from '../src/canisters/index.js'
import { A, concat, install, u32, u64, update } from './helpers.js'

type Op =
  | { m: 'work', n: number }
  | { m: 'touch_pages', n: number }
  | { m: 'grow_stable', n: number }
  | { m: 'write_stable', offset: number, data: Uint8Array }
  | { m: 'certify', data: Uint8Array }
  | { m: 'fill', n: number }
  | { m: 'spin', limit: number }

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ m: fc.constant('work' as const), n: fc.nat(2000) }),
  fc.record({ m: fc.constant('touch_pages' as const), n: fc.nat(40) }),
  fc.record({ m: fc.constant('grow_stable' as const), n: fc.nat(2) }),
  fc.record({ m: fc.constant('write_stable' as const), offset: fc.nat(70000), data: fc.uint8Array({ minLength: 1, maxLength: 9000 }) }),
  fc.record({ m: fc.constant('certify' as const), data: fc.uint8Array({ maxLength: 40 }) }),
  fc.record({ m: fc.constant('fill' as const), n: fc.nat(50000) }),
  fc.record({ m: fc.constant('spin' as const), limit: fc.integer({ min: 1, max: 20000 }) })
)

async function run (sb: Sandbox, op: Op, time: bigint): Promise<ExecutionResult> {
  switch (op.m) {
    case 'work': case 'touch_pages': case 'fill': return update(sb, A, op.m, u32(op.n), { time })
    case 'grow_stable': return update(sb, A, op.m, u64(BigInt(op.n)), { time })
    case 'write_stable': return update(sb, A, op.m, concat(u64(BigInt(op.offset)), op.data), { time })
    case 'certify': return update(sb, A, op.m, op.data, { time })
    case 'spin': return update(sb, A, op.m, new Uint8Array(0), { time, limit: BigInt(op.limit) })
  }
}

describe('determinism', () => {
  let workers: WorkerSandbox
  before(() => { workers = new WorkerSandbox({ workers: 2 }) })
  after(async () => { await workers.close() })

  it('two sandboxes fed the same inputs give identical results, memory and instruction counts', async () => {
    const wasm = await loadTestCanister('test')
    await fc.assert(fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 12 }), async ops => {
      const x = new WasmSandbox()
      const y = new WasmSandbox()
      await install(x, A, wasm)
      await install(y, A, wasm)
      let time = 10n
      for (const op of ops) {
        time += 1000n
        const rx = await run(x, op, time)
        const ry = await run(y, op, time)
        assert.deepEqual(rx, ry)
      }
      assert.deepEqual(await x.snapshot(A), await y.snapshot(A))
    }), { numRuns: 25 })
  })

  it('metering changes nothing but the instruction count', async () => {
    const wasm = await loadTestCanister('test')
    await fc.assert(fc.asyncProperty(fc.array(opArb.filter(op => op.m !== 'spin'), { minLength: 1, maxLength: 10 }), async ops => {
      const metered = new WasmSandbox()
      const plain = new WasmSandbox({ unmetered: true })
      await install(metered, A, wasm)
      await install(plain, A, wasm)
      for (const op of ops) {
        const rm = await run(metered, op, 5n)
        const rp = await run(plain, op, 5n)
        assert.equal(rp.instructionsUsed < rm.instructionsUsed || rm.trap !== undefined, true)
        assert.deepEqual({ ...rp, instructionsUsed: 0n }, { ...rm, instructionsUsed: 0n })
      }
      assert.deepEqual(await plain.snapshot(A), await metered.snapshot(A))
    }), { numRuns: 15 })
  })

  it('the worker sandbox matches the in-process sandbox byte for byte, and its mirror matches the worker', async () => {
    const wasm = await loadTestCanister('test')
    await fc.assert(fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 10 }), async ops => {
      const local = new WasmSandbox()
      await install(local, A, wasm)
      await install(workers, A, wasm)
      try {
        let time = 10n
        for (const op of ops) {
          time += 1000n
          assert.deepEqual(await run(workers, op, time), await run(local, op, time))
        }
        const snap = await local.snapshot(A)
        assert.deepEqual(await workers.snapshot(A), snap)
        assert.deepEqual(workers.mirrorSnapshot(A), snap)
      } finally {
        await workers.uninstall(A)
      }
    }), { numRuns: 10 })
  })
})
