import assert from 'node:assert/strict'
import { readFile, rm, stat, mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { combineShares, nodeSign, nodeVerify, signShare, verifyShare, verifyThreshold } from '@icnet/crypto'
import { fromHex, subnetIdFromPublicKeyDer } from '@icnet/types'
import { privateKeyFromProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { FileRegistryStore, initTestnet, readNodeConfig } from '../src/index.js'

describe('testnet genesis', function () {
  this.timeout(60_000)
  let dir: string
  before(async () => { dir = await mkdtemp(join(tmpdir(), 'icnet-genesis-')) })
  after(async () => { await rm(dir, { recursive: true, force: true }) })

  it('deals keys for 2 subnets × 4 nodes and writes a registry plus private configs', async () => {
    const layout = await initTestnet({ subnets: 2, nodesPerSubnet: 4, dir, basePort: 30000, params: { unitDelayMs: 50 } })
    const registry = await new FileRegistryStore(layout.registryDir).latest()
    assert.equal(registry.version, 1)
    const [root, app] = registry.subnetIds()
    assert.equal(registry.rootSubnetId().toText(), root!.toText())
    assert.equal(registry.requireSubnet(root!).type, 'system')
    assert.equal(registry.requireSubnet(app!).type, 'application')
    assert.equal(registry.requireSubnet(app!).params.unitDelayMs, 50)
    const registryText = await readFile(join(layout.registryDir, 'registry-0000000001.json'), 'utf8')

    for (const [s, subnetId] of registry.subnetIds().entries()) {
      const subnet = registry.requireSubnet(subnetId)
      assert.equal(subnetIdFromPublicKeyDer(subnet.publicKeyDer).toText(), subnetId.toText())
      assert.equal(subnet.threshold, 3)
      const message = new TextEncoder().encode(`genesis check ${s}`)
      const sigShares = []
      for (const [i, path] of layout.nodeConfigs[s]!.entries()) {
        assert.equal((await stat(path)).mode & 0o777, 0o600)
        const config = await readNodeConfig(path)
        assert.equal(config.nodeIndex, i)
        assert.equal(config.subnetId, subnetId.toText())
        // The node id is the peer id of the libp2p key in the config.
        assert.equal(peerIdFromPrivateKey(privateKeyFromProtobuf(fromHex(config.libp2pPrivateKey))).toString(), config.nodeId)
        assert.equal(subnet.nodes[i], config.nodeId)
        // The registry holds the public BLS key of the secret in the config.
        const record = registry.getNode(config.nodeId)!
        const sig = await nodeSign(fromHex(config.blsSecretKey), message)
        assert.equal(await nodeVerify(record.blsPublicKey, message, sig), true)
        // Secrets never appear in the registry.
        assert.equal(registryText.includes(config.blsSecretKey), false)
        assert.equal(registryText.includes(config.thresholdShare.secretKey), false)
        assert.equal(registryText.includes(config.libp2pPrivateKey), false)
        // Threshold shares verify against the public share in the registry.
        const share = { index: config.thresholdShare.index, secretKey: fromHex(config.thresholdShare.secretKey), publicKey: fromHex(config.thresholdShare.publicKey) }
        const sigShare = await signShare(share, message)
        assert.equal(await verifyShare(subnet.thresholdShares[i]!.publicKey, message, sigShare), true)
        sigShares.push({ index: share.index, signature: sigShare })
      }
      // Any 3 of 4 shares combine into the subnet's threshold signature.
      const combined = await combineShares(sigShares.slice(1))
      assert.equal(await verifyThreshold(subnet.publicKey, message, combined), true)
    }
    // Routing: each subnet owns a disjoint canister range; the p2p address embeds the node id.
    assert.equal(registry.routingTable().entries.length, 2)
    const node0 = registry.getNode(registry.requireSubnet(root!).nodes[0]!)!
    assert.equal(node0.p2pAddresses[0], `/ip4/127.0.0.1/tcp/30000/p2p/${node0.id}`)
  })

  it('gives each node its own host with hostFor (one host per node, ports as before)', async () => {
    const d = await mkdtemp(join(tmpdir(), 'icnet-genesis-hosts-'))
    try {
      const hostFor = (s: number, i: number): string => `10.231.0.${10 + 4 * s + i}`
      const layout = await initTestnet({ subnets: 2, nodesPerSubnet: 2, dir: d, basePort: 31000, hostFor })
      const registry = await new FileRegistryStore(layout.registryDir).latest()
      for (const [s, paths] of layout.nodeConfigs.entries()) {
        for (const [i, path] of paths.entries()) {
          const config = await readNodeConfig(path)
          const host = hostFor(s, i)
          const port = 31000 + 2 * (2 * s + i)
          assert.deepEqual(config.listenAddresses, [`/ip4/${host}/tcp/${port}`])
          assert.deepEqual(config.http, { host, port: port + 1 })
          const record = registry.getNode(config.nodeId)!
          assert.deepEqual(record.p2pAddresses, [`/ip4/${host}/tcp/${port}/p2p/${config.nodeId}`])
          assert.equal(record.httpUrl, `http://${host}:${port + 1}`)
        }
      }
    } finally {
      await rm(d, { recursive: true, force: true })
    }
  })

  it('applies per-subnet parameter overrides after the common ones (a slow subnet: small round budget, small XNet share)', async () => {
    const d = await mkdtemp(join(tmpdir(), 'icnet-genesis-params-'))
    try {
      const layout = await initTestnet({
        subnets: 2, nodesPerSubnet: 1, dir: d, basePort: 32000,
        params: { unitDelayMs: 100, streamMaxMessages: 40 },
        subnetParams: [undefined, { maxInstructionsPerRound: 5_000_000, maxXNetPayloadBytes: 4096 }]
      })
      const registry = await new FileRegistryStore(layout.registryDir).latest()
      const [a, b] = registry.subnetIds().map(id => registry.requireSubnet(id).params)
      assert.deepEqual([a!.unitDelayMs, a!.streamMaxMessages, a!.maxInstructionsPerRound, a!.maxXNetPayloadBytes], [100, 40, 4_000_000_000, 448 * 1024])
      assert.deepEqual([b!.unitDelayMs, b!.streamMaxMessages, b!.maxInstructionsPerRound, b!.maxXNetPayloadBytes], [100, 40, 5_000_000, 4096])
      // A stream that holds nothing would block every output: refused at genesis, nothing written.
      const e = await mkdtemp(join(tmpdir(), 'icnet-genesis-params-bad-'))
      try {
        await assert.rejects(initTestnet({ subnets: 1, nodesPerSubnet: 1, dir: e, params: { streamMaxMessages: 0 } }), (err: Error) => err.name === 'InvalidEncodingError')
      } finally {
        await rm(e, { recursive: true, force: true })
      }
    } finally {
      await rm(d, { recursive: true, force: true })
    }
  })

  it('rejects a hostFor that gives something other than an IPv4 address, writing nothing', async () => {
    const d = await mkdtemp(join(tmpdir(), 'icnet-genesis-badhost-'))
    try {
      for (const bad of ['node-1.example', '10.231.0.300', '/ip4/10.0.0.1', '10.0.0.1/tcp/1']) {
        await assert.rejects(initTestnet({ subnets: 1, nodesPerSubnet: 1, dir: d, hostFor: () => bad }), (err: Error) => err.name === 'InvalidEncodingError')
      }
      await assert.rejects(stat(join(d, 'registry')), { code: 'ENOENT' })
    } finally {
      await rm(d, { recursive: true, force: true })
    }
  })
})
