import assert from 'node:assert/strict'
import type { Connection, Stream } from '@libp2p/interface'
import { waitFor } from '@icnet/test-utils'
import { MAX_INBOUND_STREAMS, MAX_OUTBOUND_STREAMS, XNET_STREAM_PROTOCOL } from '../src/constants.js'
import { sliceMessagesEnd } from '../src/slice.js'
import { request } from './fixtures.js'
import { startConnectedPair, type TestHost } from './host.js'

/** Two hosts, A serving its stream to B with every answer held back by `serveDelayMs` (a slow, busy node). */
async function slowSource (serveDelayMs: number): Promise<{ ha: TestHost, hb: TestHost, stop: () => Promise<void> }> {
  const pair = await startConnectedPair()
  const service = pair.ha.node.services.xnet as unknown as { serve: (s: Stream, c: Connection) => Promise<void> }
  await pair.ha.node.unhandle(XNET_STREAM_PROTOCOL)
  await pair.ha.node.handle(XNET_STREAM_PROTOCOL, (stream, connection) => {
    setTimeout(() => { void service.serve(stream, connection) }, serveDelayMs)
  }, { maxInboundStreams: MAX_INBOUND_STREAMS, maxOutboundStreams: MAX_OUTBOUND_STREAMS })
  return pair
}

/** Calls `awaitAdvertised` until it reports a wait (the advert has arrived and its pull is under way). */
async function firstWait (hb: TestHost, ha: TestHost, maxWaitMs: number): Promise<void> {
  await waitFor(async () => hb.node.services.xnet.awaitAdvertised(ha.subnet.id, maxWaitMs), { intervalMs: 5, what: 'a wait for the advertised slice' })
}

describe('awaitAdvertised: a block maker waits for announced slices being pulled', function () {
  this.timeout(60_000)

  it('does not wait when nothing was announced, or when the pool already holds what was', async () => {
    const { ha, hb, stop } = await slowSource(0)
    try {
      assert.equal(await hb.node.services.xnet.awaitAdvertised(ha.subnet.id, 5_000), false, 'no advert yet')
      const toB = ha.subnet.store.stream(hb.subnet.id)
      for (let i = 0; i < 3; i++) toB.push(request(i))
      const { height } = ha.subnet.store.certify()
      await ha.node.services.xnet.advertise(hb.subnet.id, toB.end, height)
      await waitFor(() => hb.pool.peek(ha.subnet.id) !== undefined, { what: 'the advertised slice in the pool' })
      await waitFor(async () => !(await hb.node.services.xnet.awaitAdvertised(ha.subnet.id, 5_000)), { what: 'the pull to end' })
      assert.equal(sliceMessagesEnd(hb.pool.peek(ha.subnet.id)!), 3)
    } finally {
      await stop()
    }
  })

  it('returns as soon as the pull has brought what the advert announced', async () => {
    const { ha, hb, stop } = await slowSource(400)
    try {
      const toB = ha.subnet.store.stream(hb.subnet.id)
      for (let i = 0; i < 5; i++) toB.push(request(i))
      const { height } = ha.subnet.store.certify()
      await ha.node.services.xnet.advertise(hb.subnet.id, toB.end, height)
      // A generous cap: the wait must end because the slice arrived, not because of the cap.
      await firstWait(hb, ha, 20_000)
      const pooled = hb.pool.peek(ha.subnet.id)
      assert.ok(pooled !== undefined, 'the slice is pooled when the wait ends')
      assert.equal(sliceMessagesEnd(pooled), 5)
    } finally {
      await stop()
    }
  })

  it('gives up after maxWaitMs while the pull is still under way, and the slice still arrives', async () => {
    const { ha, hb, stop } = await slowSource(3_000)
    try {
      const toB = ha.subnet.store.stream(hb.subnet.id)
      for (let i = 0; i < 2; i++) toB.push(request(i))
      const { height } = ha.subnet.store.certify()
      await ha.node.services.xnet.advertise(hb.subnet.id, toB.end, height)
      await firstWait(hb, ha, 50)
      assert.equal(hb.pool.peek(ha.subnet.id), undefined, 'the wait ended before the held-back answer')
      await waitFor(() => hb.pool.peek(ha.subnet.id) !== undefined, { what: 'the slice after the held-back answer' })
      assert.equal(sliceMessagesEnd(hb.pool.peek(ha.subnet.id)!), 2)
    } finally {
      await stop()
    }
  })
})
