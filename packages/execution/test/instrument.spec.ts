import assert from 'node:assert/strict'
import fc from 'fast-check'
import { DEFAULT_LIMITS, InvalidModuleError, WasmSandbox, instrumentModule } from '../src/index.js'
import { compileWat, loadTestCanister, TEST_CANISTERS } from '../src/canisters/index.js'
import { A, install, query, readU64, replyData, update } from './helpers.js'

describe('instrumentModule', () => {
  it('produces valid modules for every test canister, metered or not', async () => {
    for (const name of TEST_CANISTERS) {
      const wasm = await loadTestCanister(name)
      for (const meter of [true, false]) {
        const out = instrumentModule(wasm, { maxHeapPages: 100, meter })
        assert.ok(WebAssembly.validate(out.bytes as Uint8Array<ArrayBuffer>), `${name} meter=${meter}`)
      }
    }
  })

  it('never crashes on corrupted modules: it accepts them or throws InvalidModuleError', async () => {
    const wasm = await loadTestCanister('test')
    await fc.assert(fc.asyncProperty(
      fc.array(fc.record({ at: fc.nat(wasm.length - 1), value: fc.integer({ min: 0, max: 255 }) }), { minLength: 1, maxLength: 4 }),
      fc.option(fc.nat(wasm.length), { nil: undefined }),
      async (edits, cut) => {
        const bytes = wasm.slice(0, cut ?? wasm.length)
        for (const e of edits) if (e.at < bytes.length) bytes[e.at] = e.value
        const sb = new WasmSandbox()
        try {
          await install(sb, A, bytes)
        } catch (err) {
          assert.ok(err instanceof InvalidModuleError, `unexpected ${String(err)}`)
        }
      }), { numRuns: 300 })
  })

  it('runs the start function once, at install, and keeps module globals as state', async () => {
    const wasm = await compileWat(`(module
      (import "ic0" "msg_reply_data_append" (func $append (param i32 i32)))
      (import "ic0" "msg_reply" (func $reply))
      (memory 1)
      (global $g (mut i64) (i64.const 5))
      (global $k i32 (i32.const 9))
      (func $start (global.set $g (i64.add (global.get $g) (i64.const 100))))
      (func $bump
        (global.set $g (i64.add (global.get $g) (i64.const 1)))
        (i64.store (i32.const 0) (global.get $g))
        (call $append (i32.const 0) (i32.const 8)) (call $reply))
      (start $start)
      (export "g" (global $g))
      (export "canister_update bump" (func $bump)))`)
    const sb = new WasmSandbox()
    const r = await install(sb, A, wasm)
    assert.deepEqual(r.globals, [105n])
    assert.equal(readU64(replyData(await update(sb, A, 'bump'))), 106n)
    // A trap that rebuilds the instance must not run start again.
    const snap = await sb.snapshot(A)
    assert.deepEqual(snap.globals, [106n])
    const other = new WasmSandbox()
    await other.restore(snap)
    assert.equal(readU64(replyData(await update(other, A, 'bump'))), 107n)
  })

  it('handles multi-value blocks, br_table and nested loops', async () => {
    const wasm = await compileWat(`(module
      (import "ic0" "msg_reply_data_append" (func $append (param i32 i32)))
      (import "ic0" "msg_reply" (func $reply))
      (memory 1)
      (func $pair (result i32 i64) (i32.const 3) (i64.const 4))
      (func $f (local $i i32) (local $j i32) (local $acc i32)
        (block $out
          (loop $outer
            (local.set $j (i32.const 0))
            (loop $inner
              (local.set $acc (i32.add (local.get $acc) (i32.const 1)))
              (local.set $j (i32.add (local.get $j) (i32.const 1)))
              (br_if $inner (i32.lt_u (local.get $j) (i32.const 10))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (block $b2 (block $b1 (block $b0 (br_table $b0 $b1 $b2 (i32.rem_u (local.get $i) (i32.const 3))))
              (local.set $acc (i32.add (local.get $acc) (i32.const 100)))) )
            (br_if $outer (i32.lt_u (local.get $i) (i32.const 10)))))
        (call $pair) (drop)
        (local.set $acc (i32.add (local.get $acc)))
        (i32.store (i32.const 0) (local.get $acc))
        (call $append (i32.const 0) (i32.const 4)) (call $reply))
      (export "canister_query f" (func $f)))`)
    const sb = new WasmSandbox()
    await install(sb, A, wasm)
    const plain = new WasmSandbox({ unmetered: true })
    await install(plain, A, wasm)
    const a = await query(sb, A, 'f')
    const b = await query(plain, A, 'f')
    assert.deepEqual(replyData(a), replyData(b))
    assert.equal(new DataView(replyData(a).buffer).getUint32(0, true), 100 + 3 * 100 + 3)
    assert.ok(a.instructionsUsed > b.instructionsUsed)
  })

  it('caps the memory maximum at the heap limit', async () => {
    const out = instrumentModule(await compileWat('(module (memory 1 60000))'), { maxHeapPages: 7 })
    const mem = new WebAssembly.Instance(new WebAssembly.Module(out.bytes as Uint8Array<ArrayBuffer>)).exports.__icnet_memory as WebAssembly.Memory
    assert.equal(mem.grow(6), 1)
    assert.throws(() => mem.grow(1), RangeError)
    assert.equal(DEFAULT_LIMITS.maxHeapWasmPages > 7, true)
  })
})
