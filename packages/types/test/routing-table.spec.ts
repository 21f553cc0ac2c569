import assert from 'node:assert/strict'
import fc from 'fast-check'
import { RoutingTable, canisterIdFromU64, subnetIdFromPublicKeyDer, InvalidIdError } from '../src/index.js'

const subnet = (n: number) => subnetIdFromPublicKeyDer(new Uint8Array([n, 1, 2, 3]))

describe('RoutingTable', () => {
  it('routes every id to the subnet whose range holds it, and nothing else', () => {
    fc.assert(fc.property(
      fc.uniqueArray(fc.bigInt({ min: 0n, max: 1_000_000n }), { minLength: 2, maxLength: 20 }),
      fc.bigInt({ min: 0n, max: 1_000_001n }),
      (bounds, probe) => {
        const sorted = [...bounds].sort((a, b) => (a < b ? -1 : 1))
        // ranges [b0, b1-1], [b2, b3-1], ... each on its own subnet
        const entries = []
        for (let i = 0; i + 1 < sorted.length; i += 2) {
          entries.push({ lo: sorted[i]!, hi: sorted[i + 1]! - 1n, subnetId: subnet(i) })
        }
        const table = new RoutingTable(entries.reverse().map(e => ({
          range: { start: canisterIdFromU64(e.lo), end: canisterIdFromU64(e.hi) },
          subnetId: e.subnetId
        })))
        const expected = entries.find(e => probe >= e.lo && probe <= e.hi)
        assert.deepEqual(table.route(canisterIdFromU64(probe))?.toText(), expected?.subnetId.toText())
      }))
  })

  it('refuses overlapping and inverted ranges', () => {
    const r = (a: bigint, b: bigint) => ({ start: canisterIdFromU64(a), end: canisterIdFromU64(b) })
    assert.throws(() => new RoutingTable([{ range: r(0n, 10n), subnetId: subnet(1) }, { range: r(10n, 20n), subnetId: subnet(2) }]), InvalidIdError)
    assert.throws(() => new RoutingTable([{ range: r(5n, 1n), subnetId: subnet(1) }]), InvalidIdError)
  })

  it('lists the ranges of a subnet', () => {
    const r = (a: bigint, b: bigint) => ({ start: canisterIdFromU64(a), end: canisterIdFromU64(b) })
    const t = new RoutingTable([{ range: r(0n, 9n), subnetId: subnet(1) }, { range: r(10n, 19n), subnetId: subnet(2) }, { range: r(20n, 29n), subnetId: subnet(1) }])
    assert.equal(t.rangesOf(subnet(1)).length, 2)
    assert.equal(t.route(canisterIdFromU64(30n)), undefined)
  })
})
