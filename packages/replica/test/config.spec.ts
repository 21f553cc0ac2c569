import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { initTestnet } from '@icnet/registry'
import { ConfigError, loadReplicaConfig, parseReplicaOptions } from '../src/index.js'

describe('replica config', () => {
  let dir: string
  let path: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'icnet-config-'))
    const layout = await initTestnet({ subnets: 1, nodesPerSubnet: 1, dir, basePort: 6200 })
    path = layout.nodeConfigs[0]![0]!
  })
  after(async () => { await rm(dir, { recursive: true, force: true }) })

  it('reads a genesis node config with default replica options', async () => {
    const c = await loadReplicaConfig(path)
    assert.equal(c.replica.logLevel, 'info')
    assert.equal(c.replica.processMetrics, true)
    assert.equal(c.replica.genesisCanistersPath, join(dir, 'canisters.json'))
    assert.equal(c.path, path)
    assert.deepEqual(c.http, { host: '127.0.0.1', port: 6201 })
  })

  it('reads the replica section, resolving paths against the config file', async () => {
    const raw = JSON.parse(await readFile(path, 'utf8'))
    raw.replica = { logLevel: 'debug', genesisCanisters: '../canisters-b.json', processMetrics: false }
    const p2 = join(dir, 'nodes', '0-0', 'config-b.json')
    await writeFile(p2, JSON.stringify(raw))
    const c = await loadReplicaConfig(p2)
    assert.equal(c.replica.logLevel, 'debug')
    assert.equal(c.replica.processMetrics, false)
    assert.equal(c.replica.genesisCanistersPath, join(dir, 'nodes', 'canisters-b.json'))
  })

  it('refuses unknown options, bad values, missing files and non-JSON with ConfigError', async () => {
    const ctx = { path: '/x/config.json', registryDir: '/x/registry' }
    assert.throws(() => parseReplicaOptions({ logLevl: 'info' }, ctx), ConfigError)
    assert.throws(() => parseReplicaOptions({ logLevel: 'loud' }, ctx), ConfigError)
    assert.throws(() => parseReplicaOptions({ announce: [1] }, ctx), ConfigError)
    assert.throws(() => parseReplicaOptions([], ctx), ConfigError)
    await assert.rejects(loadReplicaConfig(join(dir, 'missing.json')), ConfigError)
    const bad = join(dir, 'bad.json')
    await writeFile(bad, '{not json')
    await assert.rejects(loadReplicaConfig(bad), ConfigError)
    const big = join(dir, 'big.json')
    await writeFile(big, `{"pad":"${'x'.repeat(70_000)}"}`)
    await assert.rejects(loadReplicaConfig(big), ConfigError)
  })
})
