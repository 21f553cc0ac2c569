import assert from 'node:assert/strict'
import { PromMetrics } from '../src/index.js'

describe('PromMetrics (prom-client adapter)', () => {
  it('exposes counters, gauges and histograms with labels in the Prometheus text format', async () => {
    const m = new PromMetrics()
    const c = m.counter({ name: 'xnet_stream_messages_total', help: 'messages', labelNames: ['kind'] })
    c.inc(1, { kind: 'request' })
    c.inc(2, { kind: 'request' })
    c.inc(undefined, { kind: 'response' })
    const g = m.gauge({ name: 'icnet_replica_executed_height', help: 'height' })
    g.set(10); g.inc(); g.dec(3)
    const h = m.histogram({ name: 'xnet_slice_delivery_latency_seconds', help: 'latency', buckets: [0.5, 1] })
    h.observe(0.2); h.observe(0.7); h.observe(3)
    const { contentType, body } = await m.exposition()
    assert.match(contentType, /text\/plain/)
    assert.match(body, /xnet_stream_messages_total\{kind="request"\} 3/)
    assert.match(body, /xnet_stream_messages_total\{kind="response"\} 1/)
    assert.match(body, /icnet_replica_executed_height 8/)
    assert.match(body, /xnet_slice_delivery_latency_seconds_bucket\{le="0.5"\} 1/)
    assert.match(body, /xnet_slice_delivery_latency_seconds_bucket\{le="1"\} 2/)
    assert.match(body, /xnet_slice_delivery_latency_seconds_count 3/)
  })

  it('returns the same metric for a name asked twice and refuses a type clash', async () => {
    const m = new PromMetrics()
    m.counter({ name: 'a_total', help: 'a', labelNames: ['code'] }).inc(1, { code: 5 })
    m.counter({ name: 'a_total', help: 'a', labelNames: ['code'] }).inc(1, { code: 5 })
    assert.match((await m.exposition()).body, /a_total\{code="5"\} 2/)
    assert.throws(() => m.gauge({ name: 'a_total', help: 'a' }), TypeError)
  })

  it('times with startTimer and returns the seconds observed', async () => {
    const m = new PromMetrics()
    const stop = m.histogram({ name: 't_seconds', help: 't' }).startTimer()
    const s = stop()
    assert.ok(s >= 0 && s < 5)
    assert.match((await m.exposition()).body, /t_seconds_count 1/)
  })
})
