import assert from 'node:assert/strict'
import { Principal, type SubnetId } from '@icnet/types'
import { XNetRefillPoller } from '../src/xnet-refill.js'

const subnet = (n: number): SubnetId => Principal.fromUint8Array(Uint8Array.of(n, 1))

/** Resolves once `cond` holds (checked on every timer turn), or fails after `ms`. */
async function until (cond: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}

describe('XNetRefillPoller', () => {
  it('polls only subnets with a known stream to us: from our state, or once a pull brought something', async () => {
    const a = subnet(1)
    const b = subnet(2)
    const c = subnet(3)
    const pulls = new Map<string, number>()
    let cHasStream = false
    const poller = new XNetRefillPoller({
      sources: () => [a, b, c],
      hasStreamFrom: s => s.toText() === a.toText() || (s.toText() === c.toText() && cHasStream),
      refill: async s => { pulls.set(s.toText(), (pulls.get(s.toText()) ?? 0) + 1) },
      intervalMs: 5,
      quietMs: 0
    })
    poller.start()
    try {
      await until(() => (pulls.get(a.toText()) ?? 0) >= 3)
      assert.equal(pulls.get(b.toText()), undefined, 'no stream from b: never polled')
      assert.equal(pulls.get(c.toText()), undefined)
      assert.equal(poller.polls(b), false)

      poller.streamSeen(b) // a pull started by b's advert brought messages
      cHasStream = true // our state inducted something from c
      await until(() => (pulls.get(b.toText()) ?? 0) >= 2 && (pulls.get(c.toText()) ?? 0) >= 2)
      cHasStream = false
      assert.equal(poller.polls(c), true, 'a subnet once known stays polled')
    } finally {
      poller.stop()
    }
    const after = pulls.get(a.toText())
    await new Promise(resolve => setTimeout(resolve, 50))
    assert.equal(pulls.get(a.toText()), after, 'no pull after stop')
  })

  it('waits for the slowest pull of a round before the next, and survives a failing one', async () => {
    const a = subnet(1)
    const b = subnet(2)
    let inFlight = 0
    let maxInFlight = 0
    let rounds = 0
    const poller = new XNetRefillPoller({
      sources: () => [a, b],
      hasStreamFrom: () => true,
      refill: async s => {
        inFlight++
        maxInFlight = Math.max(maxInFlight, inFlight)
        await new Promise(resolve => setTimeout(resolve, 10))
        inFlight--
        if (s.toText() === b.toText()) { rounds++; throw new Error('every node of b is backing off') }
      },
      intervalMs: 1
    })
    poller.start()
    try {
      await until(() => rounds >= 3)
    } finally {
      poller.stop()
    }
    assert.equal(maxInFlight, 2, 'one pull per source at a time')
  })

  it('polls a known subnet only after it has gone quiet: deliveries (advert-started pulls) hold the polls off', async () => {
    const a = subnet(1)
    const b = subnet(2)
    let clock = 10_000
    const pulls: string[] = []
    const poller = new XNetRefillPoller({
      sources: () => [a, b],
      hasStreamFrom: () => true,
      refill: async s => { pulls.push(s.toText()) },
      intervalMs: 1,
      quietMs: 1000,
      now: () => clock
    })
    assert.equal(poller.due(a), true, 'never delivered: polled')
    poller.streamSeen(a) // an advert's pull brought messages from a
    assert.equal(poller.due(a), false)
    assert.equal(poller.due(b), true)
    clock += 999
    assert.equal(poller.due(a), false, 'within the quiet period')
    clock += 1
    assert.equal(poller.due(a), true, 'quiet for quietMs: polled again (a lost advert costs at most this)')

    poller.streamSeen(a)
    poller.start()
    try {
      await until(() => pulls.filter(p => p === b.toText()).length >= 5)
      assert.equal(pulls.includes(a.toText()), false, 'a delivered a moment ago: not polled')
      clock += 1000
      await until(() => pulls.includes(a.toText()))
    } finally {
      poller.stop()
    }
  })
})
