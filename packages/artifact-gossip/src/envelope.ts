import { createHash } from 'node:crypto'
import { InvalidEncodingError, LimitExceededError, toHex } from '@icnet/types'
import { artifactId } from './artifact-id.js'
import { ARTIFACT_ID_BYTES, GOSSIP_ENVELOPE_OVERHEAD_BYTES, KIND_NAME_PATTERN, MAX_ARTIFACT_BYTES } from './constants.js'
import { GossipMessage } from './pb/artifact-gossip.js'
import { parseArtifactTopic } from './topics.js'

export interface Advert {
  /** Hex of the SHA-256 of the artifact bytes. */
  id: string
  kind: string
  size: number
  height: number
}

export type GossipBody =
  | { type: 'inline', bytes: Uint8Array }
  | { type: 'advert', advert: Advert }

export function encodeInline (bytes: Uint8Array): Uint8Array {
  return GossipMessage.encode({ artifact: bytes as Uint8Array<ArrayBuffer> })
}

export function encodeAdvert (advert: Advert): Uint8Array {
  return GossipMessage.encode({
    advert: { id: fromHexId(advert.id), kind: advert.kind, size: advert.size, height: advert.height }
  })
}

/**
 * Decodes a gossip message, refusing anything larger than an inline artifact of
 * `maxInlineBytes` or malformed (both fields, neither, a bad id, size or kind).
 */
export function decodeGossipMessage (data: Uint8Array, maxInlineBytes: number): GossipBody {
  if (data.byteLength > maxInlineBytes + GOSSIP_ENVELOPE_OVERHEAD_BYTES) {
    throw new LimitExceededError(`gossip message of ${data.byteLength} bytes exceeds the inline limit`)
  }
  let msg: GossipMessage
  try {
    msg = GossipMessage.decode(data)
  } catch (err) {
    throw new InvalidEncodingError('gossip message does not decode', { cause: err })
  }
  if ((msg.artifact == null) === (msg.advert == null)) {
    throw new InvalidEncodingError('gossip message must carry exactly one of artifact or advert')
  }
  if (msg.artifact != null) {
    if (msg.artifact.byteLength === 0) throw new InvalidEncodingError('empty inline artifact')
    return { type: 'inline', bytes: msg.artifact }
  }
  const a = msg.advert!
  if (a.id.byteLength !== ARTIFACT_ID_BYTES) throw new InvalidEncodingError('advert id must be 32 bytes')
  if (!KIND_NAME_PATTERN.test(a.kind)) throw new InvalidEncodingError('advert kind is not a valid kind name')
  if (!Number.isSafeInteger(a.size) || a.size <= 0 || a.size > MAX_ARTIFACT_BYTES) throw new InvalidEncodingError('advert size out of range')
  if (!Number.isSafeInteger(a.height) || a.height < 0) throw new InvalidEncodingError('advert height out of range')
  return { type: 'advert', advert: { id: toHex(a.id), kind: a.kind, size: a.size, height: a.height } }
}

function fromHexId (hex: string): Uint8Array<ArrayBuffer> {
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new InvalidEncodingError('artifact id must be 64 lowercase hex characters')
  return new Uint8Array(Buffer.from(hex, 'hex'))
}

/**
 * The gossipsub `msgIdFn`: on artifact topics, the artifact id (hashed from inline bytes,
 * never taken from the sender's word; the advert's id for adverts). Anything else (other
 * topics, undecodable data) gets SHA-256 over topic and data, and is rejected by validation.
 */
export function artifactMessageId (msg: { topic: string, data?: Uint8Array }): Uint8Array {
  const data = msg.data ?? new Uint8Array(0)
  if (parseArtifactTopic(msg.topic) != null) {
    try {
      const m = GossipMessage.decode(data)
      if (m.artifact != null && m.advert == null) return artifactId(m.artifact)
      if (m.advert != null && m.artifact == null && m.advert.id.byteLength === ARTIFACT_ID_BYTES) return m.advert.id
    } catch {
      // fall through: a malformed message gets a hash of its bytes and fails validation
    }
  }
  return createHash('sha256').update(msg.topic).update(data).digest()
}

/** The gossipsub `msgIdToStrFn`: hex, so message id strings equal pool keys. */
export function messageIdToString (id: Uint8Array): string {
  return toHex(id)
}
