import '@icnet/types/polyfill'
import assert from 'node:assert/strict'
import * as lp from 'it-length-prefixed'
import { lpStream, streamPair } from '@libp2p/utils'
import { serveFetch } from '../src/fetch-protocol.js'
import { FetchResponse } from '../src/pb/artifact-gossip.js'

describe('fetch protocol server', () => {
  it('answers a request frame that is not valid protobuf with BAD_REQUEST (fuzz finding P1)', async () => {
    const [client, server] = await streamPair()
    // One byte 0x07: field 0 with wire type 7, which protons-runtime refuses with a plain Error.
    client.send(lp.encode.single(Uint8Array.of(0x07)).subarray())
    const served = serveFetch(server, { lookup: () => undefined })
    const answer = FetchResponse.decode(await lpStream(client).read())
    assert.equal(await served, 'bad_request')
    assert.equal(answer.status, FetchResponse.Status.BAD_REQUEST)
    await client.close()
  })
})
