import assert from 'node:assert/strict'
import { RoutingTable, type CanisterId, type RegistryView } from '@icnet/types'
import { StaticRegistryView } from '@icnet/xnet-stream'
import type { MigrationSource } from '../src/index.js'
import { CANISTERS_PER_SUBNET, Network, canisterOf, loadMetrics } from './harness.js'

/** The network's registry with canister 0 of subnet `from` routed to subnet `to`, and optionally a migration trace for it. */
function movedRegistry (net: Network, from: number, to: number, trace?: number[]): RegistryView & MigrationSource {
  const moved = canisterOf(from, 0)
  const entries = net.subnets.map(s => ({
    subnetId: s.id,
    range: { start: canisterOf(s.index, s.index === from ? 1 : 0), end: canisterOf(s.index, CANISTERS_PER_SUBNET - 1) }
  }))
  entries.push({ subnetId: net.subnets[to]!.id, range: { start: moved, end: moved } })
  const view = new StaticRegistryView({ subnets: net.subnets.map(s => s.record), routingTable: new RoutingTable(entries) })
  return Object.assign(view, {
    migrationOf: (c: CanisterId) => trace !== undefined && c.toHex() === moved.toHex() ? { trace: trace.map(i => net.subnets[i]!.id) } : undefined
  })
}

describe('induction rules for moved canisters', function () {
  this.timeout(60_000)

  it('a request for a canister that is migrating away gets a CanisterMigrating reject signal', async () => {
    const net = await Network.create({ subnets: 3, sandbox: 'js' })
    try {
      await net.installLoad()
      const target = canisterOf(1, 0)
      net.configure(0, 0, 3, [target])
      // Subnet 1 already routes its canister 0 to subnet 2, migrating 1 → 2; subnet 0 does not know yet.
      net.nodes[1]!.mr.setRegistry(movedRegistry(net, 1, 2, [1, 2]))
      await net.rounds(3)
      const slice = net.nodes[1]!.mr.certifiedStreamStore.slice(net.subnets[0]!.id, { msgBegin: 0 })
      assert.ok(!('code' in slice))
      assert.ok(slice.header.rejectSignals.length > 0)
      assert.ok(slice.header.rejectSignals.every(r => r.reason === 1), 'CanisterMigrating')
      net.configure(0, 0, 0, [])
      await net.rounds(4)
      const m = await loadMetrics(net.nodes[0]!.mr, canisterOf(0, 0))
      assert.ok(m.sent > 0n)
      assert.equal(m.rejected, m.sent, 'every request came back as a reject (SysTransient)')
      assert.equal(net.nodes[1]!.mr.stats().criticalErrors, 0)
    } finally {
      await net.close()
    }
  })

  it('a message whose sender does not belong to the source subnet is dropped with an accept signal and a critical error', async () => {
    const net = await Network.create({ subnets: 3, sandbox: 'js' })
    try {
      await net.installLoad()
      const sender = canisterOf(0, 0)
      net.configure(0, 0, 2, [canisterOf(1, 0)])
      // Subnet 1 believes subnet 0's canister lives on subnet 2 (no migration trace): a forged sender.
      net.nodes[1]!.mr.setRegistry(movedRegistry(net, 0, 2))
      await net.rounds(3)
      net.configure(0, 0, 0, [])
      await net.rounds(3)
      const b = net.nodes[1]!.mr
      const received = await loadMetrics(b, canisterOf(1, 0))
      assert.equal(received.received, 0n, 'nothing was inducted')
      assert.ok(b.stats().criticalErrors > 0)
      const own = net.nodes[0]!.mr.ownStream(net.subnets[1]!.id)!
      assert.ok(own.end > 0)
      assert.equal(own.begin, own.end, 'accept signals: the sender garbage-collected its stream (and gets no reject)')
      const m = await loadMetrics(net.nodes[0]!.mr, sender)
      assert.equal(m.replied + m.rejected, 0n)
    } finally {
      await net.close()
    }
  })
})
