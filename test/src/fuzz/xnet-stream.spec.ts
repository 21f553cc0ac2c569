import assert from 'node:assert/strict'
import fc from 'fast-check'
import { dealThresholdKeys } from '@icnet/crypto'
import { RejectReason, subnetIdFromPublicKeyDer, type StreamMessage } from '@icnet/types'
import {
  decodeAndVerifySlice, decodeCertifiedSlice, decodeStreamHeader, encodeStreamHeader, InMemoryCertifiedStreamStore,
  StaticRegistryView, type StreamHeader
} from '@icnet/xnet-stream'
// The wire codecs are internal to the package; the service wraps every decode error. Fuzz them directly too.
import { SliceRequest, SliceResponse, StreamAdvert } from '@icnet/xnet-stream/pb'
import { arbStreamMessage } from './arbitraries.js'
import { expectDecoderContract, fuzz, targetTimeoutMs } from './harness.js'
import { fuzzInput } from './mutate.js'

function subnet (seed: number): { keys: ReturnType<typeof dealThresholdKeys>, id: ReturnType<typeof subnetIdFromPublicKeyDer> } {
  const keys = dealThresholdKeys({ n: 1, t: 1, seed: Uint8Array.of(seed, 42) })
  return { keys, id: subnetIdFromPublicKeyDer(keys.publicKeyDer) }
}

const source = subnet(1)
const destination = subnet(2)
const registry = new StaticRegistryView({
  subnets: [source, destination].map(s => ({ id: s.id, type: 'application' as const, nodes: [], publicKey: s.keys.publicKey, publicKeyDer: s.keys.publicKeyDer }))
})

/** Certified slices of one stream (messages, accept and reject signals), cut in several ways. */
function certifiedSlices (): Uint8Array[] {
  const store = new InMemoryCertifiedStreamStore({ subnetId: source.id, shares: source.keys.shares, threshold: 1 })
  const stream = store.stream(destination.id)
  const messages = fc.sample(arbStreamMessage, { numRuns: 8, seed: 7 }) as StreamMessage[]
  for (const m of messages) stream.push(m)
  stream.pushAcceptSignal()
  stream.pushRejectSignal(RejectReason.QueueFull)
  stream.pushAcceptSignal()
  stream.pushRejectSignal(RejectReason.CanisterNotFound)
  store.certify()
  const out: Uint8Array[] = []
  for (const query of [{ msgBegin: 0 }, { msgBegin: 3, witnessBegin: 1 }, { msgBegin: 2, msgLimit: 2 }, { msgBegin: 8 }, { msgBegin: 5, byteLimit: 1 }]) {
    const r = store.encodeSlice(destination.id, query)
    assert.ok(r.ok)
    out.push(r.bytes)
  }
  return out
}

const arbHeader: fc.Arbitrary<StreamHeader> = fc.record({
  begin: fc.nat({ max: 1000 }),
  length: fc.nat({ max: 1000 }),
  signalsEnd: fc.nat({ max: 10_000 }),
  rejects: fc.uniqueArray(fc.tuple(fc.nat({ max: 200 }), fc.constantFrom(1, 2, 3, 4, 5, 6, 7)), { maxLength: 8, selector: ([i]) => i }),
  responsesOnly: fc.boolean()
}).map(h => {
  const rejectSignals = h.rejects.filter(([i]) => i < h.signalsEnd && h.signalsEnd - i <= 200).sort((a, b) => a[0] - b[0]).map(([index, reason]) => ({ index, reason: reason as RejectReason }))
  return { begin: h.begin, end: h.begin + h.length, signalsEnd: h.signalsEnd, rejectSignals, flags: { responsesOnly: h.responsesOnly } }
})

describe('fuzz: @icnet/xnet-stream', function () {
  this.timeout(targetTimeoutMs())
  const slices = certifiedSlices()
  const originals = slices.map(bytes => decodeCertifiedSlice(bytes))

  it('decodeCertifiedSlice throws only typed errors', async () => {
    await fuzz('xnet-stream/decodeCertifiedSlice', fuzzInput(fc.constantFrom(...slices)), input => {
      expectDecoderContract(input, bytes => decodeCertifiedSlice(bytes))
    }, 1500)
  })

  it('a mutated slice that still verifies carries only certified bytes', async () => {
    const ctx = { ourSubnet: destination.id, sourceSubnet: source.id, registry }
    const header = originals[0]!.headerBytes
    const certified = new Map(originals.flatMap(s => s.messages.map(m => [m.index, Buffer.from(m.bytes).toString('hex')] as const)))
    await fuzz('xnet-stream/decodeAndVerifySlice', fuzzInput(fc.constantFrom(...slices)), input => {
      const r = expectDecoderContract(input, bytes => decodeAndVerifySlice(bytes, ctx))
      if (!r.ok) return
      assert.deepEqual(r.value.headerBytes, header, 'a verified slice has the certified header')
      for (const m of r.value.messages) assert.equal(Buffer.from(m.bytes).toString('hex'), certified.get(m.index), `message ${m.index} is the certified one`)
    }, 600)
  })

  it('decodeStreamHeader throws only typed errors', async () => {
    await fuzz('xnet-stream/decodeStreamHeader', fuzzInput(arbHeader.map(encodeStreamHeader)), input => {
      const r = expectDecoderContract(input, decodeStreamHeader)
      if (r.ok) assert.deepEqual(decodeStreamHeader(encodeStreamHeader(r.value)), r.value)
    }, 1500)
  })

  it('protobuf request, response and advert codecs fail cleanly', async () => {
    const anyError = (err: unknown): boolean => err instanceof Error && !(err instanceof TypeError)
    const requests = fc.record({ stream: fc.uint8Array({ maxLength: 29 }), msgBegin: fc.bigInt({ min: 0n, max: 1n << 63n }), witnessBegin: fc.bigInt({ min: 0n, max: 1n << 63n }), msgLimit: fc.nat(), byteLimit: fc.nat() })
      .map(r => SliceRequest.encode(r))
    await fuzz('xnet-stream/SliceRequest', fuzzInput(requests), input => { expectDecoderContract(input, b => SliceRequest.decode(b), anyError) }, 500)
    const responses = fc.tuple(fc.nat({ max: 6 }), fc.constantFrom(...slices)).map(([error, slice]) => SliceResponse.encode({ error: error as never, slice: slice as Uint8Array<ArrayBuffer> }))
    await fuzz('xnet-stream/SliceResponse', fuzzInput(responses), input => { expectDecoderContract(input, b => SliceResponse.decode(b), anyError) }, 500)
    const adverts = fc.record({ subnet: fc.uint8Array({ maxLength: 29 }), end: fc.bigInt({ min: 0n, max: 1n << 63n }), height: fc.bigInt({ min: 0n, max: 1n << 63n }) })
      .map(a => StreamAdvert.encode(a))
    await fuzz('xnet-stream/StreamAdvert', fuzzInput(adverts), input => { expectDecoderContract(input, b => StreamAdvert.decode(b), anyError) }, 500)
  })
})
