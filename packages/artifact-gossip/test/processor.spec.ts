import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { generateNodeKeyPair } from '@icnet/crypto'
import { InMemoryMetrics } from '@icnet/types'
import { waitFor } from '@icnet/test-utils'
import { ArtifactProcessor, artifactIdHex, createArtifactGossipMetrics, encodeInline, windowPriority, type Verdict } from '../src/index.js'
import { SUBNET, TestRegistry, makeNote, noteKind, sharedVerifier } from './fixtures.js'
import type { BlsVerifierPool } from '@icnet/crypto'

describe('ArtifactProcessor (no network)', function () {
  this.timeout(30_000)
  let verifier: BlsVerifierPool
  before(() => { verifier = sharedVerifier() })
  after(async () => { await verifier.close() })

  function setup (priorityLookahead?: number) {
    const reports = new Map<string, Verdict>()
    const accepted: string[] = []
    const metrics = new InMemoryMetrics()
    const { kind, counters } = noteKind()
    if (priorityLookahead != null) kind.priority = windowPriority(priorityLookahead)
    const processor = new ArtifactProcessor({
      subnetId: SUBNET,
      registry: () => new TestRegistry(),
      verifier,
      metrics: createArtifactGossipMetrics(metrics),
      report: (msgId, _from, verdict) => { reports.set(msgId, verdict) },
      fetch: async () => { throw new Error('no network here') },
      onAccepted: a => { accepted.push(a.id) }
    })
    processor.register({ kind })
    return { processor, reports, accepted, counters, metrics }
  }

  it('accepts validly signed artifacts and rejects bad signatures in the same batch', async () => {
    const { processor, reports, counters } = setup()
    const keys = generateNodeKeyPair()
    const good = Array.from({ length: 5 }, (_, i) => makeNote(keys, i, randomBytes(32)))
    const bad = makeNote(keys, 9, randomBytes(32), { corrupt: true })
    for (const b of [...good, bad]) processor.receive('note', artifactIdHex(b), 'peer-a', encodeInline(b))
    await waitFor(() => reports.size === 6, { what: 'six verdicts' })
    for (const g of good) assert.equal(reports.get(artifactIdHex(g)), 'accept')
    assert.equal(reports.get(artifactIdHex(bad)), 'reject')
    assert.equal(counters.validated, 5, 'kind validation only after signatures hold')
    assert.equal(processor.pool('note').has(artifactIdHex(bad)), false)
  })

  it('rejects undecodable bytes without verifying anything', async () => {
    const { processor, reports, counters } = setup()
    const junk = randomBytes(20)
    processor.receive('note', artifactIdHex(junk), 'peer-b', encodeInline(junk))
    await waitFor(() => reports.size === 1)
    assert.equal(reports.get(artifactIdHex(junk)), 'reject')
    assert.equal(counters.signatureSets, 0)
  })

  it('stashes artifacts beyond the lookahead and processes them when the floor moves up', async () => {
    const { processor, reports, accepted } = setup(10)
    const keys = generateNodeKeyPair()
    const near = makeNote(keys, 5, randomBytes(16))
    const far = makeNote(keys, 40, randomBytes(16))
    const old = makeNote(keys, 25, randomBytes(16))
    for (const b of [near, far]) processor.receive('note', artifactIdHex(b), 'p', encodeInline(b))
    await waitFor(() => reports.has(artifactIdHex(near)))
    assert.equal(processor.stashLength('note'), 1)
    assert.equal(reports.has(artifactIdHex(far)), false, 'stashed, undecided')
    processor.receive('note', artifactIdHex(old), 'p', encodeInline(old))
    await waitFor(() => processor.stashLength('note') === 2)
    processor.purgeBelow('note', 30)
    await waitFor(() => reports.get(artifactIdHex(far)) === 'accept', { what: 'far artifact accepted after the floor moved' })
    assert.equal(reports.get(artifactIdHex(old)), 'ignore', 'below the new floor: dropped')
    assert.deepEqual(accepted, [artifactIdHex(near), artifactIdHex(far)])
  })
})
