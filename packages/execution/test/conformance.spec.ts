import assert from 'node:assert/strict'
import { RejectCode, canisterIdFromU64 } from '@icnet/types'
import {
  JS_TEST_CANISTERS, JsSandbox, WasmSandbox, decodeXnetLoadMetrics, encodeXnetLoadConfig
} from '../src/index.js'
import type { ExecutionResult, Sandbox } from '../src/index.js'
import { loadTestCanister } from '../src/canisters/index.js'
import type { TestCanisterName } from '../src/canisters/index.js'
import { A, CONTROLLER, EMPTY, LIMIT, install, query, readU64, replyData, text, u64, update } from './helpers.js'

interface Flavour {
  name: string
  make: () => Sandbox
  module: (name: TestCanisterName) => Promise<Uint8Array>
}

const FLAVOURS: Flavour[] = [
  { name: 'wasm', make: () => new WasmSandbox(), module: loadTestCanister },
  { name: 'js', make: () => new JsSandbox({ canisters: JS_TEST_CANISTERS }), module: async n => text(n) }
]

const X1 = canisterIdFromU64(0x100)
const X2 = canisterIdFromU64(0x200)
const X3 = canisterIdFromU64(0x300)
const MS = 1_000_000n

async function heartbeat (sb: Sandbox, id = X1, time = 1_000n * MS): Promise<ExecutionResult> {
  return sb.execute({ kind: 'heartbeat', canisterId: id, time, instructionLimit: LIMIT })
}

async function metrics (sb: Sandbox, id = X1): Promise<ReturnType<typeof decodeXnetLoadMetrics>> {
  return decodeXnetLoadMetrics(replyData(await query(sb, id, 'metrics')))
}

/** Target order of each flavour's first heartbeat, to compare the PRNGs. */
const targetOrders = new Map<string, string[]>()

