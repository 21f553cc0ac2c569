import assert from 'node:assert/strict'
import fc from 'fast-check'
import {
  MANAGEMENT_CANISTER_ID, Principal, canisterIdFromU64, canisterIdToU64, comparePrincipals, isCanisterId,
  principalFromText, principalText, subnetIdFromPublicKeyDer, InvalidIdError
} from '../src/index.js'

describe('ids', () => {
  it('names the management canister aaaaa-aa', () => {
    assert.equal(MANAGEMENT_CANISTER_ID.toText(), 'aaaaa-aa')
  })

  it('encodes canister ids as the IC does (8-byte BE index + 0x01 0x01)', () => {
    // Known IC ids: index 0 is rwlgt-iiaaa-aaaaa-aaaaa-cai, index 1 is rrkah-fqaaa-aaaaa-aaaaq-cai.
    assert.equal(canisterIdFromU64(0n).toText(), 'rwlgt-iiaaa-aaaaa-aaaaa-cai')
    assert.equal(canisterIdFromU64(1n).toText(), 'rrkah-fqaaa-aaaaa-aaaaq-cai')
    assert.deepEqual([...canisterIdFromU64(0x0102n).toUint8Array()], [0, 0, 0, 0, 0, 0, 1, 2, 1, 1])
  })

  it('round-trips every u64 through a canister id, preserving order', () => {
    fc.assert(fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (a, b) => {
      const x = canisterIdFromU64(a)
      assert.equal(canisterIdToU64(x), a)
      assert.ok(isCanisterId(x))
      assert.equal(Math.sign(comparePrincipals(x, canisterIdFromU64(b))), a === b ? 0 : a < b ? -1 : 1)
    }))
  })

  it('refuses indices outside u64 and non-canister principals', () => {
    assert.throws(() => canisterIdFromU64(-1n), InvalidIdError)
    assert.throws(() => canisterIdFromU64(1n << 64n), InvalidIdError)
    assert.throws(() => canisterIdToU64(MANAGEMENT_CANISTER_ID), InvalidIdError)
  })

  it('derives subnet ids as self-authenticating principals of the DER key', () => {
    const der = new Uint8Array(133).fill(7)
    const id = subnetIdFromPublicKeyDer(der)
    assert.deepEqual(id, Principal.selfAuthenticating(der))
    assert.equal(id.toUint8Array().at(-1), 0x02)
  })

  it('principalText is toText, for a Principal object and every later call on it', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 29 }), bytes => {
      const p = Principal.fromUint8Array(bytes)
      assert.equal(principalText(p), p.toText())
      assert.equal(principalText(p), p.toText())
      assert.equal(principalText(Principal.fromUint8Array(bytes)), p.toText())
    }))
  })

  it('parses principal text with a typed error on garbage', () => {
    assert.equal(principalFromText('aaaaa-aa').toText(), 'aaaaa-aa')
    assert.throws(() => principalFromText('not a principal'), (e: Error) => e.name === 'InvalidIdError')
  })
})
