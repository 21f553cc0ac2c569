import assert from 'node:assert/strict'
import { lpStream } from '@libp2p/utils'
import { InMemoryMetrics } from '@icnet/types'
import { delay, waitFor } from '@icnet/test-utils'
import { MAX_ADVERT_BYTES, MAX_ADVERT_STREAMS, XNET_ADVERT_PROTOCOL } from '../src/constants.js'
import { StreamAdvert } from '../src/pb/xnet.js'
import { sliceMessagesEnd } from '../src/slice.js'
import { makeSubnet, request } from './fixtures.js'
import { startConnectedPair, type TestHost } from './host.js'

/** Pushes `count` more requests from A to B, certifies them and advertises them to B. */
async function advertiseMore (ha: TestHost, hb: TestHost, count: number): Promise<number> {
  const toB = ha.subnet.store.stream(hb.subnet.id)
  for (let i = 0; i < count; i++) toB.push(request(toB.end))
  const { height } = ha.subnet.store.certify()
  await ha.node.services.xnet.advertise(hb.subnet.id, toB.end, height)
  return toB.end
}

/** Advert streams open on B's side of the connection to A. */
function advertStreamsAt (hb: TestHost, ha: TestHost): number {
  return hb.node.getConnections(ha.node.peerId).flatMap(c => c.streams).filter(s => s.protocol === XNET_ADVERT_PROTOCOL).length
}

