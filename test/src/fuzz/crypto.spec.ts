import assert from 'node:assert/strict'
import fc from 'fast-check'
import { canisterIdFromU64, subnetIdFromPublicKeyDer } from '@icnet/types'
import { buildHashTree, reconstruct } from '@icnet/hashtree'
import {
  certifyTree, CertificateVerificationError, createCertificate, createDelegation, dealThresholdKeys, decodeCanisterRanges,
  decodeCertificate, encodeCanisterRanges, generateNodeKeyPair, parseNodePublicKey, publicKeyFromDer, loadThresholdLibraries, signShare, thresholdScheme,
  thresholdSigner, timeLeaf, verifyCertificate
} from '@icnet/crypto'
import { arbHashTree } from './arbitraries.js'
import { expectAsyncDecoderContract, expectDecoderContract, fuzz, targetTimeoutMs } from './harness.js'
import { fuzzInput, mutated } from './mutate.js'

/** Every threshold library on this platform, mcl-wasm included. */
const libraries = await loadThresholdLibraries()

const root = dealThresholdKeys({ n: 4, t: 3, seed: Uint8Array.of(1, 2, 3, 4) })
const app = dealThresholdKeys({ n: 4, t: 3, seed: Uint8Array.of(5, 6, 7, 8) })
const appId = subnetIdFromPublicKeyDer(app.publicKeyDer)
const text = (s: string): Uint8Array => new TextEncoder().encode(s)

/** A few signed certificates, with and without a delegation: signing is slow, so they are made once. */
function signedCertificates (): Uint8Array[] {
  const delegation = createDelegation({ subnetId: appId, subnetPublicKeyDer: app.publicKeyDer, canisterRanges: [[canisterIdFromU64(100), canisterIdFromU64(199)]], rootSign: thresholdSigner(root) })
  const out: Uint8Array[] = []
  for (let i = 0; i < 4; i++) {
    const tree = buildHashTree([
      ['canister', [[canisterIdFromU64(150).toUint8Array(), [['certified_data', text(`data ${i}`)]]]]],
      ['time', timeLeaf(1_700_000_000_000_000_000n + BigInt(i))]
    ])
    out.push(certifyTree({ tree, sign: thresholdSigner(root) }))
    out.push(certifyTree({ tree, sign: thresholdSigner(app), delegation }))
  }
  return out
}

describe('fuzz: @icnet/crypto', function () {
  this.timeout(targetTimeoutMs())
  const certificates = signedCertificates()
  const arbCertificate = fc.oneof(
    fc.constantFrom(...certificates),
    fc.tuple(arbHashTree, fc.uint8Array({ minLength: 48, maxLength: 48 }), fc.option(fc.constantFrom(...certificates), { nil: undefined }))
      .map(([tree, signature, inner]) => createCertificate({ tree, signature, ...(inner === undefined ? {} : { delegation: { subnet_id: appId.toUint8Array(), certificate: inner } }) }))
  )

  it('decodeCertificate throws only typed errors', async () => {
    await fuzz('crypto/decodeCertificate', fuzzInput(arbCertificate), input => {
      expectDecoderContract(input, bytes => decodeCertificate(bytes))
    }, 1500)
  })

  it('verifyCertificate refuses every mutation of a signed certificate with CertificateVerificationError', async () => {
    const signed = certificates.map(c => { const parts = decodeCertificate(c); return { root: reconstruct(parts.tree), signature: parts.signature } })
    await fuzz('crypto/verifyCertificate', fuzzInput(fc.constantFrom(...certificates)), async input => {
      const r = await expectAsyncDecoderContract(input, async bytes => await verifyCertificate(bytes, root.publicKeyDer, { canisterId: canisterIdFromU64(150) }),
        err => err instanceof CertificateVerificationError)
      // What verifies is one of the signed certificates: the same root and signature (dropping the
      // optional self-describe tag, for one, changes the bytes but not the certificate).
      if (r.ok) {
        const same = signed.some(c => Buffer.from(c.root).equals(r.value.rootHash) && Buffer.from(c.signature).equals(r.value.signature))
        assert.ok(same, 'a mutated certificate verified with a root or signature that was never signed')
      }
    }, 300)
  })

  it('publicKeyFromDer and parseNodePublicKey throw only InvalidKeyError', async () => {
    const nodeKey = generateNodeKeyPair(new Uint8Array(32).fill(9)).publicKey
    await fuzz('crypto/publicKeyFromDer', fuzzInput(fc.constantFrom(root.publicKeyDer, app.publicKeyDer)), input => {
      expectDecoderContract(input, publicKeyFromDer, err => (err as Error).name === 'InvalidKeyError')
    }, 300)
    await fuzz('crypto/parseNodePublicKey', fuzzInput(fc.constant(nodeKey)), input => {
      expectDecoderContract(input, parseNodePublicKey, err => (err as Error).name === 'InvalidKeyError')
    }, 300)
  })

  it('decodeCanisterRanges throws only typed errors', async () => {
    const ranges = fc.array(fc.tuple(fc.bigInt({ min: 0n, max: 1n << 40n }), fc.bigInt({ min: 0n, max: 1n << 40n })), { maxLength: 6 })
      .map(rs => encodeCanisterRanges(rs.map(([a, b]) => [canisterIdFromU64(a), canisterIdFromU64(b)])))
    await fuzz('crypto/decodeCanisterRanges', fuzzInput(ranges), input => {
      expectDecoderContract(input, decodeCanisterRanges)
    }, 800)
  })

  for (const library of libraries) {
    it(`combineShares and verifyThreshold (${library}) on junk: typed errors or false, never a crash`, async () => {
      const scheme = thresholdScheme(library)
      const message = text('fuzz')
      const validShares = root.shares.map(s => signShare(s, message))
      const arbShare = fc.record({
        index: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.integer(), fc.constantFrom(-1, 1023, 1024, 2 ** 53, Number.NaN, 0.5)),
        signature: fc.oneof(fc.constantFrom(...validShares), mutated(fc.constantFrom(...validShares)), fc.uint8Array({ minLength: 48, maxLength: 48 }))
      })
      const arb = fc.tuple(fc.array(arbShare, { maxLength: 6 }), fc.option(fc.integer({ min: -1, max: 8 }), { nil: undefined }),
        fuzzInput(fc.constantFrom(root.publicKey, root.publicKeyDer)))
      await fuzz(`crypto/combineShares-${library}`, arb, ([shares, threshold, key]) => {
        const combined = expectDecoderContract(new Uint8Array(shares.length * 48), () => scheme.combineShares(shares, threshold === undefined ? {} : { threshold }))
        const signature = combined.ok ? combined.value : shares[0]?.signature ?? new Uint8Array(48)
        const verified = expectDecoderContract(key, k => scheme.verifyThreshold(k, message, signature), () => false)
        assert.equal(typeof (verified as { value: unknown }).value, 'boolean')
      }, 200)
    })
  }
})
