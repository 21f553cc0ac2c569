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

/** Computes an artifact id (32 bytes) from its canonical bytes; the default is SHA-256. */
export type ArtifactIdFn = (bytes: Uint8Array) => Uint8Array

/**
 * What has been learnt about one gossip message's data: its decoded envelope and, for an
 * inline artifact, its id and the function that computed it. Gossipsub hands the same
 * `data` object to `msgIdFn` and, a few microtasks later, to the message event (and, when
 * we publish, our own encoded bytes to `msgIdFn`), so keying on that object lets each
 * message be decoded once and hashed once.
 */
interface EnvelopeMemo {
  msg: GossipMessage
  id?: Uint8Array
  idFn?: ArtifactIdFn
}

/**
 * The most recent memos, oldest first. Only the short gap between `msgIdFn` and the
 * message event needs covering (messages of one RPC interleave there), so a few dozen
 * entries suffice; a miss only costs a second decode. A small FIFO rather than a WeakMap:
 * most entries belong to duplicates that never reach the event, and weak keys by the
 * thousand make every garbage collection slower.
 */
const MEMO_ENTRIES = 64
const memos = new Map<Uint8Array, EnvelopeMemo>()

function remember (data: Uint8Array, memo: EnvelopeMemo): void {
  if (memos.size >= MEMO_ENTRIES) memos.delete(memos.keys().next().value!)
  memos.set(data, memo)
}

/** Decodes the protobuf envelope, or reuses the decoding `msgIdFn` already did; throws on malformed bytes. */
function decodeEnvelope (data: Uint8Array): EnvelopeMemo {
  let memo = memos.get(data)
  if (memo == null) {
    memo = { msg: GossipMessage.decode(data) }
    remember(data, memo)
  }
  return memo
}

/** The id of an inline artifact under `idFn`, computed at most once per message data. */
function inlineId (memo: EnvelopeMemo, artifact: Uint8Array, idFn: ArtifactIdFn): Uint8Array {
  if (memo.id == null || memo.idFn !== idFn) {
    memo.id = idFn(artifact)
    memo.idFn = idFn
  }
  return memo.id
}

/**
 * Encodes one of our own inline artifacts, remembering its id so that gossipsub's
 * `msgIdFn` does not hash it again when we publish.
 */
export function encodeInlineWithId (bytes: Uint8Array, id: Uint8Array, idFn: ArtifactIdFn): Uint8Array {
  const data = encodeInline(bytes)
  remember(data, { msg: { artifact: bytes as Uint8Array<ArrayBuffer> }, id, idFn })
  return data
}

/**
 * Decodes a gossip message, refusing anything larger than an inline artifact of
 * `maxInlineBytes` or malformed (both fields, neither, a bad id, size or kind).
 */
export function decodeGossipMessage (data: Uint8Array, maxInlineBytes: number): GossipBody {
  return readGossipMessage(data, maxInlineBytes, artifactId).body
}

/**
 * Like `decodeGossipMessage`, and also gives the artifact id (hex): the advert's for an
 * advert, `idFn` of the bytes for an inline artifact. Reuses what `msgIdFn` computed for
 * the same data, so a received message is decoded and hashed once in all.
 */
export function readGossipMessage (data: Uint8Array, maxInlineBytes: number, idFn: ArtifactIdFn): { body: GossipBody, id: string } {
  if (data.byteLength > maxInlineBytes + GOSSIP_ENVELOPE_OVERHEAD_BYTES) {
    throw new LimitExceededError(`gossip message of ${data.byteLength} bytes exceeds the inline limit`)
  }
  let memo: EnvelopeMemo
  try {
    memo = decodeEnvelope(data)
  } catch (err) {
    throw new InvalidEncodingError('gossip message does not decode', { cause: err })
  }
  const msg = memo.msg
  if ((msg.artifact == null) === (msg.advert == null)) {
    throw new InvalidEncodingError('gossip message must carry exactly one of artifact or advert')
  }
  if (msg.artifact != null) {
    if (msg.artifact.byteLength === 0) throw new InvalidEncodingError('empty inline artifact')
    const id = inlineId(memo, msg.artifact, idFn)
    if (id.byteLength !== ARTIFACT_ID_BYTES) throw new InvalidEncodingError('the kind\'s id function must return 32 bytes')
    return { body: { type: 'inline', bytes: msg.artifact }, id: toHex(id) }
  }
  const a = msg.advert!
  if (a.id.byteLength !== ARTIFACT_ID_BYTES) throw new InvalidEncodingError('advert id must be 32 bytes')
  if (!KIND_NAME_PATTERN.test(a.kind)) throw new InvalidEncodingError('advert kind is not a valid kind name')
  if (!Number.isSafeInteger(a.size) || a.size <= 0 || a.size > MAX_ARTIFACT_BYTES) throw new InvalidEncodingError('advert size out of range')
  if (!Number.isSafeInteger(a.height) || a.height < 0) throw new InvalidEncodingError('advert height out of range')
  const id = toHex(a.id)
  return { body: { type: 'advert', advert: { id, kind: a.kind, size: a.size, height: a.height } }, id }
}

function fromHexId (hex: string): Uint8Array<ArrayBuffer> {
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new InvalidEncodingError('artifact id must be 64 lowercase hex characters')
  return new Uint8Array(Buffer.from(hex, 'hex'))
}

/**
 * Topics seen by `msgIdFn`, parsed once: every message (duplicates included) asks, and a
 * node has a handful of topics. Peers choose the topics they send on, so the cache is
 * bounded: when full it starts over (cheaper on the hot path than LRU bookkeeping).
 */
const MAX_CACHED_TOPICS = 256
const topicKinds = new Map<string, string | null>()

function kindOfTopic (topic: string): string | undefined {
  let kind = topicKinds.get(topic)
  if (kind === undefined) {
    kind = parseArtifactTopic(topic)?.kind ?? null
    if (topicKinds.size >= MAX_CACHED_TOPICS) topicKinds.clear()
    topicKinds.set(topic, kind)
  }
  return kind ?? undefined
}

/**
 * Builds a gossipsub `msgIdFn`: on artifact topics, the artifact id (computed from inline
 * bytes with the kind's id function, SHA-256 unless `idFnOf` names another, never taken
 * from the sender's word; the advert's id for adverts). Anything else (other topics,
 * undecodable data) gets SHA-256 over topic and data, and is rejected by validation.
 */
export function artifactMessageIdFn (idFnOf: (kind: string) => ArtifactIdFn | undefined = () => undefined): (msg: { topic: string, data?: Uint8Array }) => Uint8Array {
  return (msg) => {
    const data = msg.data ?? new Uint8Array(0)
    const kind = kindOfTopic(msg.topic)
    if (kind != null) {
      try {
        const memo = decodeEnvelope(data)
        const m = memo.msg
        if (m.artifact != null && m.advert == null) return inlineId(memo, m.artifact, idFnOf(kind) ?? artifactId)
        if (m.advert != null && m.artifact == null && m.advert.id.byteLength === ARTIFACT_ID_BYTES) return m.advert.id
      } catch {
        // fall through: a malformed message gets a hash of its bytes and fails validation
      }
    }
    return createHash('sha256').update(msg.topic).update(data).digest()
  }
}

/** The default `msgIdFn`: every kind's id is SHA-256 of its bytes. */
export const artifactMessageId = artifactMessageIdFn()

/** The gossipsub `msgIdToStrFn`: hex, so message id strings equal pool keys. */
export function messageIdToString (id: Uint8Array): string {
  return toHex(id)
}
