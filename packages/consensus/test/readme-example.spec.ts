import assert from 'node:assert/strict'
// README example (the code between the markers is the README's, verbatim).
import { dealThresholdKeys, generateNodeKeyPair } from '@icnet/crypto'
import { subnetIdFromPublicKeyDer } from '@icnet/types'
import { Committee, Consensus, InMemoryBus, NodeSigner, type Batch, type PayloadBuilder } from '../src/index.js'

describe('README example', function () {
  this.timeout(60_000)

  it('runs', async () => {
    // --- README ---
    // A 4-node subnet (f = 1) dealt in memory; `initTestnet` from @icnet/registry does the same into files.
    const n = 4
    const threshold = dealThresholdKeys({ n, t: 3 })
    const nodeKeys = Array.from({ length: n }, () => generateNodeKeyPair())
    const committee = new Committee({
      subnetId: subnetIdFromPublicKeyDer(threshold.publicKeyDer),
      nodes: ['a', 'b', 'c', 'd'],
      blsPublicKeys: nodeKeys.map(k => k.publicKey),
      thresholdPublicKey: threshold.publicKey,
      thresholdSharePublicKeys: threshold.sharePublicKeys,
      threshold: 3
    })

    // An "ingress" payload: a greeting per block, checked by every validator.
    const ingress: PayloadBuilder = {
      name: 'ingress',
      build: (height) => new TextEncoder().encode(`hello from height ${height}`),
      validate: (payload, ctx) => new TextDecoder().decode(payload) === `hello from height ${ctx.height}`
    }

    const bus = new InMemoryBus() // or consensusTransport(...) in a libp2p node
    const nodes = committee.nodes.map((id, i) => new Consensus({
      committee,
      signer: new NodeSigner({ index: i, blsSecretKey: nodeKeys[i]!.secretKey, thresholdSecretKey: threshold.shares[i]!.secretKey }),
      params: { unitDelayMs: 50, maxBlockPayloadBytes: 4 * 1024 * 1024, checkpointInterval: 100 },
      transport: bus.transport(id),
      payloadBuilders: [ingress]
    }))
    for (const node of nodes) await node.start()

    // Each host takes finalized batches in height order, exactly once.
    const received: Batch[][] = await Promise.all(nodes.map(async node => {
      const batches: Batch[] = []
      for await (const batch of node.batches()) {
        batches.push(batch)
        if (batch.height === 5) break
      }
      return batches
    }))
    console.log(new TextDecoder().decode(received[0]![4]!.payload.get('ingress')))  // hello from height 5
    for (const node of nodes) await node.stop()
    // --- end README ---
    for (const r of received) {
      assert.deepEqual(r.map(b => b.height), [1, 2, 3, 4, 5])
      assert.deepEqual(r.map(b => b.blockHash), received[0]!.map(b => b.blockHash))
    }
  })
})
