import assert from 'node:assert/strict'
import { canisterIdFromU64, encodeStreamMessage, decodeStreamMessage } from '../src/index.js'

describe('types README example', () => {
  it('runs', () => {
    const request = {
      kind: 'request' as const,
      receiver: canisterIdFromU64(1n),
      sender: canisterIdFromU64(0n),
      methodName: 'ping',
      methodPayload: new TextEncoder().encode('hello'),
      senderReplyCallback: 7
    }
    const bytes = encodeStreamMessage(request)
    assert.equal(decodeStreamMessage(bytes).kind, 'request')
    assert.equal(request.receiver.toText(), 'rrkah-fqaaa-aaaaa-aaaaq-cai')
  })
})
