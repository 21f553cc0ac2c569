import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { UsageError, cliMain } from '../src/index.js'
import { parseFlags } from '../src/cli/args.js'

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

  it('reports a directory without a testnet clearly', async () => {
    await assert.rejects(cliMain(['testnet', 'status', '--dir', '/nonexistent/icnet'], quiet), { name: 'TestnetLayoutError' })
  })
})
