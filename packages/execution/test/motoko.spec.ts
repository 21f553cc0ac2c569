import assert from 'node:assert/strict'
import { InvalidModuleError, WasmSandbox } from '../src/index.js'
import { A, install, query, replyData, update } from './helpers.js'

/** Candid for `()` and for a single Nat (LEB128). */
const DIDL_EMPTY = Uint8Array.of(0x44, 0x49, 0x44, 0x4c, 0x00, 0x00)
const didlNat = (n: number): Uint8Array => Uint8Array.of(0x44, 0x49, 0x44, 0x4c, 0x00, 0x01, 0x7d, n)

interface MotokoCompiler {
  write (path: string, content: string): void
  wasm (path: string, mode: 'ic' | 'wasi'): { wasm: Uint8Array }
  compiler: { gcFlags (flag: string): void }
}

// The official Motoko compiler from the npm package `motoko`. Its default output
// uses 64-bit memory and tables, which Node 20's V8 cannot compile; the
// compiler's `gcFlags('classicOP')` switch selects classical persistence, whose
// output is 32-bit.
describe('Motoko canisters (compiled by moc from the `motoko` package)', function () {
  this.timeout(120_000)
  let wasm: Uint8Array
  let wasm64: Uint8Array

  before(async () => {
    const mo = (await import('motoko')).default as unknown as MotokoCompiler
    mo.write('Counter.mo', `persistent actor {
      var n : Nat = 0;
      public func inc() : async Nat { n += 1; n };
      public query func get() : async Nat { n };
    }`)
    mo.compiler.gcFlags('enhancedOP')
    wasm64 = mo.wasm('Counter.mo', 'ic').wasm
    mo.compiler.gcFlags('classicOP')
    wasm = mo.wasm('Counter.mo', 'ic').wasm
  })

  it('the default (enhanced orthogonal persistence, 64-bit) output is refused at install on Node 20', async () => {
    await assert.rejects(install(new WasmSandbox(), A, wasm64), (err: unknown) => err instanceof InvalidModuleError && err.reason === 'malformed')
  })

  it('the classical-persistence (32-bit) output installs and runs', async () => {
    const sb = new WasmSandbox()
    const r = await install(sb, A, wasm)
    assert.equal(r.outcome.kind, 'reply', r.trap?.message)
    for (let i = 1; i <= 3; i++) {
      const u = await update(sb, A, 'inc', DIDL_EMPTY, { limit: 5_000_000_000n })
      assert.deepEqual(replyData(u), didlNat(i))
    }
    assert.deepEqual(replyData(await query(sb, A, 'get', DIDL_EMPTY)), didlNat(3))
  })

  it('is deterministic across sandboxes', async () => {
    const x = new WasmSandbox()
    const y = new WasmSandbox()
    await install(x, A, wasm)
    await install(y, A, wasm)
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(await update(x, A, 'inc', DIDL_EMPTY, { limit: 5_000_000_000n }), await update(y, A, 'inc', DIDL_EMPTY, { limit: 5_000_000_000n }))
    }
    assert.deepEqual(await x.snapshot(A), await y.snapshot(A))
  })
})
