import assert from 'node:assert/strict'
import { subnetIdFromPublicKeyDer } from '@icnet/types'
import {
  aggregateMultiSignature, BlsVerifierPool, combineShares, dealThresholdKeys, generateNodeKeyPair,
  nodeSign, signShare, verifyMultiSignature, verifyShare, verifyThreshold
} from '../src/index.js'

// The example of README.md, with its console output turned into assertions.
describe('README example', () => {
  it('runs', async () => {
    const subnetKey = dealThresholdKeys({ n: 4, t: 3 })
    const subnetId = subnetIdFromPublicKeyDer(subnetKey.publicKeyDer)

    const message = new TextEncoder().encode('state root of round 7')
    const shares = [0, 2, 3].map(index => ({ index, signature: signShare(subnetKey.shares[index]!, message) }))
    for (const s of shares) {
      if (!verifyShare(subnetKey.sharePublicKeys[s.index]!, message, s.signature)) throw new Error('bad share')
    }
    const signature = combineShares(shares, { threshold: 3 })
    assert.match(subnetId.toText(), /^[a-z0-9-]+$/)
    assert.equal(verifyThreshold(subnetKey.publicKeyDer, message, signature), true)

    const nodes = Array.from({ length: 4 }, () => generateNodeKeyPair())
    const block = new TextEncoder().encode('block 7')
    const notarization = aggregateMultiSignature(
      [1, 2, 3].map(signerIndex => ({ signerIndex, signature: nodeSign(nodes[signerIndex]!.secretKey, block) })), 4)
    assert.equal(verifyMultiSignature(nodes.map(n => n.publicKey), block, notarization, { threshold: 3 }), true)

    const pool = new BlsVerifierPool({ maxWaitMs: 10 })
    const results = await pool.verifyMany(nodes.map(n => ({ publicKey: n.publicKey, message: block, signature: nodeSign(n.secretKey, block) })))
    assert.deepEqual(results, [true, true, true, true])
    await pool.close()
  })
})
