import assert from 'node:assert/strict'
import { InMemoryMetrics, QueueFullError } from '@icnet/types'
import { BlsVerifierPool, generateNodeKeyPair, nodeSign, PoolClosedError, type PoolSignatureSet } from '../src/index.js'

const text = (s: string): Uint8Array => new TextEncoder().encode(s)

function makeSets (count: number): PoolSignatureSet[] {
  const keys = Array.from({ length: Math.min(count, 8) }, () => generateNodeKeyPair())
  return Array.from({ length: count }, (_, i) => {
    const k = keys[i % keys.length]!
    const message = text(`artifact ${i}`)
    return { publicKey: k.publicKey, message, signature: nodeSign(k.secretKey, message) }
  })
}

function metricValue (metrics: InMemoryMetrics, name: string): number {
  return metrics.values.get(name)?.get('') ?? 0
}

describe('BlsVerifierPool', () => {
  const pools: BlsVerifierPool[] = []
  const newPool = (opts: ConstructorParameters<typeof BlsVerifierPool>[0]): BlsVerifierPool => {
    const p = new BlsVerifierPool(opts)
    pools.push(p)
    return p
  }
  afterEach(async () => { await Promise.all(pools.splice(0).map(async p => p.close())) })

  it('verifies a full batch of good sets in one worker batch', async () => {
    const metrics = new InMemoryMetrics()
    const pool = newPool({ workers: 1, maxBatch: 16, maxWaitMs: 10_000, metrics })
    const results = await pool.verifyMany(makeSets(16))
    assert.deepEqual(results, new Array(16).fill(true))
    assert.equal(metricValue(metrics, 'icnet_crypto_verifier_batches_total'), 1)
    assert.equal(metricValue(metrics, 'icnet_crypto_verifier_sets_total'), 16)
    assert.equal(metricValue(metrics, 'icnet_crypto_verifier_batch_failures_total'), 0)
  })

  it('a batch with one bad set reports exactly that set false and the rest true', async () => {
    const metrics = new InMemoryMetrics()
    const pool = newPool({ workers: 1, maxBatch: 32, maxWaitMs: 50, metrics })
    const sets = makeSets(20)
    sets[13] = { ...sets[13]!, message: text('tampered') }
    const results = await Promise.all(sets.map(async s => pool.verify(s)))
    assert.deepEqual(results, sets.map((_, i) => i !== 13))
    assert.equal(metricValue(metrics, 'icnet_crypto_verifier_batch_failures_total'), 1)
    assert.equal(metricValue(metrics, 'icnet_crypto_verifier_invalid_sets_total'), 1)
  })

  it('a lone set goes out after maxWaitMs, good or bad (single-set batches)', async () => {
    const pool = newPool({ workers: 1, maxBatch: 64, maxWaitMs: 5 })
    const [good] = makeSets(1)
    assert.equal(await pool.verify(good!), true)
    assert.equal(await pool.verify({ ...good!, signature: nodeSign(generateNodeKeyPair().secretKey, good!.message) }), false)
  })

  it('malformed sets are false without failing their batch companions', async () => {
    const pool = newPool({ workers: 1, maxBatch: 8, maxWaitMs: 5 })
    const sets = makeSets(6)
    const malformed = [
      { ...sets[0]!, publicKey: new Uint8Array(48).fill(1) },
      { ...sets[1]!, signature: new Uint8Array(10) },
      { ...sets[2]!, message: 'not bytes' as unknown as Uint8Array }
    ]
    const results = await pool.verifyMany([...malformed, ...sets.slice(3)])
    assert.deepEqual(results, [false, false, false, true, true, true])
  })

  it('spreads many sets over several workers and batches them', async () => {
    const metrics = new InMemoryMetrics()
    const pool = newPool({ workers: 2, maxBatch: 32, maxWaitMs: 5, metrics })
    const sets = makeSets(200)
    const results = await pool.verifyMany(sets)
    assert.ok(results.every(r => r))
    assert.ok(metricValue(metrics, 'icnet_crypto_verifier_batches_total') <= 10)
    assert.equal(metricValue(metrics, 'icnet_crypto_verifier_sets_total'), 200)
  })

  it('a full queue refuses work with QueueFullError and accepts nothing of it', async () => {
    const pool = newPool({ workers: 1, maxBatch: 64, maxWaitMs: 10_000, maxQueue: 10 })
    const first = assert.rejects(pool.verifyMany(makeSets(8)), PoolClosedError)
    assert.equal(pool.canAcceptWork(), true)
    await assert.rejects(pool.verifyMany(makeSets(3)), QueueFullError)
    assert.equal(pool.queueDepth, 8)
    const second = assert.rejects(pool.verifyMany(makeSets(2)), PoolClosedError)
    assert.equal(pool.canAcceptWork(), false)
    await assert.rejects(pool.verify(makeSets(1)[0]!), QueueFullError)
    await pool.close()
    await first
    await second
  })

  it('closes cleanly: in-flight batches finish, later calls are refused, workers end', async () => {
    const pool = newPool({ workers: 2, maxBatch: 4, maxWaitMs: 1 })
    const inFlight = pool.verifyMany(makeSets(4))
    await new Promise(resolve => setImmediate(resolve))
    await pool.close()
    assert.deepEqual(await inFlight, [true, true, true, true])
    await assert.rejects(pool.verify(makeSets(1)[0]!), PoolClosedError)
    assert.equal(pool.canAcceptWork(), false)
    await pool.close() // idempotent
  })
})
