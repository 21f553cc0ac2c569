import assert from 'node:assert/strict'
import { lpStream } from '@libp2p/utils'
import { createTestNode, stopAll } from '@icnet/test-utils'
import { decodeStreamMessage, type RegistryView } from '@icnet/types'
import { XNET_STREAM_PROTOCOL } from '../src/constants.js'
import {
  CertificationError,
  SliceGapError,
  SliceTooLargeError,
  StaleSliceError,
  WrongSubnetError,
  type InvalidSliceError
} from '../src/errors.js'
import { encodeStreamHeader } from '../src/header-codec.js'
import { SliceError, SliceRequest, SliceResponse } from '../src/pb/xnet.js'
import { encodeCertifiedSlice, type CertifiedStreamSlice } from '../src/slice.js'
import type { XNetStreamInit } from '../src/service.js'
import { SliceRootWorkers } from '../src/slice-root-workers.js'
import { StaticRegistryView } from '../src/static-registry.js'
import { makeSubnet, request } from './fixtures.js'
import { TestHost } from './host.js'

type Mode = (req: SliceRequest) => Uint8Array

describe('a malicious source node', function () {
  this.timeout(60_000)

  it('is refused with a typed error for each kind of bad slice, and nothing reaches the host', async () => {
    await refusesEveryBadSlice({})
  })

  it('is refused the same when every slice is decoded from the copy a root worker hashed', async () => {
    const rootWorkers = new SliceRootWorkers({ workers: 1, minBytes: 0 })
    try {
      await refusesEveryBadSlice({ rootWorkers })
      assert.ok(rootWorkers.stats.slices > 0, 'the worker computed roots')
    } finally {
      await rootWorkers.close()
    }
  })
})

async function refusesEveryBadSlice (init: Partial<XNetStreamInit>): Promise<void> {
  const a = makeSubnet()
  const b = makeSubnet()
  const c = makeSubnet()
  for (let k = 0; k < 40; k++) a.store.stream(b.id).push(request(k, 64))
  a.store.stream(c.id).push(request(1000))
  a.store.certify()
  const old = a.store.slice(b.id, { msgBegin: 0 }) as CertifiedStreamSlice // height 1
  a.store.certify() // height 2: what an honest node would serve

  const honest = (req: SliceRequest): CertifiedStreamSlice => a.store.slice(b.id, { msgBegin: Number(req.msgBegin), witnessBegin: Number(req.witnessBegin) }) as CertifiedStreamSlice
  const frame = (slice: CertifiedStreamSlice): Uint8Array => SliceResponse.encode({ error: SliceError.NONE, slice: encodeCertifiedSlice(slice) as Uint8Array<ArrayBuffer> })
  const modes: Array<[string, Mode, new (...args: never[]) => InvalidSliceError]> = [
    ['altered message', req => { const s = honest(req); const m = s.messages[2]!; const forged = s.messages[3]!.bytes; return frame({ ...s, messages: s.messages.map(x => x === m ? { index: m.index, bytes: forged, message: decodeStreamMessage(forged) } : x) }) }, CertificationError],
    ['altered header', req => { const s = honest(req); const h = { ...s.header, signalsEnd: s.header.signalsEnd }; h.flags = { responsesOnly: true }; return frame({ ...s, header: h, headerBytes: encodeStreamHeader(h) }) }, CertificationError],
    ['bad signature', req => { const s = honest(req); const sig = s.certification.signature.slice(); sig[10]! ^= 0x40; return frame({ ...s, certification: { ...s.certification, signature: sig } }) }, CertificationError],
    ['wrong subnet', () => frame(a.store.slice(c.id, { msgBegin: 0 }) as CertifiedStreamSlice), WrongSubnetError],
    ['gap', req => frame(a.store.slice(b.id, { msgBegin: Number(req.msgBegin) + 5 }) as CertifiedStreamSlice), SliceGapError],
    ['oversized response', () => { const lie = new Uint8Array(8); let n = 200 * 1024 * 1024; let i = 0; while (n >= 0x80) { lie[i++] = (n & 0x7f) | 0x80; n >>>= 7 } lie[i++] = n; return lie.subarray(0, i) }, SliceTooLargeError]
  ]
  let mode: Mode = modes[0]![1]

  let registry!: RegistryView
  const hb = new TestHost(b, () => registry)
  const bad = await createTestNode()
  await bad.handle(XNET_STREAM_PROTOCOL, async (stream) => {
    const lp = lpStream(stream)
    const req = SliceRequest.decode(await lp.read())
    const out = mode(req)
    // The oversized mode writes a raw length prefix that claims 200 MiB.
    if (out.length < 8 && out.length > 0 && (out[0]! & 0x80) !== 0) stream.send(out)
    else await lp.write(out)
    await stream.close()
  }, { maxInboundStreams: 8 })
  await hb.start({ maliciousPenaltyMs: 1, backgroundRefill: false, ...init })
  registry = new StaticRegistryView({
    subnets: [a.record([bad.peerId.toString()]), b.record([hb.node.peerId.toString()]), c.record([])],
    nodes: [{ id: bad.peerId.toString(), subnetId: a.id, p2pAddresses: bad.getMultiaddrs().map(x => x.toString()), blsPublicKey: new Uint8Array(48) }]
  })
  const xnet = hb.node.services.xnet
  let handedToHost = 0
  const accept = (slice: CertifiedStreamSlice): number => { handedToHost++; return hb.pool.put(a.id, slice, hb.expected(a.id)) }
  try {
    for (const [what, m, type] of modes) {
      mode = m
      await assert.rejects(xnet.pull(a.id, { msgBegin: 0 }, accept), (e: Error) => { assert.ok(e instanceof type, `${what}: ${e.name} ${e.message}`); return true })
    }
    // Replay: we have messages up to 10; an old (height 1) slice from 0 is served again.
    mode = () => frame(old)
    await assert.rejects(xnet.pull(a.id, { msgBegin: 10 }, accept), StaleSliceError, 'replayed old slice')
    // Structural and signature checks ran before `accept`, except for the pool's own checks:
    // whatever got to `accept` was refused by it, so the pool (what the host reads) stayed empty.
    assert.equal(hb.pool.size, 0)
    assert.equal(hb.round(), 0)
    assert.equal(hb.received.size, 0)
    assert.ok(handedToHost <= modes.length * 2)
    assert.equal(xnet.peerStats(a.id, bad.peerId.toString())?.cwnd, 1)
    // An honest answer from the same node goes through.
    mode = req => frame(honest(req))
    assert.equal(await xnet.pull(a.id, { msgBegin: 0 }, accept), 40)
  } finally {
    await stopAll([bad, hb.node])
  }
}
