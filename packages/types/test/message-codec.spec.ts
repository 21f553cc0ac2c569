import assert from 'node:assert/strict'
import fc from 'fast-check'
import { encode } from 'cborg'
import {
  type StreamMessage, RejectCode, RejectReason, canisterIdFromU64, decodeStreamMessage, encodeStreamMessage,
  messageByteSize, rejectCodeForReason, InvalidEncodingError, MAX_ENCODED_MESSAGE_BYTES, equalBytes
} from '../src/index.js'

const canister = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map(canisterIdFromU64)
const bytes = fc.uint8Array({ maxLength: 2048 })
const callback = fc.nat({ max: Number.MAX_SAFE_INTEGER })

const request: fc.Arbitrary<StreamMessage> = fc.record({
  kind: fc.constant('request' as const),
  receiver: canister,
  sender: canister,
  methodName: fc.string({ maxLength: 40 }),
  methodPayload: bytes,
  senderReplyCallback: callback,
  deadline: fc.option(fc.nat({ max: 2 ** 32 - 1 }), { nil: undefined })
}, { requiredKeys: ['kind', 'receiver', 'sender', 'methodName', 'methodPayload', 'senderReplyCallback'] })

const response: fc.Arbitrary<StreamMessage> = fc.record({
  kind: fc.constant('response' as const),
  originator: canister,
  respondent: canister,
  originatorReplyCallback: callback,
  payload: fc.oneof(
    bytes.map(data => ({ data })),
    fc.record({ code: fc.constantFrom(1, 2, 3, 4, 5) as fc.Arbitrary<RejectCode>, message: fc.string({ maxLength: 100 }) }).map(reject => ({ reject }))
  )
})

const message = fc.oneof(request, response)

describe('stream message codec', () => {
  it('round-trips every message and is deterministic', () => {
    fc.assert(fc.property(message, m => {
      const enc = encodeStreamMessage(m)
      const dec = decodeStreamMessage(enc)
      assert.ok(equalBytes(encodeStreamMessage(dec), enc))
      assert.equal(messageByteSize(dec), messageByteSize(m))
      assert.equal(dec.kind, m.kind)
    }))
  })

  it('refuses random bytes with InvalidEncodingError only', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), b => {
      try { decodeStreamMessage(b) } catch (e) { assert.ok(e instanceof InvalidEncodingError, String(e)) }
    }))
  })

  it('refuses oversize input before decoding, and wrong field types', () => {
    assert.throws(() => decodeStreamMessage(new Uint8Array(MAX_ENCODED_MESSAGE_BYTES + 1)), InvalidEncodingError)
    assert.throws(() => decodeStreamMessage(encode({ request: { receiver: 'x' } })), InvalidEncodingError)
    assert.throws(() => decodeStreamMessage(encode({ response: { originator: new Uint8Array(10), respondent: new Uint8Array(10), originator_reply_callback: 1, response_payload: { reject: { code: 9, message: '' } } } })), InvalidEncodingError)
  })

  it('bounds text fields in UTF-8 bytes, not characters', () => {
    const m = { kind: 'request' as const, receiver: canisterIdFromU64(1n), sender: canisterIdFromU64(2n), methodName: '€'.repeat(7000), methodPayload: new Uint8Array(0), senderReplyCallback: 1 }
    // 7,000 characters, 21,000 bytes: over MAX_METHOD_NAME_BYTES (20,000)
    assert.throws(() => decodeStreamMessage(encodeStreamMessage(m)), InvalidEncodingError)
    assert.equal(decodeStreamMessage(encodeStreamMessage({ ...m, methodName: '€'.repeat(6000) })).kind, 'request')
  })

  it('maps reject reasons to the IC reject codes', () => {
    assert.equal(rejectCodeForReason(RejectReason.CanisterMigrating), RejectCode.SysTransient)
    assert.equal(rejectCodeForReason(RejectReason.CanisterNotFound), RejectCode.DestinationInvalid)
    assert.equal(rejectCodeForReason(RejectReason.QueueFull), RejectCode.SysTransient)
    assert.equal(rejectCodeForReason(RejectReason.OutOfMemory), RejectCode.CanisterError)
  })
})
