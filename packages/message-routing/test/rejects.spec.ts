import assert from 'node:assert/strict'
import { RejectCode, canisterIdFromU64 } from '@icnet/types'
import { Network, canisterOf, loadMetrics } from './harness.js'

describe('reject signals and stream garbage collection', function () {
  this.timeout(60_000)

  it('requests to a canister the remote subnet does not host come back as DestinationInvalid rejects', async () => {
    const net = await Network.create({ subnets: 2, sandbox: 'js' })
    try {
      await net.installLoad()
      // Canister 5 of subnet 1 is in subnet 1's range but not installed.
      net.configure(0, 0, 4, [canisterOf(1, 5)])
      await net.rounds(6)
      const b = net.nodes[1]!.mr
      // Subnet 1 signals the rejects in its reverse stream while subnet 0 has not seen them yet.
      const header = b.certifiedStreamStore.slice(net.subnets[0]!.id, { msgBegin: 0 })
      assert.ok(!('code' in header))
      assert.ok(header.header.rejectSignals.length > 0, 'reject signals are certified in the reverse stream header')
      assert.ok(header.header.rejectSignals.every(s => s.reason === 2), 'CanisterNotFound')
      net.configure(0, 0, 0, [])
      await net.rounds(5)
      const m = await loadMetrics(net.nodes[0]!.mr, canisterOf(0, 0))
      assert.ok(m.sent > 0n)
      assert.equal(m.rejected, m.sent, 'every request was rejected, exactly once')
      assert.equal(m.replied, 0n)
      const a = net.nodes[0]!.mr
      const own = a.ownStream(net.subnets[1]!.id)!
      assert.equal(own.begin, own.end, 'the stream was garbage-collected from the signals')
      assert.equal(own.end, Number(m.sent))
      // Subnet 1 drops its reject signals once a slice shows it our stream moved past them
      // (a slice with no messages and no new signals is never sent, as on the IC: so send one more request).
      net.configure(0, 0, 1, [canisterOf(1, 0)])
      await net.rounds(1)
      net.configure(0, 0, 0, [])
      await net.rounds(4)
      const back = b.certifiedStreamStore.slice(net.subnets[0]!.id, { msgBegin: b.ownStream(net.subnets[0]!.id)!.begin })
      assert.ok(!('code' in back))
      assert.equal(back.header.rejectSignals.length, 0)
      assert.equal(a.stats().criticalErrors + b.stats().criticalErrors, 0)
    } finally {
      await net.close()
    }
  })

  it('a request to a canister outside every subnet range is rejected locally at once', async () => {
    const net = await Network.create({ subnets: 2, sandbox: 'js' })
    try {
      await net.installLoad()
      net.configure(0, 0, 3, [canisterIdFromU64(999_999)])
      await net.rounds(2)
      net.configure(0, 0, 0, [])
      await net.rounds(2)
      const m = await loadMetrics(net.nodes[0]!.mr, canisterOf(0, 0))
      assert.ok(m.sent > 0n)
      assert.equal(m.rejected, m.sent)
      assert.equal(net.nodes[0]!.mr.ownStream(net.subnets[1]!.id)?.end ?? 0, 0, 'nothing entered a stream')
      assert.equal(RejectCode.DestinationInvalid, 3)
    } finally {
      await net.close()
    }
  })
})
