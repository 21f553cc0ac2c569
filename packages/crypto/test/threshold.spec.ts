import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { blsVerify } from '@dfinity/agent'
import fc from 'fast-check'
import {
  combineShares,
  dealThresholdKeys,
  InvalidKeyError,
  InvalidShareSetError,
  InvalidSignatureError,
  publicKeyFromDer,
  publicKeyToDer,
  signShare,
  loadThresholdLibraries,
  THRESHOLD_LIBRARY,
  THRESHOLD_LIBRARY_ENV,
  THRESHOLD_SIGNATURE_DST,
  THRESHOLD_PUBLIC_KEY_DER_PREFIX,
  thresholdScheme,
  verifyShare,
  verifyThreshold
} from '../src/index.js'
import { InvalidEncodingError } from '@icnet/types'

/** Every threshold library on this platform, mcl-wasm included (loaded for these cross-checks). */
const libraries = await loadThresholdLibraries()

const text = (s: string): Uint8Array => new TextEncoder().encode(s)

/** Picks k distinct indices out of 0..n-1, in the order fast-check shuffles them. */
function subsetArb (n: number, k: number): fc.Arbitrary<number[]> {
  return fc.shuffledSubarray([...Array(n).keys()], { minLength: k, maxLength: k })
}

describe('threshold signatures (IC scheme)', () => {
  const keys = dealThresholdKeys({ n: 7, t: 5 })
  const message = text('ic-state-root test message')
  const shareSigs = keys.shares.map(s => ({ index: s.index, signature: signShare(s, message) }))
  const reference = combineShares(shareSigs.slice(0, 5))

  it('deals n shares with 0-based indices, G2 keys and the IC DER prefix', () => {
    assert.equal(keys.shares.length, 7)
    assert.equal(keys.threshold, 5)
    keys.shares.forEach((s, i) => {
      assert.equal(s.index, i)
      assert.equal(s.secretKey.length, 32)
      assert.equal(s.publicKey.length, 96)
      assert.deepEqual(keys.sharePublicKeys[i], s.publicKey)
    })
    assert.equal(keys.publicKey.length, 96)
    assert.deepEqual(keys.publicKeyDer.subarray(0, THRESHOLD_PUBLIC_KEY_DER_PREFIX.length), THRESHOLD_PUBLIC_KEY_DER_PREFIX)
    assert.deepEqual(keys.publicKeyDer.subarray(THRESHOLD_PUBLIC_KEY_DER_PREFIX.length), keys.publicKey)
  })

  it('each signature share verifies under its own share key and no other', () => {
    for (const { index, signature } of shareSigs) {
      assert.equal(signature.length, 48)
      assert.equal(verifyShare(keys.sharePublicKeys[index]!, message, signature), true)
      assert.equal(verifyShare(keys.sharePublicKeys[(index + 1) % 7]!, message, signature), false)
      assert.equal(verifyShare(keys.sharePublicKeys[index]!, text('other'), signature), false)
    }
  })

  it('any t of n shares combine to the same signature, which verifies', () => {
    assert.equal(verifyThreshold(keys.publicKey, message, reference), true)
    fc.assert(fc.property(subsetArb(7, 5), subset => {
      const combined = combineShares(subset.map(i => shareSigs[i]!))
      assert.deepEqual(combined, reference)
    }), { numRuns: 25 })
  })

  it('more than t shares interpolate to the same signature; threshold option uses exactly t', () => {
    assert.deepEqual(combineShares(shareSigs), reference)
    assert.deepEqual(combineShares([...shareSigs].reverse(), { threshold: 5 }), reference)
  })

  it('fewer than t shares do not verify, and are refused when the threshold is given', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 4 }).chain(k => subsetArb(7, k)), subset => {
      const combined = combineShares(subset.map(i => shareSigs[i]!))
      assert.equal(verifyThreshold(keys.publicKey, message, combined), false)
    }), { numRuns: 15 })
    assert.throws(() => combineShares(shareSigs.slice(0, 4), { threshold: 5 }), InvalidShareSetError)
  })

  it('a wrong message, key or tampered signature fails', () => {
    const other = dealThresholdKeys({ n: 4, t: 3 })
    assert.equal(verifyThreshold(keys.publicKey, text('another message'), reference), false)
    assert.equal(verifyThreshold(other.publicKey, message, reference), false)
    const tampered = reference.slice()
    tampered[20] = tampered[20]! ^ 1
    assert.equal(verifyThreshold(keys.publicKey, message, tampered), false)
    assert.equal(verifyThreshold(keys.publicKey, message, reference.subarray(0, 47)), false)
    assert.equal(verifyThreshold(keys.publicKey.subarray(1), message, reference), false)
  })

  it('a combination including a bad share does not verify', () => {
    const bad = shareSigs.slice(0, 5).map(s => ({ ...s }))
    bad[2] = { index: 2, signature: signShare(keys.shares[2]!, text('something else')) }
    assert.equal(verifyThreshold(keys.publicKey, message, combineShares(bad)), false)
  })

  it('rejects duplicate, out-of-range and malformed shares with typed errors', () => {
    assert.throws(() => combineShares([]), InvalidShareSetError)
    assert.throws(() => combineShares([shareSigs[0]!, shareSigs[0]!]), InvalidShareSetError)
    assert.throws(() => combineShares([{ index: -1, signature: reference }]), InvalidShareSetError)
    assert.throws(() => combineShares([{ index: 1.5, signature: reference }]), InvalidShareSetError)
    assert.throws(() => combineShares([{ index: 0, signature: new Uint8Array(47) }]), InvalidSignatureError)
    assert.throws(() => combineShares([{ index: 0, signature: new Uint8Array(48).fill(0xff) }]), InvalidSignatureError)
    assert.throws(() => signShare({ secretKey: new Uint8Array(31) }, message), InvalidKeyError)
    assert.throws(() => signShare({ secretKey: new Uint8Array(32) }, message), InvalidKeyError)
  })

  it('a 1-of-1 key is plain BLS', () => {
    const k = dealThresholdKeys({ n: 1, t: 1 })
    const sig = combineShares([{ index: 0, signature: signShare(k.shares[0]!, message) }])
    assert.equal(verifyThreshold(k.publicKey, message, sig), true)
  })

  it('rejects n and t out of range', () => {
    assert.throws(() => dealThresholdKeys({ n: 0, t: 0 }), RangeError)
    assert.throws(() => dealThresholdKeys({ n: 3, t: 4 }), RangeError)
    assert.throws(() => dealThresholdKeys({ n: 5000, t: 2 }), RangeError)
  })

  it('a seed deals the same keys every time', () => {
    const seed = text('testnet genesis seed')
    const a = dealThresholdKeys({ n: 4, t: 3, seed })
    const b = dealThresholdKeys({ n: 4, t: 3, seed })
    assert.deepEqual(a.publicKeyDer, b.publicKeyDer)
    assert.deepEqual(a.shares, b.shares)
    assert.notDeepEqual(dealThresholdKeys({ n: 4, t: 3, seed: text('other seed') }).publicKey, a.publicKey)
  })

  it('verification stays right when more keys are used than the prepared-key cache holds', () => {
    const many = Array.from({ length: 135 }, (_, i) => dealThresholdKeys({ n: 1, t: 1, seed: text(`key ${i}`) }))
    const sigs = many.map(k => signShare(k.shares[0]!, message))
    many.forEach((k, i) => {
      assert.equal(verifyThreshold(k.publicKey, message, sigs[i]!), true)
      assert.equal(verifyThreshold(k.publicKey, message, sigs[(i + 1) % many.length]!), false)
    })
    // The first keys were evicted by now and are prepared again.
    for (let i = 0; i < 8; i++) {
      assert.equal(verifyThreshold(many[i]!.publicKey, message, sigs[i]!), true)
      assert.equal(verifyThreshold(many[i]!.publicKey, message, sigs[i + 1]!), false)
    }
  })

  it('verifyThreshold accepts the DER form of the key', () => {
    assert.equal(verifyThreshold(keys.publicKeyDer, message, reference), true)
  })
})

