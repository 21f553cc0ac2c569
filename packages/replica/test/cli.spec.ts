import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { FileRegistryStore } from '@icnet/registry'
import fc from 'fast-check'
import { fileURLToPath } from 'node:url'
import { UsageError, cliMain } from '../src/index.js'
import { nextSearchRate } from '../src/cli/commands.js'
import { parseFlags, parsePerSubnet } from '../src/cli/args.js'

const CLI = fileURLToPath(new URL('../src/cli/index.js', import.meta.url))
const quiet = { log: () => {} }

describe('icnet command line', () => {
  it('parses flags in both spellings, booleans and numbers', () => {
    const f = parseFlags(['--subnets', '2', '--dir=/tmp/x', '--json'], { subnets: { type: 'number' }, dir: { type: 'string' }, json: { type: 'boolean' } }, 't')
    assert.deepEqual(f, { subnets: 2, dir: '/tmp/x', json: true })
  })

  it('refuses unknown commands, unknown flags, missing and bad values with UsageError', async () => {
    await assert.rejects(cliMain(['frobnicate'], quiet), UsageError)
    await assert.rejects(cliMain(['testnet', 'init', '--subnets', '2', '--nodes', '4'], quiet), /--dir is required/)
    await assert.rejects(cliMain(['testnet', 'init', '--subnets', 'two', '--nodes', '4', '--dir', 'x'], quiet), /--subnets must be a non-negative integer/)
    await assert.rejects(cliMain(['testnet', 'init', '--subnets', '0', '--nodes', '4', '--dir', 'x'], quiet), /--subnets must be at least 1/)
    await assert.rejects(cliMain(['testnet', 'up', '--dir'], quiet), /--dir needs a value/)
    await assert.rejects(cliMain(['testnet', 'up', '--dir', 'x', '--speed', '3'], quiet), /unknown flag --speed/)
    await assert.rejects(cliMain(['testnet', 'up', '--dir', 'x', '--duration', '5', '--keep-running'], quiet), UsageError)
    await assert.rejects(cliMain(['bench', 'xnet', '--subnets', '1'], quiet), /at least 2/)
    await assert.rejects(cliMain(['testnet', 'init', '--subnets', '1', '--nodes', '1', '--dir', 'x', '--canisters', 'nope'], quiet), /unknown canister module/)
  })

  it('exits 2 with a one-line usage error from the executable', () => {
    const r = spawnSync(process.execPath, [CLI, 'testnet', 'up'], { encoding: 'utf8' })
    assert.equal(r.status, 2)
    assert.match(r.stderr, /^icnet: testnet up: --dir is required/)
    const help = spawnSync(process.execPath, [CLI, '--help'], { encoding: 'utf8' })
    assert.equal(help.status, 0)
    assert.match(help.stdout, /testnet init/)
  })

  it('parses per-subnet values: one for all, or by subnet index', () => {
    const r = { min: 0, max: 1000 }
    assert.deepEqual(parsePerSubnet('7', 'rate', 3, r), [7, 7, 7])
    assert.deepEqual(parsePerSubnet('0=20,2=0', 'rate', 3, r), [20, undefined, 0])
    assert.throws(() => parsePerSubnet('3=1', 'rate', 3, r), /only 3 subnets/)
    assert.throws(() => parsePerSubnet('1=2000', 'rate', 3, r), /outside/)
    assert.throws(() => parsePerSubnet('1:5', 'rate', 3, r), UsageError)
  })

  it('testnet init writes the stream limit, a slow subnet and one-way load into the registry and the genesis canisters', async function () {
    this.timeout(60_000)
    const dir = await mkdtemp(join(tmpdir(), 'icnet-cli-init-'))
    try {
      await cliMain(['testnet', 'init', '--subnets', '2', '--nodes', '1', '--dir', dir, '--canisters', 'xnet-load', '--system-subnets', '0',
        '--rate', '0=20,1=0', '--stream-max-messages', '30', '--round-budget', '1=20000000', '--xnet-payload-bytes', '1=8192'], quiet)
      const registry = await new FileRegistryStore(join(dir, 'registry')).latest()
      const params = registry.subnetIds().map(id => registry.requireSubnet(id).params)
      assert.deepEqual(params.map(p => [p.streamMaxMessages, p.maxInstructionsPerRound, p.maxXNetPayloadBytes]), [[30, 4_000_000_000, 448 * 1024], [30, 20_000_000, 8192]])
      const canisters = JSON.parse(await readFile(join(dir, 'canisters.json'), 'utf8')) as { canisters: Array<{ load: { rate: number } }> }
      assert.deepEqual(canisters.canisters.map(c => c.load.rate), [20, 0])
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })

  it('bench xnet --search doubles, then bisects to the highest passing rate (or halves when the first fails)', () => {
    const search = (start: number, max: number, passesUpTo: number): { tried: number[], best: number | undefined } => {
      const steps: Array<{ rate: number, ok: boolean }> = []
      for (let r = nextSearchRate(start, max, steps); r !== undefined; r = nextSearchRate(start, max, steps)) {
        assert.ok(!steps.some(s => s.rate === r), `rate ${r} tried twice`)
        steps.push({ rate: r, ok: r <= passesUpTo })
        assert.ok(steps.length <= 20, 'the search ends')
      }
      const ok = steps.filter(s => s.ok).map(s => s.rate)
      return { tried: steps.map(s => s.rate), best: ok.length === 0 ? undefined : Math.max(...ok) }
    }
    assert.deepEqual(search(10, 10_000, 100).tried, [10, 20, 40, 80, 160, 120, 100, 110])
    fc.assert(fc.property(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 0, max: 3000 }), (start, threshold) => {
      const { best } = search(start, 2000, threshold)
      if (threshold === 0) return best === undefined
      const expected = Math.min(threshold, 2000)
      // Within 15 % (or 1) below the true threshold, never above it.
      return best !== undefined && best <= expected && expected - best <= Math.max(1, Math.floor(best * 0.15))
    }))
    assert.deepEqual(search(10, 10_000, 3).tried, [10, 5, 2, 3, 4])
    assert.equal(search(10, 40, 1000).best, 40)
  })

  it('reports a directory without a testnet clearly', async () => {
    await assert.rejects(cliMain(['testnet', 'status', '--dir', '/nonexistent/icnet'], quiet), { name: 'TestnetLayoutError' })
  })
})
