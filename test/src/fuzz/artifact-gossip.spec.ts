import '@icnet/types/polyfill'
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { streamPair } from '@libp2p/utils'
import * as lp from 'it-length-prefixed'
import { artifactMessageId, decodeGossipMessage, encodeAdvert, encodeInline, serveFetch, UnknownKindError } from '@icnet/artifact-gossip'
// The fetch codecs are internal to the package; requests are built with them and then mutated.
import { FetchRequest, FetchResponse } from '@icnet/artifact-gossip/pb'
import { IcnetError } from '@icnet/types'
import { expectAsyncDecoderContract, expectDecoderContract, fuzz, targetTimeoutMs } from './harness.js'
import { fuzzInput } from './mutate.js'

const MAX_INLINE = 64 * 1024
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex')
const kindName = fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,12}$/)

const arbGossip = fc.oneof(
  fc.uint8Array({ minLength: 1, maxLength: 300 }).map(encodeInline),
  fc.record({ id: fc.uint8Array({ minLength: 32, maxLength: 32 }).map(hex), kind: kindName, size: fc.integer({ min: 1, max: 1 << 24 }), height: fc.nat() }).map(encodeAdvert)
)

describe('fuzz: @icnet/artifact-gossip', function () {
  this.timeout(targetTimeoutMs())

  it('decodeGossipMessage throws only typed errors; artifactMessageId never throws', async () => {
    await fuzz('artifact-gossip/decodeGossipMessage', fuzzInput(arbGossip), input => {
      expectDecoderContract(input, bytes => decodeGossipMessage(bytes, MAX_INLINE))
      const id = artifactMessageId({ topic: '/icnet/aaaaa-aa/block', data: input })
      assert.equal(id.length, 32)
    }, 1500)
  })

  it('serveFetch answers any request frame with a response, never an untyped failure', async () => {
    const held = new Uint8Array(32).fill(7)
    const source = {
      lookup: (kind: string, idHex: string): Uint8Array | undefined => {
        if (kind === 'unknown') throw new UnknownKindError('not served')
        return idHex === hex(held) ? Uint8Array.of(1, 2, 3) : undefined
      }
    }
    const requests = fc.record({ id: fc.oneof(fc.constant(held), fc.uint8Array({ minLength: 32, maxLength: 32 })), kind: fc.oneof(kindName, fc.constant('unknown')) })
      .map(r => FetchRequest.encode(r))
    await fuzz('artifact-gossip/serveFetch', fuzzInput(requests), async input => {
      const [client, server] = await streamPair()
      const frame = lp.encode.single(input).subarray()
      client.send(frame)
      const r = await expectAsyncDecoderContract(input, async () => await serveFetch(server, source), err => err instanceof IcnetError)
      if (!r.ok) {
        assert.equal(server.status, 'aborted', 'a refused request aborts the stream')
        return
      }
      assert.ok(['ok', 'not_found', 'unknown_kind', 'bad_request'].includes(r.value))
      const answer = await readFrame(client)
      const res = FetchResponse.decode(answer)
      assert.equal(res.status, { ok: FetchResponse.Status.OK, not_found: FetchResponse.Status.NOT_FOUND, unknown_kind: FetchResponse.Status.UNKNOWN_KIND, bad_request: FetchResponse.Status.BAD_REQUEST }[r.value])
      await client.close()
    }, 300)
  })
})

async function readFrame (stream: AsyncIterable<Uint8Array | { subarray: () => Uint8Array }>): Promise<Uint8Array> {
  for await (const msg of lp.decode(stream as never)) return (msg as { subarray: () => Uint8Array }).subarray()
  throw new Error('no response frame')
}