describe('threshold public key DER', () => {
  const keys = dealThresholdKeys({ n: 4, t: 3 })

  it('round-trips', () => {
    assert.deepEqual(publicKeyFromDer(publicKeyToDer(keys.publicKey)), keys.publicKey)
    assert.equal(keys.publicKeyDer.length, 133)
  })

  it('refuses bad lengths, prefixes and points with InvalidKeyError (an InvalidEncodingError)', () => {
    const der = keys.publicKeyDer
    const cases: Uint8Array[] = [
      new Uint8Array(0),
      der.subarray(0, 132),
      new Uint8Array([...der, 0]),
      (() => { const d = der.slice(); d[5] = d[5]! ^ 1; return d })(),
      (() => { const d = der.slice(); d[40] = d[40]! ^ 0x55; return d })(),
      new Uint8Array([...THRESHOLD_PUBLIC_KEY_DER_PREFIX, 0xc0, ...new Uint8Array(95)]) // identity
    ]
    for (const c of cases) {
      assert.throws(() => publicKeyFromDer(c), (e: unknown) => e instanceof InvalidKeyError && e instanceof InvalidEncodingError)
    }
    assert.throws(() => publicKeyToDer(new Uint8Array(96)), InvalidKeyError)
    assert.throws(() => publicKeyToDer(keys.publicKey.subarray(1)), InvalidKeyError)
  })

  it('never crashes on arbitrary bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), bytes => {
      try { publicKeyFromDer(bytes) } catch (e) { assert.ok(e instanceof InvalidKeyError) }
    }), { numRuns: 200 })
  })
})

