import assert from 'node:assert/strict'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { decodeRecords, encodeRecords, initTestnet, readNodeConfig } from '@icnet/registry'
import { expectAsyncDecoderContract, expectDecoderContract, fuzz, targetTimeoutMs } from './harness.js'
import { fuzzInput } from './mutate.js'

const utf8 = new TextEncoder()

/** Replaces one value somewhere in a JSON document by an arbitrary JSON value: shape mutations byte flips rarely reach. */
function replaceValue (doc: unknown, path: number[], value: unknown): unknown {
  if (path.length === 0 || doc === null || typeof doc !== 'object') return value
  const entries = Array.isArray(doc) ? doc.map((v, i) => [i, v] as const) : Object.entries(doc as Record<string, unknown>)
  if (entries.length === 0) return value
  const [key, child] = entries[path[0]! % entries.length]!
  const copy: Record<string | number, unknown> = Array.isArray(doc) ? doc.slice() as unknown as Record<number, unknown> : { ...(doc as Record<string, unknown>) }
  copy[key] = replaceValue(child, path.slice(1), value)
  return copy
}

function jsonMutations (seed: Uint8Array): fc.Arbitrary<Uint8Array> {
  const doc = JSON.parse(new TextDecoder().decode(seed)) as unknown
  return fc.tuple(fc.array(fc.nat(), { maxLength: 6 }), fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constantFrom(-1, 2 ** 53, 1e308, '', 'aaaaa-aa', 'ff'.repeat(96), [], {})))
    .map(([path, value]) => utf8.encode(JSON.stringify(replaceValue(doc, path, value))))
}

describe('fuzz: @icnet/registry', function () {
  this.timeout(targetTimeoutMs())
  let dir: string
  let registryFile: Uint8Array
  let nodeConfig: Uint8Array

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'icnet-fuzz-registry-'))
    const layout = await initTestnet({ subnets: 2, nodesPerSubnet: 2, dir })
    const [file] = await readdir(layout.registryDir)
    registryFile = await readFile(join(layout.registryDir, file!))
    nodeConfig = await readFile(layout.nodeConfigs[1]![0]!)
  })

  after(async () => { await rm(dir, { recursive: true, force: true }) })

  it('decodeRecords throws only typed errors, and what it accepts re-encodes to the same records', async () => {
    const seeds = fc.oneof(fc.constant(registryFile), jsonMutations(registryFile))
    await fuzz('registry/decodeRecords', fuzzInput(seeds), input => {
      const r = expectDecoderContract(input, decodeRecords)
      if (r.ok) assert.deepEqual(decodeRecords(encodeRecords(r.value)), r.value)
    }, 1000)
  })

  it('readNodeConfig throws only typed errors on mutated config files', async () => {
    const seeds = fc.oneof(fc.constant(nodeConfig), jsonMutations(nodeConfig))
    const path = join(dir, 'fuzzed-config.json')
    await fuzz('registry/readNodeConfig', fuzzInput(seeds), async input => {
      await writeFile(path, input)
      await expectAsyncDecoderContract(input, async () => await readNodeConfig(path))
    }, 300)
  })
})
