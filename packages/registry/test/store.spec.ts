import assert from 'node:assert/strict'
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateNodeKeyPair, proveNodeKeyPossession } from '@icnet/crypto'
import { InvalidEncodingError, NotFoundError, VerificationError, canisterIdFromU64, subnetIdFromPublicKeyDer, toHex } from '@icnet/types'
import fc from 'fast-check'
import { DEFAULT_SUBNET_PARAMS, FileRegistryStore, Registry, RegistryVersionConflictError, RegistryWatcher, decodeRecords, type RegistryRecords } from '../src/index.js'

const blsKey = generateNodeKeyPair(new Uint8Array(32).fill(7))
const blsProof = toHex(proveNodeKeyPossession(blsKey.secretKey))

/** A valid registry with made-up threshold keys (storage does not check those). */
function sampleRecords (version = 1): RegistryRecords {
  const der = Uint8Array.from({ length: 133 }, (_, i) => i)
  const subnet = subnetIdFromPublicKeyDer(der).toText()
  const nodes = ['12D3KooWA', '12D3KooWB', '12D3KooWC', '12D3KooWD']
  return {
    version,
    rootSubnetId: subnet,
    subnets: [{
      id: subnet,
      type: 'system',
      nodes,
      publicKey: toHex(new Uint8Array(96).fill(1)),
      publicKeyDer: toHex(der),
      threshold: 3,
      thresholdShares: nodes.map((_, i) => ({ index: i + 1, publicKey: toHex(new Uint8Array(96).fill(i)) })),
      params: { ...DEFAULT_SUBNET_PARAMS }
    }],
    nodes: nodes.map(id => ({ id, subnetId: subnet, p2pAddresses: ['/ip4/127.0.0.1/tcp/1'], blsPublicKey: toHex(blsKey.publicKey), blsPossessionProof: blsProof })),
    routingTable: [{ start: canisterIdFromU64(0).toText(), end: canisterIdFromU64(1000).toText(), subnetId: subnet }],
    canisterMigrations: []
  }
}

describe('registry store', () => {
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'icnet-registry-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  it('writes versions atomically and loads the latest', async () => {
    const store = new FileRegistryStore(dir)
    await assert.rejects(store.latest(), NotFoundError)
    await store.put(sampleRecords(1))
    const v2 = await store.update(r => { r.nodes[0]!.httpUrl = 'http://127.0.0.1:9' })
    assert.equal(v2.version, 2)
    const latest = await store.latest()
    assert.equal(latest.version, 2)
    assert.equal(latest.getNode('12D3KooWA')?.httpUrl, 'http://127.0.0.1:9')
    assert.equal((await store.get(1)).getNode('12D3KooWA')?.httpUrl, undefined)
    assert.deepEqual(await store.versions(), [1, 2])
    // No temporary files are left behind.
    assert.deepEqual((await readdir(dir)).sort(), ['registry-0000000001.json', 'registry-0000000002.json'])
  })

  it('refuses a version that does not follow the latest', async () => {
    const store = new FileRegistryStore(dir)
    await assert.rejects(store.put(sampleRecords(2)), RegistryVersionConflictError)
    await store.put(sampleRecords(1))
    await assert.rejects(store.put(sampleRecords(1)), RegistryVersionConflictError)
  })

  it('lets exactly one of two concurrent writers create a version', async () => {
    const a = new FileRegistryStore(dir)
    const b = new FileRegistryStore(dir)
    await a.put(sampleRecords(1))
    const results = await Promise.allSettled([a.put(sampleRecords(2)), b.put(sampleRecords(2))])
    assert.equal(results.filter(r => r.status === 'fulfilled').length, 1)
    assert.equal(await a.latestVersion(), 2)
  })

  it('refuses a node key without a valid proof of possession', async () => {
    const records = sampleRecords(1)
    records.nodes[1]!.blsPossessionProof = records.nodes[1]!.blsPossessionProof.replace(/^../, '00')
    await assert.rejects(new FileRegistryStore(dir).put(records), VerificationError)
  })

  it('gives parameters a registry file does not name their defaults (files written before they existed)', () => {
    const records = sampleRecords(1) as unknown as { subnets: Array<{ params: Record<string, number> }> }
    const { maxInstructionsPerRound: _a, streamMaxMessages: _b, maxXNetPayloadBytes: _c, ...older } = records.subnets[0]!.params
    records.subnets[0]!.params = older
    const decoded = decodeRecords(new TextEncoder().encode(JSON.stringify(records)))
    assert.deepEqual(decoded.subnets[0]!.params, DEFAULT_SUBNET_PARAMS)
  })

  it('rejects a corrupt file with a typed error', async () => {
    await writeFile(join(dir, 'registry-0000000001.json'), '{"version": 1, "subnets": 7}')
    await assert.rejects(new FileRegistryStore(dir).latest(), InvalidEncodingError)
  })

  it('indexes subnets, nodes, routes and migrations', () => {
    const records = sampleRecords()
    records.canisterMigrations.push({ start: canisterIdFromU64(5).toText(), end: canisterIdFromU64(9).toText(), trace: [records.rootSubnetId, records.rootSubnetId] })
    const reg = new Registry(records)
    const subnetId = reg.rootSubnetId()
    assert.equal(reg.subnetIds().length, 1)
    assert.equal(reg.requireSubnet(subnetId).threshold, 3)
    assert.equal(reg.subnetNodes(subnetId).length, 4)
    assert.equal(reg.subnetOfNode('12D3KooWC')?.toText(), subnetId.toText())
    assert.equal(reg.routingTable().route(canisterIdFromU64(999))?.toText(), subnetId.toText())
    assert.equal(reg.routingTable().route(canisterIdFromU64(1001)), undefined)
    assert.ok(reg.migrationOf(canisterIdFromU64(7)) != null)
    assert.equal(reg.migrationOf(canisterIdFromU64(10)), undefined)
  })

  it('decoding arbitrary bytes yields records or a typed error, never anything else', () => {
    const valid = JSON.stringify(sampleRecords())
    fc.assert(fc.property(fc.integer({ min: 0, max: valid.length - 1 }), fc.string({ maxLength: 4 }), (pos, insert) => {
      const mutated = valid.slice(0, pos) + insert + valid.slice(pos + 1)
      try {
        const r = decodeRecords(new TextEncoder().encode(mutated))
        assert.ok(r.version >= 1)
      } catch (err: any) {
        assert.ok(['InvalidEncodingError', 'LimitExceededError', 'InvalidIdError'].includes(err.name), err.name)
      }
    }), { numRuns: 300 })
  })
})

describe('registry watcher', () => {
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'icnet-registry-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  it('reports every new version once, in order', async () => {
    const store = new FileRegistryStore(dir)
    await store.put(sampleRecords(1))
    const seen: number[] = []
    const watcher = new RegistryWatcher(store, r => { seen.push(r.version) }, { intervalMs: 10, fromVersion: 1 })
    watcher.start()
    await store.update(() => undefined)
    await store.update(() => undefined)
    const deadline = Date.now() + 10_000
    while (seen.length < 2 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 10))
    await watcher.stop()
    assert.deepEqual(seen, [2, 3])
    assert.equal(watcher.knownVersion, 3)
  })
})
