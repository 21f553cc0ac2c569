import assert from 'node:assert/strict'
import { decodeStreamMessage, encodeStreamMessage } from '@icnet/types'
import { arbStreamMessageBytes } from './arbitraries.js'
import { expectDecoderContract, fuzz, targetTimeoutMs } from './harness.js'
import { fuzzInput } from './mutate.js'

describe('fuzz: @icnet/types', function () {
  this.timeout(targetTimeoutMs())

  it('decodeStreamMessage throws only typed errors, and what it accepts re-encodes and decodes the same', async () => {
    await fuzz('types/decodeStreamMessage', fuzzInput(arbStreamMessageBytes), input => {
      const r = expectDecoderContract(input, decodeStreamMessage)
      if (!r.ok) return
      const again = decodeStreamMessage(encodeStreamMessage(r.value))
      assert.deepEqual(encodeStreamMessage(again), encodeStreamMessage(r.value))
    }, 1500)
  })
})