describe('IC compatibility', () => {
  it(`the chosen library is ${THRESHOLD_LIBRARY}: blst wherever its binary exists for this Node.js`, () => {
    assert.ok(libraries.includes('mcl') && libraries.includes('noble'))
    const forced = process.env[THRESHOLD_LIBRARY_ENV]
    if (forced !== undefined && forced !== '') {
      assert.equal(THRESHOLD_LIBRARY, forced)
      return
    }
    assert.equal(THRESHOLD_LIBRARY, libraries.includes('blst') ? 'blst' : 'mcl')
    // @chainsafe/blst 0.2.11 ships Linux x64 binaries for these Node.js ABIs (20 is 115, 22 is 127).
    if (process.platform === 'linux' && process.arch === 'x64' && ['115', '127'].includes(process.versions.modules)) {
      assert.equal(THRESHOLD_LIBRARY, 'blst')
    }
  })

  it(`${THRESHOLD_LIBRARY_ENV} picks the library in a new process; one not available is refused at start-up`, async () => {
    const run = promisify(execFile)
    const index = new URL('../src/index.js', import.meta.url).href
    const script = `const m = await import(${JSON.stringify(index)}); console.log(m.THRESHOLD_LIBRARY)`
    const chosenIn = async (value: string): Promise<string> =>
      (await run(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, [THRESHOLD_LIBRARY_ENV]: value } })).stdout.trim()
    for (const library of libraries) assert.equal(await chosenIn(library), library)
    assert.equal(await chosenIn(''), THRESHOLD_LIBRARY, 'empty means the default')
    // mcl-wasm (160 ms of CPU and 30 MB to start) is loaded only where it is the library in use.
    const loadedScript = `const m = await import(${JSON.stringify(index)}); console.log(m.loadedThresholdLibraries().join(','))`
    const loadedIn = async (value: string): Promise<string[]> =>
      (await run(process.execPath, ['--input-type=module', '-e', loadedScript], { env: { ...process.env, [THRESHOLD_LIBRARY_ENV]: value } })).stdout.trim().split(',')
    assert.equal((await loadedIn('')).includes('mcl'), THRESHOLD_LIBRARY === 'mcl')
    assert.ok((await loadedIn('mcl')).includes('mcl'))
    await assert.rejects(chosenIn('openssl'), (err: Error & { stderr?: string }) => {
      assert.match(err.stderr ?? '', new RegExp(`${THRESHOLD_LIBRARY_ENV}=openssl: not a threshold library available here`))
      return true
    })
  })

  it('@dfinity/agent blsVerify accepts our combined signatures and refuses tampered ones', async () => {
    const keys = dealThresholdKeys({ n: 4, t: 3 })
    const message = text('state root')
    const sig = combineShares([1, 3, 0].map(i => ({ index: i, signature: signShare(keys.shares[i]!, message) })))
    assert.equal(await blsVerify(keys.publicKey, sig, message), true)
    assert.equal(await blsVerify(keys.publicKey, sig, text('state roof')), false)
    const other = dealThresholdKeys({ n: 1, t: 1 })
    assert.equal(await blsVerify(other.publicKey, sig, message), false)
  })

  for (const library of libraries.filter(l => l !== 'noble')) {
    it(`${library} and noble produce identical keys, shares and signatures`, () => {
      const scheme = thresholdScheme(library)
      const noble = thresholdScheme('noble')
      const seed = text('cross-check')
      const a = scheme.dealThresholdKeys({ n: 4, t: 3, seed })
      const b = noble.dealThresholdKeys({ n: 4, t: 3, seed })
      assert.deepEqual(a.publicKey, b.publicKey)
      assert.deepEqual(a.sharePublicKeys, b.sharePublicKeys)
      const message = text('cross')
      const sharesA = a.shares.map(s => ({ index: s.index, signature: scheme.signShare(s, message) }))
      const sharesB = b.shares.map(s => ({ index: s.index, signature: noble.signShare(s, message) }))
      assert.deepEqual(sharesA, sharesB)
      const sigA = scheme.combineShares(sharesA.slice(1))
      const sigB = noble.combineShares(sharesB.slice(1))
      assert.deepEqual(sigA, sigB)
      assert.deepEqual(scheme.combineAndVerify(a.publicKey, message, sharesA.slice(0, 3)), sigB)
      assert.equal(noble.verifyThreshold(a.publicKey, message, sigA), true)
      assert.equal(scheme.verifyThreshold(b.publicKey, message, sigB), true)
      assert.equal(noble.verifyThreshold(a.publicKey, text('x'), sigA), false)
      assert.equal(scheme.verifyThreshold(a.publicKey, text('x'), sigA), false)
    })
  }

  it('every library agrees on arbitrary messages and share subsets', () => {
    const schemes = libraries.map(thresholdScheme)
    const keys = schemes[0]!.dealThresholdKeys({ n: 4, t: 3, seed: text('agree') })
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), subsetArb(4, 3), (message, picked) => {
      const outputs = schemes.map(scheme => {
        const shares = picked.map(i => ({ index: i, signature: scheme.signShare(keys.shares[i]!, message) }))
        return Buffer.from(scheme.combineShares(shares)).toString('hex')
      })
      assert.equal(new Set(outputs).size, 1)
      const signature = Buffer.from(outputs[0]!, 'hex')
      for (const scheme of schemes) assert.equal(scheme.verifyThreshold(keys.publicKey, message, signature), true)
    }), { numRuns: 10 })
  })

  it(`every library refuses a G1 point outside the prime-order subgroup (${THRESHOLD_SIGNATURE_DST.slice(0, 16)}…)`, () => {
    const outside = g1PointOutsideSubgroup()
    const keys = dealThresholdKeys({ n: 4, t: 3 })
    const message = text('subgroup')
    for (const library of libraries) {
      const scheme = thresholdScheme(library)
      const shares = keys.shares.map(s => ({ index: s.index, signature: scheme.signShare(s, message) }))
      assert.equal(scheme.backend.isValidSignature(outside), false, library)
      assert.equal(scheme.verifyThreshold(keys.publicKey, message, outside), false, library)
      assert.equal(scheme.verifyShare(keys.sharePublicKeys[0]!, message, outside), false, library)
      assert.throws(() => scheme.combineShares([{ index: 0, signature: outside }, shares[1]!, shares[2]!]), InvalidSignatureError, library)
      assert.throws(() => scheme.combineAndVerify(keys.publicKey, message, [{ index: 0, signature: outside }, shares[1]!, shares[2]!]), InvalidSignatureError, library)
    }
  })
})

/**
 * A compressed point on BLS12-381's G1 curve (y^2 = x^3 + 4) that is not in
 * the prime-order subgroup: for a small x with x^3 + 4 a square, the point
 * lies in the subgroup only with probability 1 / cofactor (about 2^-126).
 */
function g1PointOutsideSubgroup (): Uint8Array {
  const p = 0x1a0111ea397fe69a4b1ba7b6434bacd764774b84f38512bf6730d2a0f6b0f6241eabfffeb153ffffb9feffffffffaaabn
  const pow = (b: bigint, e: bigint): bigint => {
    let r = 1n
    b %= p
    while (e > 0n) {
      if (e & 1n) r = (r * b) % p
      b = (b * b) % p
      e >>= 1n
    }
    return r
  }
  for (let x = 1n; ; x++) {
    const rhs = (x * x * x + 4n) % p
    if (pow(rhs, (p - 1n) / 2n) !== 1n) continue
    const bytes = Buffer.from(x.toString(16).padStart(96, '0'), 'hex')
    bytes[0]! |= 0x80 // compressed, smaller y
    const noble = thresholdScheme('noble')
    assert.equal(noble.backend.isValidSignature(bytes), false, 'the point must be outside the subgroup')
    return bytes
  }
}
