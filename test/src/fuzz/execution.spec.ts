import fc from 'fast-check'
import { canisterIdFromU64, Principal } from '@icnet/types'
import { InvalidModuleError, WasmSandbox } from '@icnet/execution'
import { loadTestCanister, TEST_CANISTERS } from '@icnet/execution/canisters'
import { expectAsyncDecoderContract, fuzz, targetTimeoutMs } from './harness.js'
import { concat, fuzzInput } from './mutate.js'

const CONTROLLER = Principal.fromText('2vxsx-fae')

/** Wasm-aware mutations: a section with an inflated LEB128 size, an unknown or repeated section, a huge memory. */
const arbWasmEdit = fc.oneof(
  fc.record({ id: fc.integer({ min: 0, max: 13 }), body: fc.uint8Array({ maxLength: 24 }) })
    .map(({ id, body }) => (m: Uint8Array) => concat(m, Uint8Array.of(id, body.length), body)),
  fc.constant((m: Uint8Array) => concat(m.subarray(0, 8), Uint8Array.of(5, 0x0b, 0x01, 0x01, 0xff, 0xff, 0x03, 0xff, 0xff, 0x03, 0, 0, 0, 0), m.subarray(8))),
  fc.constant((m: Uint8Array) => concat(m.subarray(0, 8), Uint8Array.of(1, 0xff, 0xff, 0xff, 0xff, 0x0f), m.subarray(8))),
  fc.constant((m: Uint8Array) => concat(m, m.subarray(8)))
)

describe('fuzz: @icnet/execution', function () {
  this.timeout(targetTimeoutMs(180_000))

  it('install of a mutated module either installs or throws InvalidModuleError', async () => {
    const modules = await Promise.all(TEST_CANISTERS.map(async name => await loadTestCanister(name)))
    const seeds = fc.oneof(
      { arbitrary: fc.constantFrom(...modules), weight: 3 },
      { arbitrary: fc.tuple(fc.constantFrom(...modules), arbWasmEdit).map(([m, edit]) => edit(m)), weight: 1 }
    )
    let n = 0
    await fuzz('execution/install', fuzzInput(seeds), async input => {
      const sandbox = new WasmSandbox()
      try {
        await expectAsyncDecoderContract(input, async module => await sandbox.install({
          canisterId: canisterIdFromU64(++n), mode: 'install', module, arg: new Uint8Array(0), caller: CONTROLLER, time: 1n, instructionLimit: 1_000_000n
        }), err => err instanceof InvalidModuleError)
      } finally {
        await sandbox.close()
      }
    }, 400)
  })
})
