import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { initTestnet } from '@icnet/registry'
import { ConfigError, describeFaults, loadReplicaConfig, parseReplicaFaults, parseReplicaOptions, setNodeFaults } from '../src/index.js'

describe('replica.faults config', () => {
  const ctx = { path: '/x/config.json', registryDir: '/x/registry' }

  it('parses every fault, and none when the section is absent', () => {
    assert.equal(parseReplicaOptions({}, ctx).faults, undefined)
    const f = parseReplicaOptions({ faults: { xnetSlices: 'rotate', stateSyncChunks: 'stall', gossipFloodPerS: 200, admin: true } }, ctx).faults
    assert.deepEqual(f, { xnetSlices: 'rotate', stateSyncChunks: 'stall', gossipFloodPerS: 200, admin: true })
    assert.deepEqual(describeFaults(f!), ['xnetSlices=rotate', 'stateSyncChunks=stall', 'gossipFloodPerS=200', 'admin'])
    for (const v of ['alter-payload', 'alter-hash', 'bad-signature']) assert.equal(parseReplicaFaults({ xnetSlices: v }, 'p')?.xnetSlices, v)
    assert.equal(parseReplicaFaults({ stateSyncChunks: 'corrupt' }, 'p')?.stateSyncChunks, 'corrupt')
    assert.deepEqual(describeFaults(parseReplicaFaults({ admin: false }, 'p')!), [])
  })

  it('refuses unknown keys and bad values with ConfigError', () => {
    const bad: unknown[] = [
      [], 'rotate', null,
      { xnetSlice: 'rotate' },
      { xnetSlices: 'flip' },
      { stateSyncChunks: 'lie' },
      { gossipFloodPerS: 0 }, { gossipFloodPerS: -5 }, { gossipFloodPerS: '200' }, { gossipFloodPerS: 1e9 }, { gossipFloodPerS: Number.NaN },
      { admin: 'yes' }
    ]
    for (const faults of bad) assert.throws(() => parseReplicaOptions({ faults }, ctx), ConfigError, JSON.stringify(faults))
  })

  describe('setNodeFaults', () => {
    let dir: string
    let path: string
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'icnet-faults-'))
      path = (await initTestnet({ subnets: 1, nodesPerSubnet: 1, dir, basePort: 6300 })).nodeConfigs[0]![0]!
    })
    after(async () => { await rm(dir, { recursive: true, force: true }) })

    it('writes the section a node then loads, keeps the rest of the file, and removes it with {}', async () => {
      const before = JSON.parse(await readFile(path, 'utf8'))
      await setNodeFaults(path, { xnetSlices: 'alter-hash', admin: true })
      const c = await loadReplicaConfig(path)
      assert.deepEqual(c.replica.faults, { xnetSlices: 'alter-hash', admin: true })
      const after = JSON.parse(await readFile(path, 'utf8'))
      assert.equal(after.libp2pPrivateKey, before.libp2pPrivateKey)
      assert.equal(after.nodeId, before.nodeId)
      await setNodeFaults(path, {})
      assert.equal((await loadReplicaConfig(path)).replica.faults, undefined)
    })

    it('refuses a bad fault before touching the file', async () => {
      const text = await readFile(path, 'utf8')
      await assert.rejects(setNodeFaults(path, { xnetSlices: 'nope' as 'rotate' }), ConfigError)
      assert.equal(await readFile(path, 'utf8'), text)
    })
  })
})
