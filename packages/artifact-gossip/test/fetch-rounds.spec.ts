import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { InMemoryMetrics } from '@icnet/types'
import { waitFor } from '@icnet/test-utils'
import { ArtifactProcessor, FetchFailedError, artifactIdHex, createArtifactGossipMetrics, encodeAdvert, type ArtifactKind, type Verdict } from '../src/index.js'
import { SUBNET, TestRegistry } from './fixtures.js'

const blobKind: ArtifactKind<{ height: number }> = {
  kind: 'blob',
  maxBytes: 4096,
  decode: bytes => ({ height: bytes[0]! }),
  height: a => a.height,
  signatureSets: () => []
}

/** A processor whose fetches fail `failures` times before serving `bytes`. */
function setup (bytes: Uint8Array, failures: number, fetchRounds: number) {
  const reports = new Map<string, Verdict>()
  const accepted: string[] = []
  let fetches = 0
  const processor = new ArtifactProcessor({
    subnetId: SUBNET,
    registry: () => new TestRegistry(),
    verifier: { verifyMany: async sets => sets.map(() => true) },
    metrics: createArtifactGossipMetrics(new InMemoryMetrics()),
    report: (msgId, _from, verdict) => { reports.set(msgId, verdict) },
    fetch: async () => {
      fetches++
      if (fetches <= failures) throw new FetchFailedError('every candidate failed')
      return bytes
    },
    onAccepted: a => { accepted.push(a.id) },
    inlineThresholdBytes: 64,
    fetchRounds,
    fetchRetryBackoffMs: 5
  })
  processor.register({ kind: blobKind })
  return { processor, reports, accepted, fetches: () => fetches }
}

describe('fetch rounds for adverts', () => {
  const bytes = new Uint8Array([3, ...randomBytes(200)])
  const id = artifactIdHex(bytes)
  const advert = encodeAdvert({ id, kind: 'blob', size: bytes.byteLength, height: 3 })

  it('tries again after a round in which every candidate failed, and accepts the artifact', async () => {
    const { processor, reports, accepted, fetches } = setup(bytes, 2, 4)
    processor.receive('blob', id, 'advertiser', advert)
    await waitFor(() => reports.has(id), { what: 'a verdict for the advert' })
    assert.equal(reports.get(id), 'accept')
    assert.deepEqual(accepted, [id])
    assert.equal(fetches(), 3, 'two failed rounds, then the third served it')
  })

  it('gives up (ignore, no penalty) when every round failed', async () => {
    const { processor, reports, accepted, fetches } = setup(bytes, Number.POSITIVE_INFINITY, 2)
    processor.receive('blob', id, 'advertiser', advert)
    await waitFor(() => reports.has(id), { what: 'a verdict for the advert' })
    assert.equal(reports.get(id), 'ignore')
    assert.deepEqual(accepted, [])
    assert.equal(fetches(), 2)
    assert.equal(processor.pool('blob').has(id), false)
  })
})
