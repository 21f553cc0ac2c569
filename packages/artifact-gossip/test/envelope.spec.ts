import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import fc from 'fast-check'
import { Principal } from '@icnet/types'
import { artifactIdHex, artifactMessageId, artifactTopic, decodeGossipMessage, encodeAdvert, encodeInline, messageIdToString, parseArtifactTopic } from '../src/index.js'

const TOPIC = artifactTopic(Principal.fromUint8Array(new Uint8Array([1, 2, 3])), 'block')

describe('gossip envelope and message ids', () => {
  it('round-trips inline artifacts and adverts', () => {
    fc.assert(fc.property(fc.uint8Array({ minLength: 1, maxLength: 2048 }), fc.nat(), fc.integer({ min: 1, max: 4 * 1024 * 1024 }), (bytes, height, size) => {
      const inline = decodeGossipMessage(encodeInline(bytes), 4096)
      assert.equal(inline.type, 'inline')
      assert.deepEqual(inline.type === 'inline' && inline.bytes, bytes)
      const advert = { id: artifactIdHex(bytes), kind: 'block', size, height }
      assert.deepEqual(decodeGossipMessage(encodeAdvert(advert), 4096), { type: 'advert', advert })
    }))
  })

  it('uses the hash of inline bytes (never a claimed id) and the advert id as message id', () => {
    const bytes = new Uint8Array([9, 8, 7])
    assert.equal(messageIdToString(artifactMessageId({ topic: TOPIC, data: encodeInline(bytes) })), artifactIdHex(bytes))
    const id = artifactIdHex(new Uint8Array(100))
    assert.equal(messageIdToString(artifactMessageId({ topic: TOPIC, data: encodeAdvert({ id, kind: 'block', size: 100, height: 1 }) })), id)
    const other = artifactMessageId({ topic: '/other', data: bytes })
    assert.deepEqual(Buffer.from(other), createHash('sha256').update('/other').update(bytes).digest())
  })

  it('refuses oversized, empty and ambiguous messages before trusting them', () => {
    assert.throws(() => decodeGossipMessage(encodeInline(new Uint8Array(5000)), 4096), { name: 'LimitExceededError' })
    assert.throws(() => decodeGossipMessage(new Uint8Array(0), 4096), { name: 'InvalidEncodingError' })
    assert.throws(() => decodeGossipMessage(new Uint8Array([0xff, 0xff, 0xff]), 4096), { name: 'InvalidEncodingError' })
    assert.throws(() => decodeGossipMessage(new Uint8Array([0x12, 0x02, 0x0a, 0x00]), 4096), { name: 'InvalidEncodingError' }, 'advert with a 0-byte id')
  })

  it('names and parses topics', () => {
    assert.match(TOPIC, /^\/icnet\/[a-z0-9-]+\/block$/)
    assert.deepEqual(parseArtifactTopic(TOPIC)?.kind, 'block')
    assert.equal(parseArtifactTopic('/icnet/x/Bad Kind'), undefined)
    assert.equal(parseArtifactTopic('/meshsub/other'), undefined)
  })
})
