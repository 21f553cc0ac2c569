/**
 * The test canisters, compiled from their WAT sources (packages/execution/canisters/*.wat)
 * with wabt on first use and cached: nothing prebuilt is committed, and a fresh
 * clone needs only `npm ci && tsc -b`.
 */
import { readFile } from 'node:fs/promises'
import wabtInit from 'wabt'

export type TestCanisterName = 'counter' | 'echo' | 'xnet_load' | 'test'

export const TEST_CANISTERS: readonly TestCanisterName[] = ['counter', 'echo', 'xnet_load', 'test']

const SOURCE_DIR = new URL('../../../canisters/', import.meta.url)

let wabt: ReturnType<typeof wabtInit> | undefined
const cache = new Map<string, Promise<Uint8Array>>()

/** Compiles WebAssembly text to a binary module. */
export async function compileWat (source: string, filename = 'module.wat'): Promise<Uint8Array> {
  wabt ??= wabtInit()
  const w = await wabt
  const mod = w.parseWat(filename, source, { bulk_memory: true, mutable_globals: true, sign_extension: true, sat_float_to_int: true, multi_value: true, simd: true })
  try {
    mod.resolveNames()
    mod.validate()
    return mod.toBinary({}).buffer.slice()
  } finally {
    mod.destroy()
  }
}

/** The WAT source of a test canister. */
export async function testCanisterSource (name: TestCanisterName): Promise<string> {
  return readFile(new URL(`${name}.wat`, SOURCE_DIR), 'utf8')
}

/** The wasm module of a test canister (compiled once per process). */
export async function loadTestCanister (name: TestCanisterName): Promise<Uint8Array> {
  let p = cache.get(name)
  if (p === undefined) {
    p = testCanisterSource(name).then(async src => compileWat(src, `${name}.wat`))
    cache.set(name, p)
  }
  return (await p).slice()
}
