import assert from 'node:assert/strict'
import { RejectCode } from '@icnet/types'
import { InvalidModuleError, WasmSandbox } from '../src/index.js'
import { compileWat, loadTestCanister } from '../src/canisters/index.js'
import { A, B, CONTROLLER, EMPTY, LIMIT, concat, deliver, forwardArg, install, query, readU64, replyData, stats, text, u32, u64, update } from './helpers.js'

describe('WasmSandbox', () => {
  let sb: WasmSandbox
  beforeEach(() => { sb = new WasmSandbox() })
  afterEach(async () => { await sb.close() })

  describe('counter canister', () => {
    it('counts, keeps state across messages and discards query changes', async () => {
      await install(sb, A, await loadTestCanister('counter'), u64(40n))
      assert.equal(readU64(replyData(await update(sb, A, 'inc'))), 41n)
      assert.equal(readU64(replyData(await update(sb, A, 'add', u64(10n)))), 51n)
      assert.equal(readU64(replyData(await query(sb, A, 'get'))), 51n)
    })

    it('keeps the value across an upgrade (through stable memory) and loses it on reinstall', async () => {
      const wasm = await loadTestCanister('counter')
      await install(sb, A, wasm)
      await update(sb, A, 'add', u64(7n))
      const up = await sb.install({ canisterId: A, mode: 'upgrade', module: wasm, arg: EMPTY, caller: CONTROLLER, time: 5n, instructionLimit: LIMIT })
      assert.equal(up.outcome.kind, 'reply')
      assert.equal(up.stable.sizeWasmPages, 1)
      assert.deepEqual(up.stable.pages.map(p => p.index), [0])
      assert.equal(readU64(replyData(await query(sb, A, 'get'))), 7n)
      await sb.install({ canisterId: A, mode: 'reinstall', module: wasm, arg: EMPTY, caller: CONTROLLER, time: 6n, instructionLimit: LIMIT })
      assert.equal(readU64(replyData(await query(sb, A, 'get'))), 0n)
    })

    it('refuses install over an installed canister and upgrade of a missing one', async () => {
      const wasm = await loadTestCanister('counter')
      await install(sb, A, wasm)
      await assert.rejects(install(sb, A, wasm), { name: 'CanisterStateError' })
      await assert.rejects(sb.install({ canisterId: B, mode: 'upgrade', module: wasm, arg: EMPTY, caller: CONTROLLER, time: 1n, instructionLimit: LIMIT }), { name: 'CanisterStateError' })
    })
  })

  describe('metering', () => {
    it('traps an infinite loop at the instruction limit and rolls back', async () => {
      await install(sb, A, await loadTestCanister('test'))
      const r = await update(sb, A, 'spin', EMPTY, { limit: 1_000_000n })
      assert.equal(r.trap?.kind, 'instruction-limit')
      assert.match(r.trap.message, /instruction limit exceeded/)
      assert.equal(r.instructionsUsed, 1_000_000n)
      assert.deepEqual(r.outcome, { kind: 'reject', code: RejectCode.CanisterError, message: r.trap.message })
      assert.equal(r.heap.pages.length, 0)
      // The canister still works.
      assert.equal(readU64(replyData(await update(sb, A, 'work', u32(3)))), 6n)
    })

    it('charges a fixed cost per loop iteration', async () => {
      await install(sb, A, await loadTestCanister('test'))
      const used = async (n: number): Promise<bigint> => (await update(sb, A, 'work', u32(n))).instructionsUsed
      const u0 = await used(0)
      const u1 = await used(100)
      const u2 = await used(200)
      assert.ok(u1 > u0)
      assert.equal(u2 - u1, u1 - u0)
      assert.equal(await used(100), u1)
    })

    it('charges bulk memory operations per byte', async () => {
      await install(sb, A, await loadTestCanister('test'))
      const small = (await update(sb, A, 'fill', u32(10))).instructionsUsed
      const large = (await update(sb, A, 'fill', u32(40010))).instructionsUsed
      assert.equal(large - small, 40000n)
      const r = await update(sb, A, 'fill', u32(60000), { limit: 30000n })
      assert.equal(r.trap?.kind, 'instruction-limit')
    })
  })

  describe('memory limits', () => {
    it('traps when the heap grows past the limit, keeping the old heap', async () => {
      const small = new WasmSandbox({ limits: { maxHeapWasmPages: 4 } })
      await install(small, A, await loadTestCanister('test'))
      assert.equal(readU64(replyData(await update(small, A, 'grow', u32(2)))), 3n)
      const r = await update(small, A, 'grow', u32(2))
      assert.equal(r.trap?.kind, 'wasm')
      assert.equal(r.outcome.kind, 'reject')
      assert.equal(r.heap.sizeWasmPages, 3)
      assert.equal(readU64(replyData(await update(small, A, 'grow', u32(1)))), 4n)
    })

    it('rolls back heap growth of a trapping message (the instance is rebuilt)', async () => {
      await install(sb, A, await loadTestCanister('test'))
      await update(sb, A, 'touch_pages', u32(2))
      // touch_pages 100 grows the heap to 2 wasm pages, then runs out of budget mid-loop.
      const r = await update(sb, A, 'touch_pages', u32(100), { limit: 500n })
      assert.equal(r.trap?.kind, 'instruction-limit')
      assert.equal(r.heap.sizeWasmPages, 1)
      const s = await sb.snapshot(A)
      assert.equal(s.heap.length, 65536)
      assert.equal(s.heap[4 * 4096], 1)
      assert.equal(s.heap[5 * 4096], 1)
      assert.equal(s.heap[6 * 4096], 0)
    })

    it('traps when stable memory grows past the limit', async () => {
      const small = new WasmSandbox({ limits: { maxStableWasmPages: 3 } })
      await install(small, A, await loadTestCanister('test'))
      assert.equal(readU64(replyData(await update(small, A, 'grow_stable', u64(2n)))), 0n)
      const r = await update(small, A, 'grow_stable', u64(2n))
      assert.equal(r.trap?.kind, 'explicit')
      assert.match(r.trap.message, /stable memory limit/)
      assert.equal(r.stable.sizeWasmPages, 2)
    })

    it('refuses a module whose initial memory is past the limit', async () => {
      const small = new WasmSandbox({ limits: { maxHeapWasmPages: 4 } })
      const wasm = await compileWat('(module (memory 5))')
      await assert.rejects(install(small, A, wasm), (err: unknown) => err instanceof InvalidModuleError && err.reason === 'memory-limit')
    })
  })

  describe('system API', () => {
    beforeEach(async () => { await install(sb, A, await loadTestCanister('test')) })

    it('an unimplemented import traps naming the function', async () => {
      const r = await update(sb, A, 'cycles')
      assert.equal(r.trap?.kind, 'unimplemented')
      assert.match(r.trap.message, /ic0\.canister_cycle_balance/)
      assert.equal(r.outcome.kind === 'reject' && r.outcome.code, RejectCode.CanisterError)
    })

    it('misuse traps with CanisterError', async () => {
      for (const [method, arg] of [['reply_twice', EMPTY], ['arg_oob', text('abc')], ['certify', new Uint8Array(33)]] as const) {
        const r = await update(sb, A, method, arg)
        assert.equal(r.trap?.kind, 'api-misuse', method)
        assert.equal(r.outcome.kind === 'reject' && r.outcome.code, RejectCode.CanisterError, method)
      }
      for (const method of ['call_in_query', 'certify_in_query']) {
        const r = await query(sb, A, method)
        assert.equal(r.trap?.kind, 'api-misuse', method)
        assert.match(r.trap.message, /cannot be called in the query context/)
      }
    })

    it('explicit traps, rejects, missing replies and missing methods', async () => {
      const t = await update(sb, A, 'trap')
      assert.equal(t.trap?.kind, 'explicit')
      assert.match(t.trap.message, /boom/)
      assert.deepEqual((await update(sb, A, 'reject')).outcome, { kind: 'reject', code: RejectCode.CanisterReject, message: 'no' })
      const nr = await update(sb, A, 'noreply')
      assert.equal(nr.outcome.kind === 'reject' && nr.outcome.code, RejectCode.CanisterError)
      assert.equal(nr.trap, undefined)
      const missing = await update(sb, A, 'nope')
      assert.equal(missing.outcome.kind === 'reject' && missing.outcome.code, RejectCode.DestinationInvalid)
      assert.equal(missing.instructionsUsed, 0n)
    })

    it('a query runs but its changes are discarded', async () => {
      const r = await query(sb, A, 'write_in_query')
      assert.equal(readU64(replyData(r)), 1n)
      assert.equal(r.heap.pages.length, 0)
      assert.equal((await stats(sb, A)).calls, 0n)
    })

    it('caller, self, time, certified data, debug print, timers, heartbeat', async () => {
      assert.deepEqual(replyData(await update(sb, A, 'whoami', EMPTY, { caller: B })), B.toUint8Array())
      assert.deepEqual(replyData(await update(sb, A, 'self')), A.toUint8Array())
      assert.equal(readU64(replyData(await update(sb, A, 'time', EMPTY, { time: 123456789n }))), 123456789n)
      assert.deepEqual((await update(sb, A, 'certify', text('hash'))).certifiedData, text('hash'))
      assert.deepEqual((await update(sb, A, 'print', text('hello'))).debugPrints, ['hello'])
      const t1 = await update(sb, A, 'set_timer', u64(99n))
      assert.equal(t1.globalTimer, 99n)
      assert.equal(readU64(replyData(t1)), 0n)
      assert.equal(readU64(replyData(await update(sb, A, 'set_timer', u64(100n)))), 99n)
      const fired = await sb.execute({ kind: 'timer', canisterId: A, time: 200n, instructionLimit: LIMIT })
      assert.equal(fired.globalTimer, 0n)
      await sb.execute({ kind: 'heartbeat', canisterId: A, time: 200n, instructionLimit: LIMIT })
      const s = await stats(sb, A)
      assert.equal(s.timers, 1n)
      assert.equal(s.heartbeats, 1n)
    })
  })

  describe('dirty pages', () => {
    beforeEach(async () => { await install(sb, A, await loadTestCanister('test')) })

    it('reports exactly the heap pages a message changed', async () => {
      await update(sb, A, 'touch_pages', u32(3))
      const r = await update(sb, A, 'touch_pages', u32(3))
      // Page 0 holds the reply buffer; it does not change when the reply is the same.
      assert.deepEqual(r.heap.pages.map(p => p.index), [4, 5, 6])
      assert.equal(r.heap.pages[0]!.bytes[0], 2)
      assert.equal(r.heap.pages[0]!.bytes.length, 4096)
    })

    it('reports the stable pages a message wrote, across page boundaries', async () => {
      await update(sb, A, 'grow_stable', u64(2n))
      const r = await update(sb, A, 'write_stable', concat(u64(4090n), text('0123456789')))
      assert.deepEqual(r.stable.pages.map(p => p.index), [0, 1])
      assert.deepEqual(replyData(await query(sb, A, 'read_stable', concat(u64(4090n), u64(10n)))), text('0123456789'))
      const oob = await update(sb, A, 'write_stable', concat(u64(2n * 65536n - 2n), text('abc')))
      assert.equal(oob.trap?.kind, 'api-misuse')
      assert.equal(oob.stable.pages.length, 0)
    })
  })

  describe('inter-canister calls', () => {
    beforeEach(async () => {
      await install(sb, A, await loadTestCanister('test'))
      await install(sb, B, await loadTestCanister('test'))
    })

    it('reply: the callback replies to the original caller', async () => {
      await install(sb, canisterEcho, await loadTestCanister('echo'))
      const r = await update(sb, A, 'forward', forwardArg(0, canisterEcho, 'echo', text('ping')))
      assert.equal(r.outcome.kind, 'none')
      assert.equal(r.calls.length, 1)
      assert.equal(r.calls[0]!.method, 'echo')
      assert.deepEqual(r.calls[0]!.callback, { reply: { fn: 0, env: 0 }, reject: { fn: 1, env: 0 } })
      const { callback } = await deliver(sb, A, r)
      assert.deepEqual(replyData(callback), text('ping'))
      const s = await stats(sb, A)
      assert.deepEqual([s.calls, s.replies, s.rejects, s.cleanups], [1n, 1n, 0n, 0n])
    })

    it('reject: the reject callback sees the code and message', async () => {
      const r = await update(sb, A, 'forward', forwardArg(0, B, 'reject', EMPTY))
      const { callee, callback } = await deliver(sb, A, r)
      assert.equal(callee.outcome.kind, 'reject')
      assert.deepEqual(replyData(callback), concat(Uint8Array.of(RejectCode.CanisterReject), text('no')))
      assert.equal((await stats(sb, A)).rejects, 1n)
    })

    it('a trap in the reply callback rolls back its changes and runs cleanup', async () => {
      const r = await update(sb, A, 'forward', forwardArg(1 | 2, B, 'reject', EMPTY))
      assert.deepEqual(r.calls[0]!.callback.cleanup, { fn: 2, env: 3 })
      const { callback } = await deliver(sb, A, r, { override: { kind: 'reply', data: text('x') } })
      assert.equal(callback.trap?.kind, 'explicit')
      assert.match(callback.trap.message, /reply callback trapped/)
      assert.equal(callback.cleanupRan, true)
      assert.equal(callback.outcome.kind, 'none')
      const s = await stats(sb, A)
      assert.equal(s.replies, 0n, 'the callback counter increment was rolled back')
      assert.equal(s.cleanups, 1n, 'cleanup changes are kept')
    })

    it('a trap in a callback without cleanup only rolls back', async () => {
      const r = await update(sb, A, 'forward', forwardArg(8, B, 'reject', EMPTY))
      const { callback } = await deliver(sb, A, r)
      assert.equal(callback.trap?.kind, 'explicit')
      assert.equal(callback.cleanupRan, undefined)
      const s = await stats(sb, A)
      assert.deepEqual([s.rejects, s.cleanups], [0n, 0n])
    })

    it('a trapping cleanup is rolled back as well', async () => {
      const r = await update(sb, A, 'forward', forwardArg(1 | 2 | 16, B, 'reject', EMPTY))
      const { callback } = await deliver(sb, A, r, { override: { kind: 'reply', data: EMPTY } })
      assert.equal(callback.cleanupRan, true)
      assert.deepEqual([(await stats(sb, A)).replies, (await stats(sb, A)).cleanups], [0n, 0n])
    })

    it('replying twice to a call context traps in the callback', async () => {
      const r = await update(sb, A, 'forward', forwardArg(4, B, 'reject', EMPTY))
      assert.deepEqual(replyData(r), text('sent'))
      assert.equal(r.calls.length, 1)
      const { callback } = await deliver(sb, A, r, { callContextReplied: true })
      assert.equal(callback.trap?.kind, 'api-misuse')
      assert.equal((await stats(sb, A)).rejects, 0n)
    })

    it('an update that traps after calling sends nothing', async () => {
      const wasm = await compileWat(`(module
        (import "ic0" "call_new" (func $new (param i32 i32 i32 i32 i32 i32 i32 i32)))
        (import "ic0" "call_perform" (func $perform (result i32)))
        (memory 1) (data (i32.const 0) "m")
        (func $f (call $new (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0))
          (drop (call $perform)) unreachable)
        (export "canister_update f" (func $f)))`)
      await install(sb, canisterEcho, wasm)
      const r = await update(sb, canisterEcho, 'f')
      assert.equal(r.trap?.kind, 'wasm')
      assert.equal(r.calls.length, 0)
    })
  })

  describe('invalid modules are refused at install', () => {
    const cases: Array<[string, () => Promise<Uint8Array>, string]> = [
      ['garbage bytes', async () => text('not wasm at all'), 'malformed'],
      ['a truncated module', async () => (await loadTestCanister('counter')).subarray(0, 100), 'malformed'],
      ['an import outside ic0', async () => compileWat('(module (import "env" "f" (func)))'), 'bad-import'],
      ['a known import with the wrong signature', async () => compileWat('(module (import "ic0" "msg_reply" (func (param i32))))'), 'bad-import'],
      ['an imported memory', async () => compileWat('(module (import "ic0" "mem" (memory 1)))'), 'bad-import'],
      ['a canister method with parameters', async () => compileWat('(module (func $f (param i32)) (export "canister_update f" (func $f)))'), 'bad-export'],
      ['the reserved export prefix', async () => compileWat('(module (func $f) (export "__icnet_budget" (func $f)))'), 'bad-export'],
      ['SIMD', async () => compileWat('(module (func $f (drop (v128.const i32x4 0 0 0 0))) (export "canister_update f" (func $f)))'), 'unsupported-feature'],
      ['table mutation', async () => compileWat('(module (table 1 funcref) (func $f (table.set 0 (i32.const 0) (ref.null func))) (export "canister_update f" (func $f)))'), 'unsupported-feature']
    ]
    for (const [what, make, reason] of cases) {
      it(`refuses ${what}`, async () => {
        await assert.rejects(install(sb, A, await make()), (err: unknown) => {
          assert.ok(err instanceof InvalidModuleError, String(err))
          assert.equal(err.name, 'InvalidModuleError')
          assert.equal(err.code, 'ERR_INVALID_MODULE')
          assert.equal(err.reason, reason, err.message)
          return true
        })
        await assert.rejects(query(sb, A, 'stats'), { name: 'CanisterStateError' })
      })
    }
  })

  it('snapshot and restore give a canister that behaves the same', async () => {
    await install(sb, A, await loadTestCanister('counter'))
    await update(sb, A, 'add', u64(5n))
    const other = new WasmSandbox()
    await other.restore(await sb.snapshot(A))
    const x = await update(sb, A, 'inc')
    const y = await update(other, A, 'inc')
    assert.deepEqual(x, y)
    assert.deepEqual(await sb.snapshot(A), await other.snapshot(A))
  })
})

const canisterEcho = (await import('@icnet/types')).canisterIdFromU64(3)