describe('stream adverts (/icnet/xnet/advert/1.0.0)', function () {
  this.timeout(60_000)
  it('an advert makes the receiver pull at once; without one nothing is pulled', async () => {
    // No background polling anywhere: only an advert can start a pull.
    const { ha, hb, stop } = await startConnectedPair()
    try {
      const toB = ha.subnet.store.stream(hb.subnet.id)
      for (let i = 0; i < 5; i++) toB.push(request(i))
      const { height } = ha.subnet.store.certify()
      // Give a (wrongly) polling receiver every chance to pull: it must not.
      await delay(300)
      assert.equal(hb.pool.peek(ha.subnet.id), undefined)

      await ha.node.services.xnet.advertise(hb.subnet.id, toB.end, height)
      await waitFor(() => hb.pool.peek(ha.subnet.id) !== undefined, { what: 'the advertised slice in the pool' })
      assert.equal(sliceMessagesEnd(hb.pool.peek(ha.subnet.id)!), 5)
    } finally {
      await stop()
    }
  })

  it('adverts to a node share one long-lived stream, and each one still starts a pull', async () => {
    const { ha, hb, stop } = await startConnectedPair()
    try {
      for (let round = 1; round <= 5; round++) {
        const end = await advertiseMore(ha, hb, 2)
        await waitFor(() => { const s = hb.pool.peek(ha.subnet.id); return s !== undefined && sliceMessagesEnd(s) === end }, { what: `the slice up to ${end} in B's pool` })
        hb.round()
      }
      assert.equal(advertStreamsAt(hb, ha), 1, 'one advert stream, kept open')
      assert.equal(hb.received.get(ha.subnet.id.toText())?.length, 10)
    } finally {
      await stop()
    }
  })

  it('each advertised height is pulled once: a repeated advert of the height and a complete slice start no more pulls', async () => {
    const metrics = new InMemoryMetrics()
    const pulls = (): number => metrics.get('xnet_builder_pull_attempt_count', { status: 'success' })
    const { ha, hb, stop } = await startConnectedPair({ metrics })
    try {
      const toB = ha.subnet.store.stream(hb.subnet.id)
      for (let height = 1; height <= 3; height++) {
        for (let i = 0; i < 3; i++) toB.push(request(toB.end))
        const certified = ha.subnet.store.certify().height
        // Two nodes advertise each height in a replica: here the one node of A sends both.
        await ha.node.services.xnet.advertise(hb.subnet.id, toB.end, certified)
        await ha.node.services.xnet.advertise(hb.subnet.id, toB.end, certified)
        await waitFor(() => { const s = hb.pool.peek(ha.subnet.id); return s !== undefined && sliceMessagesEnd(s) === toB.end }, { what: `the slice up to ${toB.end}` })
        // Time for any further pull to reach A.
        await delay(200)
        assert.equal(pulls(), height, `one pull per advertised height (height ${height})`)
        assert.equal(metrics.get('xnet_adverts_coalesced_total'), height, 'the repeated advert started no pull')
      }
    } finally {
      await stop()
    }
  })

  it('an advert with a false, far-future height does not silence the adverts after it', async () => {
    const { ha, hb, stop } = await startConnectedPair()
    try {
      const toB = ha.subnet.store.stream(hb.subnet.id)
      for (let i = 0; i < 2; i++) toB.push(request(toB.end))
      ha.subnet.store.certify()
      // A node of A claims a height far ahead of anything certified.
      const stream = await ha.node.dialProtocol(hb.node.peerId, XNET_ADVERT_PROTOCOL)
      await lpStream(stream, { maxDataLength: MAX_ADVERT_BYTES }).write(StreamAdvert.encode({ subnet: ha.subnet.id.toUint8Array() as Uint8Array<ArrayBuffer>, end: BigInt(toB.end), height: BigInt(Number.MAX_SAFE_INTEGER) }))
      await waitFor(() => { const s = hb.pool.peek(ha.subnet.id); return s !== undefined && sliceMessagesEnd(s) === 2 }, { what: 'the slice the false advert pulled' })
      await stream.close()
      // Honest adverts after it still start pulls.
      for (let round = 1; round <= 2; round++) {
        const end = await advertiseMore(ha, hb, 2)
        await waitFor(() => { const s = hb.pool.peek(ha.subnet.id); return s !== undefined && sliceMessagesEnd(s) === end }, { what: `the slice up to ${end}` })
      }
    } finally {
      await stop()
    }
  })

  it('a slice cut short by the request limit is pulled on until the advertised end', async () => {
    const metrics = new InMemoryMetrics()
    const { ha, hb, stop } = await startConnectedPair({ msgLimit: 2, metrics })
    try {
      const end = await advertiseMore(ha, hb, 7)
      await waitFor(() => { const s = hb.pool.peek(ha.subnet.id); return s !== undefined && sliceMessagesEnd(s) === end }, { what: `the slice up to ${end}` })
      await delay(200)
      assert.equal(metrics.get('xnet_builder_pull_attempt_count', { status: 'success' }), 4, '2 + 2 + 2 + 1 messages, one advert')
    } finally {
      await stop()
    }
  })

  it('a receiver that closes the stream after each advert (one advert per stream) still gets every advert', async () => {
    const { ha, hb, stop } = await startConnectedPair()
    try {
      const seen: bigint[] = []
      await hb.node.unhandle(XNET_ADVERT_PROTOCOL)
      await hb.node.handle(XNET_ADVERT_PROTOCOL, async stream => {
        const lp = lpStream(stream, { maxDataLength: MAX_ADVERT_BYTES })
        seen.push(StreamAdvert.decode(await lp.read()).end)
        await stream.close()
      }, { maxInboundStreams: MAX_ADVERT_STREAMS })
      for (let round = 1; round <= 3; round++) {
        await advertiseMore(ha, hb, 1)
        await waitFor(() => seen.length === round, { what: `advert ${round}` })
        // The receiver's close reaches the sender before its next advert (a round later in a replica).
        await delay(50)
      }
      assert.deepEqual(seen, [1n, 2n, 3n])
    } finally {
      await stop()
    }
  })

  it('an advert for a subnet the sender is not a node of resets the stream and starts no pull', async () => {
    const { ha, hb, stop } = await startConnectedPair()
    try {
      const other = makeSubnet()
      const stream = await ha.node.dialProtocol(hb.node.peerId, XNET_ADVERT_PROTOCOL)
      const lp = lpStream(stream, { maxDataLength: MAX_ADVERT_BYTES })
      await lp.write(StreamAdvert.encode({ subnet: other.id.toUint8Array() as Uint8Array<ArrayBuffer>, end: 10n, height: 1n }))
      await waitFor(() => stream.status !== 'open', { what: 'the stream reset' })
      assert.equal(hb.pool.peek(other.id), undefined)
      assert.equal(await hb.node.services.xnet.awaitAdvertised(other.id, 1_000), false, 'nothing announced')
    } finally {
      await stop()
    }
  })
})

