import { createHash } from 'node:crypto'
import { mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { buildHashTree, type HashTree, type LabeledTree } from '@icnet/hashtree'
import {
  Principal, decodeStreamMessage, encodeStreamMessage, fromHex, principalEquals, toHex,
  type CanisterId, type Metrics, type Request, type Response, type StreamMessage, type SubnetId
} from '@icnet/types'
import {
  DigestCache, HEADER_LABEL, MESSAGES_LABEL, STREAMS_LABEL, Stream, encodeCertifiedSlice, encodeStreamHeader, indexLabel,
  sliceWitness, streamLimitsFor, takePrefix,
  type CertifiedStreamSlice, type CertifiedStreamStore, type EncodeSliceResult, type ExpectedIndices, type OwnStreamPosition,
  type SliceMessage, type SliceQuery, type StreamHeader
} from '@icnet/xnet-stream'
import type { BatchInput, ExecutedBatch, LoadStats, ReplicatedStateMachine } from '../state-machine.js'

/**
 * INTERIM: a deterministic stand-in for @icnet/message-routing, used until that
 * package is integrated. It keeps real XNet streams (@icnet/xnet-stream), inducts
 * real certified slices, garbage-collects by signals, builds the state tree
 * `/streams/<subnet>/{header,messages}` + `/metadata/height`, and plays the XNet
 * load canister's traffic itself (no canister execution): `rate` requests per
 * round of `payloadSize` bytes to the load canisters of other subnets, each
 * answered with an echo of the same size. Everything else of a replica around it
 * (consensus, gossip, certification, slice pulls, payload validation) is real.
 */
export interface LoadPeer {
  subnetId: SubnetId
  canisterId: CanisterId
}

export interface StreamLoadStateInit {
  subnetId: SubnetId
  /** Our load canister. */
  canisterId: CanisterId
  /** Load canisters on other subnets, the traffic's targets. */
  targets: LoadPeer[]
  /** Requests per round, over all targets (the IC's "rate per subnet"). */
  rate: number
  payloadSize: number
  /** Block time (ms) window in which requests are sent (a fixed-length run, then a drain). */
  startAtMs?: number
  stopAtMs?: number
  dataDir: string
  checkpointInterval: number
  metrics?: Metrics
}

const SAMPLE = 20_000
const METHOD = 'handle_request'
/** Unanswered requests per target beyond which the generator pauses (backpressure, nothing dropped). */
const MAX_IN_FLIGHT_PER_TARGET = 9_000
/** Executed states kept until their certification arrives. */
const MAX_UNCERTIFIED = 256

interface Snapshot {
  height: number
  root: Uint8Array
  tree: HashTree
  streams: Map<string, { header: StreamHeader, headerBytes: Uint8Array, messages: SliceMessage[] }>
}

interface CheckpointFile {
  height: number
  streams: Array<{ subnet: string, begin: number, signalsEnd: number, messages: string[] }>
  queues: Array<{ subnet: string, messages: string[] }>
  seqOut: Array<[string, string]>
  seqIn: Array<[string, string]>
  callbacks: number
  stats: Omit<LoadStats, 'latencySampleMs' | 'inFlight'>
}

function u64le (b: Uint8Array, off: number): bigint {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(off, true)
}

export class StreamLoadState implements ReplicatedStateMachine, CertifiedStreamStore {
  private readonly init: StreamLoadStateInit
  private readonly streams = new Map<string, { subnet: SubnetId, stream: Stream }>()
  /** Responses waiting for room in a full stream (the canister's output queue). */
  private readonly queues = new Map<string, StreamMessage[]>()
  private readonly seqOut = new Map<string, bigint>()
  private readonly seqIn = new Map<string, bigint>()
  private callbacks = 0
  private readonly stats = { sent: 0, replied: 0, rejected: 0, seqErrors: 0, received: 0, latencySumMs: 0, latencyCount: 0 }
  private readonly sample: number[] = []
  private sampleNext = 0
  private _height = 0
  private readonly digests = new DigestCache()
  private readonly uncertified = new Map<number, Snapshot>()
  private certified?: { snap: Snapshot, signature: Uint8Array }
  private readonly roots = new Map<number, Uint8Array>()
  private readonly encoded = new WeakMap<StreamMessage, Uint8Array>()
  private readonly m: { messages: ReturnType<Metrics['counter']>, bytesCertified: ReturnType<Metrics['gauge']>, latency: ReturnType<Metrics['histogram']> } | undefined

  readonly certifiedStreamStore: CertifiedStreamStore = this

  private constructor (init: StreamLoadStateInit) {
    this.init = init
    for (const t of init.targets) this.stream(t.subnetId)
    const m = init.metrics
    this.m = m == null
      ? undefined
      : {
          messages: m.counter({ name: 'xnet_stream_messages_total', help: 'Messages routed into XNet streams', labelNames: ['kind'] }),
          bytesCertified: m.gauge({ name: 'xnet_stream_bytes_certified', help: 'Message bytes in certified outgoing streams' }),
          latency: m.histogram({ name: 'xnet_slice_delivery_latency_seconds', help: 'Request to response round trip, in block time', buckets: [0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32] })
        }
  }

  /** Opens the state at the latest checkpoint in `dataDir` (genesis when there is none). */
  static async open (init: StreamLoadStateInit): Promise<StreamLoadState> {
    const s = new StreamLoadState(init)
    await mkdir(s.checkpointDir, { recursive: true })
    const names = (await readdir(s.checkpointDir)).filter(n => /^\d{20}\.json$/.test(n)).sort()
    const latest = names.at(-1)
    if (latest !== undefined) s.restore(JSON.parse(await readFile(join(s.checkpointDir, latest), 'utf8')) as CheckpointFile)
    return s
  }

  private get checkpointDir (): string { return join(this.init.dataDir, 'interim-checkpoints') }

  get height (): number { return this._height }
  get certifiedHeight (): number { return this.certified?.snap.height ?? 0 }

  private stream (subnet: SubnetId): Stream {
    const key = subnet.toText()
    let e = this.streams.get(key)
    if (e == null) {
      e = { subnet, stream: new Stream({ limits: streamLimitsFor('application') }) }
      this.streams.set(key, e)
    }
    return e.stream
  }

  expectedIndices (source: SubnetId): ExpectedIndices {
    const s = this.streams.get(source.toText())?.stream
    return { message: s?.signalsEnd ?? 0, signal: s?.begin ?? 0 }
  }

  ownStream (remote: SubnetId): OwnStreamPosition | undefined {
    const s = this.streams.get(remote.toText())?.stream
    return s == null ? undefined : { begin: s.begin, end: s.end, signalsEnd: s.signalsEnd }
  }

  stateRootAt (height: number): Uint8Array | undefined { return this.roots.get(height) }

  async executeBatch (batch: BatchInput): Promise<ExecutedBatch> {
    if (batch.height !== this._height + 1) throw new RangeError(`expected batch ${this._height + 1}, got ${batch.height}`)
    const nowNs = BigInt(batch.time) * 1_000_000n
    // 1. induction: signals first (garbage-collect our streams), then messages.
    for (const { subnet, slice } of batch.xnetSlices) this.induct(subnet, slice, batch.time)
    // 2. outputs: queued responses first, then this round's new requests.
    for (const [key, queue] of this.queues) {
      const stream = this.streams.get(key)!.stream
      while (queue.length > 0 && stream.tryPush(queue[0]!)) { queue.shift(); this.m?.messages.inc(1, { kind: 'response' }) }
    }
    if ((this.init.startAtMs === undefined || batch.time >= this.init.startAtMs) &&
      (this.init.stopAtMs === undefined || batch.time < this.init.stopAtMs)) this.generate(nowNs)
    this._height = batch.height
    // 3. the state tree and its root.
    const snap = this.snapshot(batch.height)
    this.uncertified.set(batch.height, snap)
    this.roots.set(batch.height, snap.root)
    for (const h of [...this.uncertified.keys()]) if (h <= batch.height - MAX_UNCERTIFIED) this.uncertified.delete(h)
    for (const h of [...this.roots.keys()]) if (h <= batch.height - MAX_UNCERTIFIED) this.roots.delete(h)
    // 4. checkpoints.
    if (batch.height % this.init.checkpointInterval === 0) {
      const checkpoint = await this.writeCheckpoint()
      return { height: batch.height, stateRoot: snap.root, checkpoint }
    }
    return { height: batch.height, stateRoot: snap.root }
  }

  private induct (source: SubnetId, slice: CertifiedStreamSlice, timeMs: number): void {
    const key = source.toText()
    const own = this.stream(source)
    // Signals in the remote's header acknowledge our stream to it.
    for (const r of own.discardMessagesBefore(slice.header.signalsEnd, slice.header.rejectSignals)) {
      if (r.message.kind === 'request') this.stats.rejected++ // a reject response to our own canister
    }
    own.discardSignalsBefore(slice.header.begin)
    for (const { index, message } of slice.messages) {
      if (index !== own.signalsEnd) continue // already inducted (validated payloads never overlap)
      own.pushAcceptSignal()
      if (message.kind === 'request') this.answer(key, message)
      else this.complete(message, timeMs)
    }
  }

  private answer (key: string, req: Request): void {
    this.stats.received++
    const sender = req.sender.toHex()
    const seq = req.methodPayload.length >= 16 ? u64le(req.methodPayload, 0) : -1n
    const expected = this.seqIn.get(sender) ?? 0n
    if (seq !== expected) this.stats.seqErrors++
    this.seqIn.set(sender, seq + 1n)
    const response: Response = {
      kind: 'response',
      originator: req.sender,
      respondent: req.receiver,
      originatorReplyCallback: req.senderReplyCallback,
      payload: { data: req.methodPayload }
    }
    let queue = this.queues.get(key)
    if (queue == null) { queue = []; this.queues.set(key, queue) }
    queue.push(response)
  }

  private complete (res: Response, timeMs: number): void {
    if ('reject' in res.payload) { this.stats.rejected++; return }
    this.stats.replied++
    const data = res.payload.data
    if (data.length < 16) return
    const latencyMs = Math.max(0, timeMs - Number(u64le(data, 8) / 1_000_000n))
    this.stats.latencySumMs += latencyMs
    this.stats.latencyCount++
    this.m?.latency.observe(latencyMs / 1000)
    if (this.sample.length < SAMPLE) this.sample.push(latencyMs)
    else { this.sample[this.sampleNext] = latencyMs; this.sampleNext = (this.sampleNext + 1) % SAMPLE }
  }

  private generate (nowNs: bigint): void {
    const targets = this.init.targets
    if (targets.length === 0 || this.init.rate === 0) return
    for (let i = 0; i < this.init.rate; i++) {
      // Round-robin over targets, continuing across rounds: deterministic and even.
      const t = targets[this.stats.sent % targets.length]!
      const stream = this.stream(t.subnetId)
      if (stream.end - stream.begin >= MAX_IN_FLIGHT_PER_TARGET) return
      const key = t.canisterId.toHex()
      const seq = this.seqOut.get(key) ?? 0n
      const payload = new Uint8Array(this.init.payloadSize)
      const v = new DataView(payload.buffer)
      v.setBigUint64(0, seq, true)
      v.setBigUint64(8, nowNs, true)
      const req: Request = { kind: 'request', receiver: t.canisterId, sender: this.init.canisterId, methodName: METHOD, methodPayload: payload, senderReplyCallback: this.callbacks + 1 }
      if (!stream.tryPush(req)) return
      this.callbacks++
      this.seqOut.set(key, seq + 1n)
      this.stats.sent++
      this.m?.messages.inc(1, { kind: 'request' })
    }
  }

  private encode (m: StreamMessage): Uint8Array {
    let b = this.encoded.get(m)
    if (b === undefined) { b = encodeStreamMessage(m); this.encoded.set(m, b) }
    return b
  }

  private snapshot (height: number): Snapshot {
    const streams: Snapshot['streams'] = new Map()
    const labeled: Array<[Uint8Array, LabeledTree]> = []
    let bytes = 0
    for (const [key, { subnet, stream }] of this.streams) {
      const header = stream.header()
      const headerBytes = encodeStreamHeader(header)
      const messages: SliceMessage[] = []
      for (const [index, message] of stream.messages()) { const b = this.encode(message); bytes += b.length; messages.push({ index, bytes: b, message }) }
      streams.set(key, { header, headerBytes, messages })
      const sub: Array<[Uint8Array, LabeledTree]> = [[HEADER_LABEL, headerBytes]]
      if (messages.length > 0) sub.push([MESSAGES_LABEL, messages.map(m => [indexLabel(m.index), m.bytes] as [Uint8Array, LabeledTree])])
      labeled.push([subnet.toUint8Array(), sub])
    }
    const tree = buildHashTree([[STREAMS_LABEL, labeled], ['metadata', [['height', indexLabel(height)]]]])
    this.m?.bytesCertified.set(bytes)
    return { height, root: this.digests.of(tree), tree, streams }
  }

  setCertification (height: number, signature: Uint8Array): void {
    const snap = this.uncertified.get(height)
    if (snap == null || height <= this.certifiedHeight) return
    this.certified = { snap, signature }
    for (const h of [...this.uncertified.keys()]) if (h <= height) this.uncertified.delete(h)
  }

  encodeSlice (destination: SubnetId, query: SliceQuery): EncodeSliceResult {
    const c = this.certified
    const cs = c?.snap.streams.get(destination.toText())
    if (c == null || cs == null) return { ok: false, code: 'NO_STREAM' }
    const { header } = cs
    const witnessBegin = query.witnessBegin ?? query.msgBegin
    if (!Number.isSafeInteger(query.msgBegin) || query.msgBegin < header.begin || query.msgBegin > header.end ||
      !Number.isSafeInteger(witnessBegin) || witnessBegin < header.begin || witnessBegin > query.msgBegin) return { ok: false, code: 'BAD_BEGIN' }
    const first = query.msgBegin - header.begin
    let last = cs.messages.length
    if (query.msgLimit !== undefined) last = Math.min(last, first + Math.max(0, query.msgLimit))
    if (query.byteLimit !== undefined) {
      let n = 0
      for (let i = first; i < last; i++) { n += cs.messages[i]!.bytes.length; if (n > query.byteLimit && i > first) { last = i + 1; break } }
    }
    let slice: CertifiedStreamSlice = {
      subnet: destination.toUint8Array(),
      header,
      headerBytes: cs.headerBytes,
      messages: cs.messages.slice(first, last),
      merkleProof: sliceWitness(c.snap.tree, destination.toUint8Array(), witnessBegin, header.begin + last, this.digests),
      certification: { height: c.snap.height, signature: c.signature }
    }
    if (query.byteLimit !== undefined) slice = takePrefix(slice, { byteLimit: query.byteLimit, atLeastOne: true }).prefix ?? slice
    return { ok: true, bytes: encodeCertifiedSlice(slice), height: c.snap.height, messages: slice.messages.length }
  }

  loadStats (): LoadStats {
    let inFlight = 0
    for (const { stream } of this.streams.values()) for (const [, m] of stream.messages()) if (m.kind === 'request') inFlight++
    // Requests inducted remotely but whose response is not back yet are in flight too.
    inFlight = Math.max(inFlight, this.stats.sent - this.stats.replied - this.stats.rejected)
    return { ...this.stats, inFlight, latencySampleMs: [...this.sample] }
  }

  private async writeCheckpoint (): Promise<{ height: number, stateHash: Uint8Array, dir: string }> {
    const file: CheckpointFile = {
      height: this._height,
      streams: [...this.streams.values()].map(({ subnet, stream }) => ({
        subnet: subnet.toText(), begin: stream.begin, signalsEnd: stream.signalsEnd, messages: [...stream.messages()].map(([, m]) => toHex(this.encode(m)))
      })),
      queues: [...this.queues].map(([subnet, q]) => ({ subnet, messages: q.map(m => toHex(this.encode(m))) })),
      seqOut: [...this.seqOut].map(([k, v]) => [k, v.toString()]),
      seqIn: [...this.seqIn].map(([k, v]) => [k, v.toString()]),
      callbacks: this.callbacks,
      stats: { ...this.stats }
    }
    const bytes = new TextEncoder().encode(JSON.stringify(file))
    const stateHash = new Uint8Array(createHash('sha256').update(bytes).digest())
    const path = join(this.checkpointDir, `${String(this._height).padStart(20, '0')}.json`)
    await writeFile(`${path}.tmp`, bytes)
    await rename(`${path}.tmp`, path)
    // Keep the two latest: enough to restart from, bounded on disk.
    const names = (await readdir(this.checkpointDir)).filter(n => /^\d{20}\.json$/.test(n)).sort()
    for (const n of names.slice(0, -2)) await rm(join(this.checkpointDir, n), { force: true })
    return { height: this._height, stateHash, dir: this.checkpointDir }
  }

  private restore (f: CheckpointFile): void {
    this._height = f.height
    this.streams.clear()
    for (const s of f.streams) {
      const subnet = Principal.fromText(s.subnet)
      const stream = new Stream({ begin: s.begin, signalsEnd: s.signalsEnd, limits: streamLimitsFor('application') })
      for (const hex of s.messages) stream.push(decodeStreamMessage(fromHex(hex)))
      this.streams.set(s.subnet, { subnet, stream })
    }
    for (const q of f.queues) this.queues.set(q.subnet, q.messages.map(h => decodeStreamMessage(fromHex(h))))
    for (const [k, v] of f.seqOut) this.seqOut.set(k, BigInt(v))
    for (const [k, v] of f.seqIn) this.seqIn.set(k, BigInt(v))
    this.callbacks = f.callbacks
    Object.assign(this.stats, f.stats)
  }

  async close (): Promise<void> {}

  /** Whether `subnet` is one of the load targets (for tests). */
  targets (subnet: SubnetId): boolean { return this.init.targets.some(t => principalEquals(t.subnetId, subnet)) }
}
