import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { InMemoryMetrics, toHex } from '@icnet/types'
import {
  ArtifactProcessor, artifactGossipsubOptions, artifactIdHex, artifactMessageIdFn, artifactTopic, createArtifactGossipMetrics,
  encodeInline, messageIdToString, readGossipMessage, type ArtifactIdFn, type ArtifactKind, type SignatureVerifier, type Verdict
} from '../src/index.js'
import { SUBNET, TestRegistry } from './fixtures.js'

/** A kind whose id is a domain-separated hash of its bytes, with no signatures to check. */
const taggedId: ArtifactIdFn = bytes => createHash('sha256').update('tagged-id').update(bytes).digest()

function taggedKind (): ArtifactKind<{ height: number }> {
  return {
    kind: 'tagged',
    maxBytes: 4096,
    decode: bytes => ({ height: bytes[0]! }),
    height: a => a.height,
    signatureSets: () => [],
    id: taggedId
  }
}

/** Counts calls, so a test can prove an artifact never reached the verifier. */
function countingVerifier (): SignatureVerifier & { calls: number } {
  const v = {
    calls: 0,
    verifyMany: async (sets: unknown[]) => { v.calls++; return sets.map(() => true) }
  }
  return v
}

function processorFor (kind: ArtifactKind<{ height: number }>, verifier: SignatureVerifier) {
  const reports = new Map<string, Verdict>()
  const accepted: string[] = []
  const processor = new ArtifactProcessor({
    subnetId: SUBNET,
    registry: () => new TestRegistry(),
    verifier,
    metrics: createArtifactGossipMetrics(new InMemoryMetrics()),
    report: (msgId, _from, verdict) => { reports.set(msgId, verdict) },
    fetch: async () => { throw new Error('no network here') },
    onAccepted: a => { accepted.push(a.id) }
  })
  processor.register({ kind })
  return { processor, reports, accepted }
}

describe('artifact ids and the idle fast path', () => {
  const topic = artifactTopic(SUBNET, 'tagged')

  it('uses a kind\'s own id function for message ids, pool keys and local publishes', () => {
    const kind = taggedKind()
    const msgIdFn = artifactMessageIdFn(k => k === 'tagged' ? taggedId : undefined)
    const { processor, accepted } = processorFor(kind, countingVerifier())
    const bytes = new Uint8Array([3, ...randomBytes(40)])
    const msgId = messageIdToString(msgIdFn({ topic, data: encodeInline(bytes) }))
    assert.equal(msgId, toHex(taggedId(bytes)))
    assert.notEqual(msgId, artifactIdHex(bytes))
    processor.receive('tagged', msgId, 'peer-a', encodeInline(bytes))
    assert.deepEqual(accepted, [msgId])
    assert.equal(processor.pool('tagged').has(msgId), true)
    const own = new Uint8Array([4, ...randomBytes(40)])
    assert.equal(processor.addLocal('tagged', own).id, toHex(taggedId(own)))
  })

  it('builds gossipsub options whose msgIdFn applies the kind\'s id function', () => {
    const opts = artifactGossipsubOptions({ subnetId: SUBNET, registry: new TestRegistry(), kinds: [taggedKind(), 'note'] })
    const bytes = randomBytes(64)
    const idOf = (t: string): string => messageIdToString(opts.msgIdFn!({ type: 'unsigned', topic: t, data: encodeInline(bytes) }) as Uint8Array)
    assert.equal(idOf(topic), toHex(taggedId(bytes)))
    assert.equal(idOf(artifactTopic(SUBNET, 'note')), artifactIdHex(bytes), 'kinds given by name keep SHA-256')
  })

  it('reuses the id msgIdFn computed only when the id function is the same', () => {
    const bytes = randomBytes(100)
    const data = encodeInline(bytes)
    const sha = messageIdToString(artifactMessageIdFn()({ topic: artifactTopic(SUBNET, 'note'), data }))
    assert.equal(readGossipMessage(data, 4096, b => createHash('sha256').update(b).digest()).id, sha)
    assert.equal(readGossipMessage(data, 4096, taggedId).id, toHex(taggedId(bytes)))
  })

  it('refuses an id function that does not return 32 bytes', () => {
    const kind = { ...taggedKind(), id: (b: Uint8Array) => b.subarray(0, 4) }
    const { processor, reports } = processorFor(kind, countingVerifier())
    const bytes = new Uint8Array([1, 2, 3, 4, 5])
    processor.receive('tagged', 'm1', 'peer-a', encodeInline(bytes))
    assert.equal(reports.get('m1'), 'reject')
    assert.throws(() => processor.addLocal('tagged', bytes), RangeError)
  })

  it('judges an artifact without signature sets inside receive when nothing is queued', () => {
    const verifier = countingVerifier()
    const { processor, reports, accepted } = processorFor(taggedKind(), verifier)
    const bytes = new Uint8Array([7, ...randomBytes(16)])
    const id = toHex(taggedId(bytes))
    processor.receive('tagged', id, 'peer-a', encodeInline(bytes))
    // No await: the verdict (and with it gossipsub's forward) is given before receive returns.
    assert.equal(reports.get(id), 'accept')
    assert.deepEqual(accepted, [id])
    assert.equal(verifier.calls, 0, 'nothing to verify, so the verifier is not called')
  })
})