for (const f of FLAVOURS) {
  describe(`test canisters (${f.name} sandbox)`, () => {
    let sb: Sandbox
    beforeEach(() => { sb = f.make() })
    afterEach(async () => { await sb.close() })

    it('counter: init, inc, add, get, upgrade keeps the value, reinstall resets it', async () => {
      const wasm = await f.module('counter')
      await install(sb, A, wasm, u64(10n))
      assert.equal(readU64(replyData(await update(sb, A, 'inc'))), 11n)
      assert.equal(readU64(replyData(await update(sb, A, 'add', u64(5n)))), 16n)
      assert.equal(readU64(replyData(await query(sb, A, 'get'))), 16n)
      const bad = await update(sb, A, 'add', text('x'))
      assert.equal(bad.trap?.kind, 'explicit')
      assert.equal(readU64(replyData(await query(sb, A, 'get'))), 16n)
      const up = await sb.install({ canisterId: A, mode: 'upgrade', module: wasm, arg: EMPTY, caller: CONTROLLER, time: 3n, instructionLimit: LIMIT })
      assert.equal(up.outcome.kind, 'reply')
      assert.equal(readU64(replyData(await query(sb, A, 'get'))), 16n)
      await sb.install({ canisterId: A, mode: 'reinstall', module: wasm, arg: EMPTY, caller: CONTROLLER, time: 4n, instructionLimit: LIMIT })
      assert.equal(readU64(replyData(await query(sb, A, 'get'))), 0n)
    })

    it('counter: an instruction limit too small traps the message and keeps the state', async () => {
      await install(sb, A, await f.module('counter'))
      const r = await update(sb, A, 'inc', EMPTY, { limit: 10n })
      assert.equal(r.trap?.kind, 'instruction-limit')
      assert.equal(r.instructionsUsed, 10n)
      assert.equal(readU64(replyData(await query(sb, A, 'get'))), 0n)
    })

    it('echo: replies with the argument, update and query', async () => {
      await install(sb, A, await f.module('echo'))
      const big = new Uint8Array(200_000).map((_, i) => i % 251)
      assert.deepEqual(replyData(await update(sb, A, 'echo', big)), big)
      assert.deepEqual(replyData(await query(sb, A, 'echo_query', text('q'))), text('q'))
    })

    it('xnet load: heartbeat sends, receivers check sequence numbers, replies give latency', async () => {
      const mod = await f.module('xnet_load')
      for (const id of [X1, X2, X3]) await install(sb, id, mod)
      const cfg = encodeXnetLoadConfig({ rate: 6, payloadSize: 1024, seed: 7n, targets: [X2, X3] })
      assert.equal((await update(sb, X1, 'configure', cfg)).outcome.kind, 'reply')

      const hb = await heartbeat(sb)
      assert.equal(hb.trap, undefined)
      assert.equal(hb.calls.length, 6)
      targetOrders.set(f.name, hb.calls.map(c => c.callee.toText()))
      const perTarget = new Map<string, bigint>()
      for (const [i, call] of hb.calls.entries()) {
        assert.equal(call.method, 'handle_request')
        assert.equal(call.payload.length, 1024)
        const expected = perTarget.get(call.callee.toText()) ?? 0n
        assert.equal(readU64(call.payload, 0), expected, 'per-target seq_no')
        perTarget.set(call.callee.toText(), expected + 1n)
        assert.equal(readU64(call.payload, 8), 1_000n * MS, 'time_nanos')
        const served = await sb.execute({ kind: 'update', canisterId: call.callee, method: call.method, arg: call.payload, caller: X1, time: 1_001n * MS, instructionLimit: LIMIT })
        assert.deepEqual(replyData(served), call.payload, 'the reply echoes the request')
        const cb = await sb.execute({
          kind: 'response', canisterId: X1, callback: call.callback, response: { kind: 'reply', data: replyData(served) },
          caller: X1, callContextReplied: false, time: (1_000n + 2n * BigInt(i + 1)) * MS, instructionLimit: LIMIT
        })
        assert.equal(cb.trap, undefined)
      }
      const m = await metrics(sb)
      assert.equal(m.sent, 6n)
      assert.equal(m.replied, 6n)
      assert.equal(m.latencyCount, 6n)
      assert.equal(m.latencyMinNs, 2n * MS)
      assert.equal(m.latencyMaxNs, 12n * MS)
      assert.equal(m.latencySumNs, (2n + 4n + 6n + 8n + 10n + 12n) * MS)
      // 2-3 ms -> bucket 2, 4-7 -> 3, 8-15 -> 4
      assert.deepEqual(m.histogramMs.slice(0, 5), [0n, 0n, 1n, 2n, 3n])
      const r2 = await metrics(sb, X2)
      const r3 = await metrics(sb, X3)
      assert.equal(r2.received + r3.received, 6n)
      assert.equal(r2.seqErrors + r3.seqErrors, 0n)

      // Delivered out of order, a second burst shows sequence errors; a reject is counted.
      const hb2 = await heartbeat(sb, X1, 2_000n * MS)
      const reversed = [...hb2.calls].reverse()
      for (const call of reversed) {
        await sb.execute({ kind: 'update', canisterId: call.callee, method: call.method, arg: call.payload, caller: X1, time: 2_001n * MS, instructionLimit: LIMIT })
      }
      const after = (await metrics(sb, X2)).seqErrors + (await metrics(sb, X3)).seqErrors
      assert.ok(after > 0n)
      await sb.execute({
        kind: 'response', canisterId: X1, callback: hb2.calls[0]!.callback, response: { kind: 'reject', code: RejectCode.SysTransient, message: 'queue full' },
        caller: X1, callContextReplied: false, time: 2_002n * MS, instructionLimit: LIMIT
      })
      assert.equal((await metrics(sb)).rejected, 1n)
      assert.equal((await metrics(sb)).sent, 12n)
    })

    it('xnet load: a bad configuration traps', async () => {
      await install(sb, X1, await f.module('xnet_load'))
      const r = await update(sb, X1, 'configure', new Uint8Array(20).fill(0xff))
      assert.equal(r.trap?.kind, 'explicit')
    })
  })
}

describe('wasm and JS xnet load canisters', () => {
  it('pick the same targets from the same seed', () => {
    assert.ok(targetOrders.get('wasm') !== undefined && targetOrders.get('js') !== undefined)
    assert.deepEqual(targetOrders.get('js'), targetOrders.get('wasm'))
  })
})
