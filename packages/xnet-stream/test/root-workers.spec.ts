import assert from 'node:assert/strict'
import fc from 'fast-check'
import { Uint8ArrayList } from 'uint8arraylist'
import { certificateMessage, combineShares, signShare } from '@icnet/crypto'
import { equalBytes } from '@icnet/types'
import { CertificationError, InvalidSliceError, SliceDecodeError } from '../src/errors.js'
import { SliceResponse, SliceError } from '../src/pb/xnet.js'
import { copyChunks, sliceOfResponse, sliceResponseHead } from '../src/slice-codec.js'
import { certificationKey, messageLeafDigest, precomputedRoots, verifiedCertifications } from '../src/slice-memo.js'
import { leafDigest } from '@icnet/hashtree'
import { SliceRootWorkers } from '../src/slice-root-workers.js'
import { decodeCertifiedSlice, encodeCertifiedSlice, sliceRootHash, verifyCertifiedSlice, type CertifiedStreamSlice } from '../src/slice.js'
import { request, threeSubnets } from './fixtures.js'

function indexOf (hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer
    return i
  }
  return -1
}

describe('SliceRootWorkers', function () {
  this.timeout(60_000)
  const { a, b, registry } = threeSubnets()
  const ctx = { ourSubnet: b.id, sourceSubnet: a.id, registry }
  const toB = a.store.stream(b.id)
  for (let i = 0; i < 300; i++) toB.push(request(i, 1 + (i * 37) % 400))
  a.store.certify()
  const signedByB = (root: Uint8Array): Uint8Array => combineShares(b.keys.shares.map(sh => ({ index: sh.index, signature: signShare(sh, certificateMessage(root)) })), { threshold: 1 })
  const wireSlice = (q: { msgBegin: number, msgLimit?: number, witnessBegin?: number }): CertifiedStreamSlice =>
    decodeCertifiedSlice(encodeCertifiedSlice(a.store.slice(b.id, q) as CertifiedStreamSlice))
  let workers: SliceRootWorkers
  before(() => { workers = new SliceRootWorkers({ workers: 1, minMessages: 8 }) })
  after(async () => { await workers.close() })

  it('computes on a worker the same root the event loop computes, and the slice then verifies', async () => {
    for (const q of [{ msgBegin: 0 }, { msgBegin: 17, msgLimit: 100 }, { msgBegin: 120, witnessBegin: 40 }]) {
      const s = wireSlice(q)
      await workers.precompute(s)
      const onWorker = precomputedRoots.get(s)
      assert.ok(onWorker !== undefined, 'the worker computed a root')
      assert.ok(equalBytes(onWorker, sliceRootHash({ ...s }))) // a plain copy: computed here, from the tree
      verifyCertifiedSlice(s, ctx)
    }
    assert.equal(workers.stats.slices, 3)
    assert.ok(workers.pending === 0)
  })

  it('hands back every message\'s leaf digest when asked, and the messages keep them', async () => {
    const s = wireSlice({ msgBegin: 30, msgLimit: 120 })
    await workers.precompute(s, a.keys.publicKey, { leafDigests: true })
    for (const m of s.messages) {
      const d = messageLeafDigest(m)
      assert.ok(equalBytes(d, leafDigest(m.bytes)))
      assert.equal(d.buffer.byteLength, 32 * s.messages.length, 'the worker\'s digest, not one hashed here')
    }
    // Not asked: nothing is remembered for the messages (each digest is hashed here on demand).
    const t = wireSlice({ msgBegin: 30, msgLimit: 120 })
    await workers.precompute(t, a.keys.publicKey)
    assert.notEqual(messageLeafDigest(t.messages[0]!).buffer.byteLength, 32 * t.messages.length)
  })

  it('given the source key, checks the signature on the worker; only a signature that verified is remembered', async () => {
    a.store.certify() // a new height: a root nobody verified yet
    const s = wireSlice({ msgBegin: 5, msgLimit: 90 })
    await workers.precompute(s, a.keys.publicKey)
    const root = precomputedRoots.get(s)!
    assert.equal(verifiedCertifications.get(certificationKey(a.keys.publicKey, root, s.certification.signature)), true)
    verifyCertifiedSlice(s, ctx)
    // The same slice with another subnet's signature over the same root: not remembered, refused.
    const bytes = encodeCertifiedSlice(a.store.slice(b.id, { msgBegin: 5, msgLimit: 90 }) as CertifiedStreamSlice).slice()
    const sig = s.certification.signature
    bytes.set(signedByB(root), indexOf(bytes, sig))
    const forged = decodeCertifiedSlice(bytes)
    await workers.precompute(forged, a.keys.publicKey)
    assert.ok(equalBytes(precomputedRoots.get(forged)!, root))
    assert.equal(verifiedCertifications.get(certificationKey(a.keys.publicKey, root, forged.certification.signature)), undefined)
    assert.throws(() => { verifyCertifiedSlice(forged, ctx) }, CertificationError)
  })

  it('hands over a copy: a slice read from a view into a larger Node Buffer stays intact', async () => {
    const bytes = encodeCertifiedSlice(a.store.slice(b.id, { msgBegin: 0 }) as CertifiedStreamSlice)
    const big = Buffer.alloc(bytes.length + 64)
    big.set(bytes, 32)
    const s = decodeCertifiedSlice(big.subarray(32, 32 + bytes.length))
    await workers.precompute(s)
    assert.equal(big.buffer.byteLength > 0, true, 'the buffer was not moved away')
    assert.ok(equalBytes(big.subarray(32, 32 + bytes.length), bytes))
    verifyCertifiedSlice(s, ctx)
  })

  it('leaves small slices and slices without wire bytes to the event loop', async () => {
    const small = wireSlice({ msgBegin: 0, msgLimit: 3 })
    await workers.precompute(small)
    assert.equal(precomputedRoots.has(small), false)
    const plain = { ...wireSlice({ msgBegin: 0 }) }
    await workers.precompute(plain)
    assert.equal(precomputedRoots.has(plain), false)
    verifyCertifiedSlice(small, ctx)
    verifyCertifiedSlice(plain, ctx)
  })

  it('a slice altered in transit gets the root of what it carries, and its signature does not verify', async () => {
    const bytes = encodeCertifiedSlice(a.store.slice(b.id, { msgBegin: 10, msgLimit: 50 }) as CertifiedStreamSlice).slice()
    const at = indexOf(bytes, (a.store.slice(b.id, { msgBegin: 20, msgLimit: 1 }) as CertifiedStreamSlice).messages[0]!.bytes)
    bytes[at + 5]! ^= 1
    const s = decodeCertifiedSlice(bytes)
    await workers.precompute(s)
    assert.ok(precomputedRoots.has(s))
    assert.throws(() => { verifyCertifiedSlice(s, ctx) }, CertificationError)
  })

  it('a slice whose payload does not fit its proof gets no root on the worker and is refused on verification', async () => {
    // The proof of messages [0, 50) with the payload of [50, 100): nothing has its place.
    const proofOf = a.store.slice(b.id, { msgBegin: 0, msgLimit: 50 }) as CertifiedStreamSlice
    const payloadOf = a.store.slice(b.id, { msgBegin: 50, msgLimit: 50 }) as CertifiedStreamSlice
    const mixed = decodeCertifiedSlice(encodeCertifiedSlice({ ...payloadOf, merkleProof: proofOf.merkleProof }))
    const failedBefore = workers.stats.failed
    await workers.precompute(mixed)
    assert.equal(precomputedRoots.has(mixed), false)
    assert.equal(workers.stats.failed, failedBefore + 1)
    assert.throws(() => { verifyCertifiedSlice(mixed, ctx) }, InvalidSliceError)
  })

  describe('decode: one copy from the frame\'s chunks, views from the buffer the worker hands back', () => {
    /** `bytes` cut at `cuts` (positions, any order, duplicates allowed) into a list of chunks, each a view into a larger buffer as a socket's would be. */
    const split = (bytes: Uint8Array, cuts: number[]): Uint8ArrayList => {
      const at = [...new Set(cuts.map(c => c % (bytes.length + 1)))].sort((x, y) => x - y)
      const list = new Uint8ArrayList()
      let from = 0
      for (const to of [...at, bytes.length]) {
        if (to === from) continue
        const slab = Buffer.alloc(to - from + 16)
        slab.set(bytes.subarray(from, to), 8)
        list.append(slab.subarray(8, 8 + to - from))
        from = to
      }
      return list
    }

    it('equals the previous decode (generated SliceResponse codec, then decodeCertifiedSlice) on random splits of the frame', async () => {
      const w = new SliceRootWorkers({ workers: 1, minBytes: 0 })
      try {
        await fc.assert(fc.asyncProperty(
          fc.integer({ min: 0, max: 299 }), fc.integer({ min: 1, max: 300 }), fc.integer({ min: 0, max: 40 }),
          fc.array(fc.nat(), { maxLength: 12 }), fc.boolean(),
          async (begin, limit, back, cuts, leafDigests) => {
            const slice = a.store.slice(b.id, { msgBegin: begin, msgLimit: limit, witnessBegin: Math.max(0, begin - back) }) as CertifiedStreamSlice
            const body = encodeCertifiedSlice(slice)
            const frame = Uint8Array.from([...sliceResponseHead(body.length), ...body])
            const list = split(frame, cuts)
            const previous = decodeCertifiedSlice(SliceResponse.decode(list).slice)
            // The frame is recognised as a slice response; the slice goes to the workers as the frame's chunks.
            const wire = sliceOfResponse(frame) === undefined ? undefined : list.sublist(frame.length - body.length)
            assert.ok(wire !== undefined)
            assert.equal(wire.byteLength, body.length)
            const chunks = [...list].map(c => c.buffer)
            const s = await w.decode(wire, a.keys.publicKey, { leafDigests })
            assert.ok(equalBytes(encodeCertifiedSlice(s), encodeCertifiedSlice(previous)))
            assert.deepEqual(s.header, previous.header)
            assert.ok(equalBytes(s.subnet, previous.subnet) && equalBytes(s.headerBytes, previous.headerBytes))
            assert.equal(s.certification.height, previous.certification.height)
            assert.ok(equalBytes(s.certification.signature, previous.certification.signature))
            assert.equal(s.messages.length, previous.messages.length)
            const own = s.messages[0]?.bytes.buffer
            s.messages.forEach((m, k) => {
              assert.equal(m.index, previous.messages[k]!.index)
              assert.ok(equalBytes(m.bytes, previous.messages[k]!.bytes))
              assert.equal(m.bytes.buffer, own, 'every message is a view of the one buffer the worker hashed')
              if (leafDigests) assert.ok(equalBytes(messageLeafDigest(m), leafDigest(m.bytes)))
            })
            assert.ok(own === undefined || !chunks.includes(own), 'not a view of the frame\'s chunks')
            assert.ok(equalBytes(precomputedRoots.get(s)!, sliceRootHash({ ...previous })), 'the worker\'s root is the one the event loop computes')
            verifyCertifiedSlice(s, ctx)
          }), { numRuns: 40 })
      } finally {
        await w.close()
      }
    })

    it('moves an owned frame buffer to the worker and back with no copy, decoding the same slice from it', async () => {
      const w = new SliceRootWorkers({ workers: 1, minBytes: 0 })
      try {
        await fc.assert(fc.asyncProperty(
          fc.integer({ min: 0, max: 299 }), fc.integer({ min: 1, max: 300 }), fc.boolean(),
          async (begin, limit, leafDigests) => {
            const slice = a.store.slice(b.id, { msgBegin: begin, msgLimit: limit }) as CertifiedStreamSlice
            const body = encodeCertifiedSlice(slice)
            // As `readFrame` gives it: the response in a buffer of its own, the slice a view after the response's head.
            const frame = Uint8Array.from([...sliceResponseHead(body.length), ...body])
            const wire = sliceOfResponse(frame)
            assert.ok(wire !== undefined && wire.byteOffset > 0)
            const s = await w.decode(wire, a.keys.publicKey, { leafDigests, owned: true })
            assert.equal(frame.byteLength, 0, 'the frame\'s buffer was moved, not copied')
            assert.ok(equalBytes(encodeCertifiedSlice(s), body))
            s.messages.forEach((m, k) => {
              assert.ok(equalBytes(m.bytes, slice.messages[k]!.bytes))
              if (leafDigests) assert.ok(equalBytes(messageLeafDigest(m), leafDigest(m.bytes)))
            })
            assert.equal(s.messages[0]?.bytes.buffer.byteLength, body.length + sliceResponseHead(body.length).length, 'views of the frame\'s own buffer, back from the worker')
            assert.ok(equalBytes(precomputedRoots.get(s)!, sliceRootHash({ ...slice })))
            verifyCertifiedSlice(s, ctx)
          }), { numRuns: 25 })
      } finally {
        await w.close()
      }
    })

    it('recognises only a slice response of exactly that shape; any other frame is left to the generated codec', () => {
      const body = encodeCertifiedSlice(a.store.slice(b.id, { msgBegin: 0, msgLimit: 20 }) as CertifiedStreamSlice)
      const head = sliceResponseHead(body.length)
      const list = (...parts: Uint8Array[]): Uint8Array => new Uint8ArrayList(...parts).subarray()
      // Another encoding of the same message (the default error written out): the codec's, not ours.
      assert.equal(sliceOfResponse(list(Uint8Array.of(0x08, 0x00), head, body)), undefined)
      assert.equal(SliceResponse.decode(list(Uint8Array.of(0x08, 0x00), head, body)).error, SliceError.NONE)
      assert.equal(sliceOfResponse(list(SliceResponse.encode({ error: SliceError.BUSY, slice: new Uint8Array(0) }))), undefined)
      assert.equal(sliceOfResponse(list(head, body.subarray(1))), undefined, 'shorter than its length')
      assert.equal(sliceOfResponse(list(head, body, Uint8Array.of(0))), undefined, 'trailing bytes')
      assert.equal(sliceOfResponse(list()), undefined)
      assert.equal(sliceOfResponse(list(Uint8Array.of(0x12, 0x80))), undefined, 'truncated length')
      fc.assert(fc.property(fc.uint8Array({ maxLength: 40 }), fc.array(fc.nat(), { maxLength: 4 }), (bytes, cuts) => {
        const wire = sliceOfResponse(split(bytes, cuts).subarray())
        if (wire === undefined) return
        const res = SliceResponse.decode(bytes)
        assert.equal(res.error, SliceError.NONE)
        assert.ok(equalBytes(res.slice, wire.subarray()))
      }), { numRuns: 2000 })
    })

    it('refuses malformed bytes with the decoder\'s typed error, and an altered slice decodes with the root of what it carries', async () => {
      const w = new SliceRootWorkers({ workers: 1, minBytes: 0 })
      try {
        const body = encodeCertifiedSlice(a.store.slice(b.id, { msgBegin: 10, msgLimit: 50 }) as CertifiedStreamSlice)
        await assert.rejects(w.decode(split(body.subarray(0, body.length - 7), [100, 5000])), SliceDecodeError)
        await assert.rejects(w.decode(new Uint8ArrayList(body), undefined, { maxBytes: body.length - 1 }), SliceDecodeError)
        const altered = body.slice()
        altered[indexOf(body, (a.store.slice(b.id, { msgBegin: 20, msgLimit: 1 }) as CertifiedStreamSlice).messages[0]!.bytes) + 5]! ^= 1
        const s = await w.decode(split(altered, [333]), a.keys.publicKey)
        assert.ok(precomputedRoots.has(s))
        assert.throws(() => { verifyCertifiedSlice(s, ctx) }, CertificationError)
        assert.equal(w.pending, 0)
      } finally {
        await w.close()
      }
    })

    it('decodes small slices, and every slice after close, on the caller\'s thread (no root remembered)', async () => {
      const w = new SliceRootWorkers({ workers: 1, minBytes: 4096 })
      const small = encodeCertifiedSlice(a.store.slice(b.id, { msgBegin: 0, msgLimit: 2 }) as CertifiedStreamSlice)
      assert.ok(small.length < 4096)
      const s = await w.decode(new Uint8ArrayList(small.subarray(0, 9), small.subarray(9)))
      assert.equal(precomputedRoots.has(s), false)
      verifyCertifiedSlice(s, ctx)
      await w.close()
      const large = encodeCertifiedSlice(a.store.slice(b.id, { msgBegin: 0 }) as CertifiedStreamSlice)
      const t = await w.decode(new Uint8ArrayList(large))
      assert.equal(precomputedRoots.has(t), false)
      verifyCertifiedSlice(t, ctx)
    })

    it('copyChunks writes the list\'s bytes in order', () => {
      fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.array(fc.nat(), { maxLength: 6 }), (bytes, cuts) => {
        const out = copyChunks(split(bytes, cuts), new Uint8Array(bytes.length + 3))
        assert.ok(equalBytes(out, bytes))
      }))
    })
  })

  it('after close, slices stay with the event loop', async () => {
    const w = new SliceRootWorkers({ workers: 1, minMessages: 1 })
    await w.close()
    const s = wireSlice({ msgBegin: 0 })
    await w.precompute(s)
    assert.equal(precomputedRoots.has(s), false)
  })
})

describe('slice response framing', () => {
  it('head + slice bytes are exactly SliceResponse.encode', () => {
    for (const n of [1, 127, 128, 300, 16_383, 16_384, 1 << 20, 5 << 22]) {
      const slice = new Uint8Array(n).fill(7)
      const reference = SliceResponse.encode({ error: SliceError.NONE, slice })
      const head = sliceResponseHead(n)
      assert.equal(head.length + n, reference.length)
      assert.ok(equalBytes(head, reference.subarray(0, head.length)))
    }
  })
})
