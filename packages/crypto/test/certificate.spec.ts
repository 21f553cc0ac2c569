import { strict as assert } from 'node:assert'
import fc from 'fast-check'
import { fromHex, InvalidEncodingError, toHex, VerificationError } from '@icnet/types'
import { buildHashTree, encodeHashTree, leaf, reconstruct } from '@icnet/hashtree'
import {
  certificateMessage, certifyTree, createCertificate, decodeCanisterRanges, decodeCertificate, decodeLeb128,
  encodeCanisterRanges, encodeLeb128, verifyCertificate, type CertificateRejection
} from '../src/index.js'
import {
  APP_CANISTER, APP_RANGES, app, appCertificate, appDelegation, other, ROOT_CANISTER, root, stateTree, text
} from './certificate-fixtures.js'

async function rejection (bytes: Uint8Array, keyDer: Uint8Array, canisterId = APP_CANISTER): Promise<CertificateRejection> {
  try {
    await verifyCertificate(bytes, keyDer, { canisterId })
  } catch (err) {
    assert.ok(err instanceof VerificationError)
    return (err as VerificationError & { reason: CertificateRejection }).reason
  }
  assert.fail('certificate was accepted')
}

describe('certificates', () => {
  it('certificateMessage is dsep("ic-state-root") ‖ root', () => {
    const rootHash = new Uint8Array(32).fill(7)
    assert.equal(toHex(certificateMessage(rootHash)), `0d69632d73746174652d726f6f74${'07'.repeat(32)}`)
  })

  it('encodes as the IC does: self-describe tag, a map of tree and signature', () => {
    const tree = leaf('x')
    const signature = new Uint8Array(48).fill(1)
    const bytes = createCertificate({ tree, signature })
    assert.equal(toHex(bytes.subarray(0, 3)), 'd9d9f7')
    // A plain Uint8Array, not a Node Buffer: IC agents misread values sliced out of a Buffer.
    assert.equal(Object.getPrototypeOf(bytes), Uint8Array.prototype)
    assert.deepEqual(decodeCertificate(bytes), { tree, signature })
  })

  it('a root subnet certificate verifies against the root key and exposes the tree', async () => {
    const bytes = certifyTree({ tree: stateTree(ROOT_CANISTER, 'hello'), sign: root.sign })
    const verified = await verifyCertificate(bytes, root.publicKeyDer, { canisterId: ROOT_CANISTER, maxAgeMs: 60_000 })
    assert.deepEqual(verified.lookup(['canister', ROOT_CANISTER.toUint8Array(), 'certified_data']), { status: 'found', value: text('hello') })
    assert.deepEqual(verified.signingKeyDer, root.publicKeyDer)
    assert.ok(verified.timeNs !== undefined && verified.timeNs > 0n)
    assert.equal(verified.delegation, undefined)
  })

  it('a delegated certificate verifies through the root subnet', async () => {
    const verified = await verifyCertificate(appCertificate(), root.publicKeyDer, { canisterId: APP_CANISTER })
    assert.deepEqual(verified.signingKeyDer, app.publicKeyDer)
    assert.deepEqual(verified.delegation?.subnetId, app.id.toUint8Array())
    assert.deepEqual(verified.delegation?.canisterRanges, APP_RANGES.map(([a, b]) => [a.toUint8Array(), b.toUint8Array()]))
  })

  it('refuses tampered trees, signatures and delegations, and canisters outside the ranges', async () => {
    const good = decodeCertificate(appCertificate())
    // A different value in the tree, same signature.
    const tamperedTree = createCertificate({ ...good, tree: stateTree(APP_CANISTER, 'HELLO') })
    assert.equal(await rejection(tamperedTree, root.publicKeyDer), 'invalid-signature')
    // A signature of another root.
    const tamperedSignature = createCertificate({ ...good, signature: app.sign(certificateMessage(new Uint8Array(32))) })
    assert.equal(await rejection(tamperedSignature, root.publicKeyDer), 'invalid-signature')
    // Signed by the app subnet but verified as if by the root subnet (no delegation).
    const { delegation: _dropped, ...undelegated } = good
    assert.equal(await rejection(createCertificate(undelegated), root.publicKeyDer), 'invalid-signature')
    // A delegation signed by a key other than the root key.
    const forged = createCertificate({ ...good, delegation: appDelegation({ rootSign: other.sign }) })
    assert.equal(await rejection(forged, root.publicKeyDer), 'invalid-delegation')
    // A delegation that names another subnet's key.
    const wrongKey = createCertificate({ ...good, delegation: appDelegation({ subnetKeyDer: other.publicKeyDer }) })
    assert.equal(await rejection(wrongKey, root.publicKeyDer), 'invalid-signature')
    // A delegation whose subnet id is not in its tree.
    const wrongSubnet = createCertificate({ ...good, delegation: { ...good.delegation!, subnet_id: other.id.toUint8Array() } })
    assert.equal(await rejection(wrongSubnet, root.publicKeyDer), 'missing-subnet-key')
    // A nested delegation.
    const inner = decodeCertificate(good.delegation!.certificate)
    const nested = createCertificate({ ...good, delegation: { ...good.delegation!, certificate: createCertificate({ ...inner, delegation: good.delegation! }) } })
    assert.equal(await rejection(nested, root.publicKeyDer), 'nested-delegation')
    // A canister of the root subnet claimed by the app subnet.
    assert.equal(await rejection(appCertificate(), root.publicKeyDer, ROOT_CANISTER), 'canister-not-in-range')
    // The wrong root key.
    assert.equal(await rejection(appCertificate(), other.publicKeyDer), 'invalid-delegation')
    assert.equal(await rejection(appCertificate(), new Uint8Array(133)), 'invalid-root-key')
  })

  it('refuses stale certificates when asked to check freshness', async () => {
    const oldNs = BigInt(Date.now() - 3_600_000) * 1_000_000n
    const bytes = certifyTree({ tree: stateTree(ROOT_CANISTER, 'x', oldNs), sign: root.sign })
    await verifyCertificate(bytes, root.publicKeyDer) // no freshness check by default
    await assert.rejects(verifyCertificate(bytes, root.publicKeyDer, { maxAgeMs: 60_000 }), { reason: 'stale' })
    const timeless = certifyTree({ tree: buildHashTree({ a: text('b') }), sign: root.sign })
    await assert.rejects(verifyCertificate(timeless, root.publicKeyDer, { maxAgeMs: 60_000 }), { reason: 'missing-time' })
  })

  it('decoding is bounded and strict', () => {
    const good = appCertificate()
    assert.throws(() => decodeCertificate(good, { maxBytes: 100 }), InvalidEncodingError)
    assert.throws(() => decodeCertificate(fromHex('d9d9f7a0')), InvalidEncodingError) // no tree, no signature
    assert.throws(() => decodeCertificate(fromHex('d9d9f7a1647472656581')), InvalidEncodingError) // truncated tree
    const extra = createCertificate({ tree: leaf('x'), signature: new Uint8Array(48) })
    assert.throws(() => decodeCertificate(new Uint8Array([...extra, 0])), InvalidEncodingError)
    assert.throws(() => decodeCertificate(createCertificate({ tree: leaf('x'), signature: new Uint8Array(47) })), InvalidEncodingError)
    const deep = new Uint8Array([0xd9, 0xd9, 0xf7, 0xa1, 0x64, ...text('tree'), ...new Array(5000).fill(0x83)])
    assert.throws(() => decodeCertificate(deep), InvalidEncodingError)
  })

  it('verification of random and mutated bytes only ever throws VerificationError', async () => {
    const good = appCertificate()
    await fc.assert(fc.asyncProperty(fc.nat(), fc.integer({ min: 1, max: 255 }), async (at, xor) => {
      const bytes = good.slice()
      bytes[at % bytes.length]! ^= xor
      try {
        await verifyCertificate(bytes, root.publicKeyDer, { canisterId: APP_CANISTER })
      } catch (err) {
        assert.ok(err instanceof VerificationError, `unexpected ${String(err)}`)
      }
    }), { numRuns: 60 })
    await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), async bytes => {
      await assert.rejects(verifyCertificate(bytes, root.publicKeyDer), VerificationError)
    }), { numRuns: 300 })
  })

  it('LEB128 time and canister ranges round-trip', () => {
    fc.assert(fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), n => {
      assert.equal(decodeLeb128(encodeLeb128(n)), n)
    }))
    assert.equal(toHex(encodeLeb128(624485n)), 'e58e26')
    assert.throws(() => decodeLeb128(fromHex('80')), InvalidEncodingError)
    const ranges = encodeCanisterRanges(APP_RANGES)
    assert.deepEqual(decodeCanisterRanges(ranges), APP_RANGES.map(([a, b]) => [a.toUint8Array(), b.toUint8Array()]))
    assert.ok(reconstruct(buildHashTree({ r: ranges })).length === 32)
    assert.ok(encodeHashTree(leaf(ranges)).length > ranges.length)
  })
})
