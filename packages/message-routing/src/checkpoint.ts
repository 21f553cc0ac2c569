import { link, mkdir, open, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { decode, encode } from 'cborg'
import { PAGE_SIZE, WASM_PAGE_SIZE, type CanisterSnapshot, type Page, type Sandbox } from '@icnet/execution'
import {
  bundleManifest, computeManifest, decodeManifest, encodeManifest, updateManifest, MANIFEST_VERSION, DEFAULT_CHUNK_SIZE,
  type DirtyFile, type Manifest
} from '@icnet/state-sync'
import {
  Principal, type RejectCode, decodeStreamMessage, isRejectReason, type Request, type Response, type StreamMessage
} from '@icnet/types'
import { Stream } from '@icnet/xnet-stream'
import { CanisterState, type CallContext, type CallOrigin } from './canister.js'
import { CHECKPOINT_FORMAT_VERSION } from './constants.js'
import { CheckpointLoadError } from './errors.js'
import type { ReplicatedState } from './state.js'
import { encodeMessageOnce } from './state-tree.js'
import type { IngressStatus } from './types.js'

/**
 * Checkpoints: the replicated state as a directory of files with a stable layout
 * (docs/protocols/canonical-state.md, "Checkpoint layout"), written into a
 * temporary directory and renamed into place, so a crash leaves either the whole
 * checkpoint or none. The directory is an FsCheckpointStore root, so state sync
 * serves and installs checkpoints in the same place.
 *
 *   <dataDir>/checkpoints/<height, 20 digits>/
 *     system_metadata.cbor  ingress_history.cbor  streams/<subnet hex>.cbor
 *     canisters/<canister hex>/{canister.cbor, module.bin, heap.bin, stable.bin}
 *   <dataDir>/manifests/<height, 20 digits>.manifest
 */
export function heightName (h: number): string { return String(h).padStart(20, '0') }
export function checkpointDir (dataDir: string, height: number): string { return join(dataDir, 'checkpoints', heightName(height)) }
function manifestPath (dataDir: string, height: number): string { return join(dataDir, 'manifests', `${heightName(height)}.manifest`) }

const EMPTY_MANIFEST: Manifest = { version: MANIFEST_VERSION, fileTable: [], chunkTable: [] }

export interface WrittenCheckpoint {
  height: number
  dir: string
  manifest: Manifest
  stateHash: Uint8Array
}

// ---- encodings ------------------------------------------------------------
//
// Checkpoint files are our own (or a state-sync download whose manifest a CUP
// certified), so they are decoded into these shapes directly; anything that does
// not fit fails the load as a whole (CheckpointLoadError), never half-way.

type Pair = [number, number]
interface CanisterRecord {
  id: Uint8Array
  controllers: Uint8Array[]
  module_hash: Uint8Array
  certified_data: Uint8Array
  global_timer: string
  has_heartbeat: number
  globals: unknown[][]
  heap_pages: number
  stable_pages: number
  next_context: number
  next_callback: number
  next_queue: number
  contexts: Array<[number, unknown[], boolean, number]>
  callbacks: Array<[number, number, Uint8Array, Pair, Pair, Pair | null]>
  input_requests: Uint8Array[]
  input_ingress: Array<[Uint8Array, Uint8Array, string, Uint8Array]>
  input_responses: Uint8Array[]
  output: Uint8Array[]
  status?: 'stopping' | 'stopped'
  /** Request ids of the stop_canister calls a stopping canister owes an answer (absent when none). */
  pending_stops?: Uint8Array[]
}
interface StreamRecord {
  subnet: Uint8Array
  begin: number
  signals_begin: number
  signals_end: number
  reject_signals: Pair[]
  responses_only: boolean
  max_messages: number
  max_bytes: number
  messages: Uint8Array[]
}
interface MetadataRecord {
  version: number
  subnet_id: Uint8Array
  height: number
  time_ns: string
  state_root: Uint8Array
  prev_state_hash: Uint8Array
  loopback: Uint8Array[]
}
type IngressRecord = [Uint8Array, IngressStatus['status'], number, ...unknown[]]

function encodeOrigin (o: CallOrigin): unknown[] {
  if (o.kind === 'ingress') return ['i', o.requestId, o.caller.toUint8Array()]
  if (o.kind === 'canister') return ['c', o.caller.toUint8Array(), o.callback]
  return ['s']
}

function decodeOrigin (v: unknown[]): CallOrigin {
  if (v[0] === 'i') return { kind: 'ingress', requestId: v[1] as Uint8Array, caller: Principal.fromUint8Array(v[2] as Uint8Array) }
  if (v[0] === 'c') return { kind: 'canister', caller: Principal.fromUint8Array(v[1] as Uint8Array), callback: v[2] as number }
  return { kind: 'system' }
}

function encodeGlobal (g: number | bigint): unknown[] { return typeof g === 'bigint' ? ['b', g.toString()] : ['n', g] }
function decodeGlobal (v: unknown[]): number | bigint { return v[0] === 'b' ? BigInt(v[1] as string) : v[1] as number }

function encodeCanister (c: CanisterState): Uint8Array {
  return encode({
    id: c.id.toUint8Array(),
    controllers: c.controllers.map(p => p.toUint8Array()),
    module_hash: c.moduleHash,
    certified_data: c.certifiedData,
    global_timer: c.globalTimer.toString(),
    has_heartbeat: c.hasHeartbeat === undefined ? 2 : c.hasHeartbeat ? 1 : 0,
    globals: c.globals.map(encodeGlobal),
    heap_pages: c.heapWasmPages,
    stable_pages: c.stableWasmPages,
    next_context: c.nextContextId,
    next_callback: c.nextCallbackId,
    next_queue: c.nextQueue,
    contexts: [...c.contexts.values()].sort((a, b) => a.id - b.id).map(x => [x.id, encodeOrigin(x.origin), x.replied, x.outstanding]),
    callbacks: [...c.callbacks.values()].sort((a, b) => a.id - b.id).map(b => [
      b.id, b.contextId, b.callee.toUint8Array(), [b.closures.reply.fn, b.closures.reply.env], [b.closures.reject.fn, b.closures.reject.env],
      b.closures.cleanup === undefined ? null : [b.closures.cleanup.fn, b.closures.cleanup.env]
    ]),
    input_requests: c.inputRequests.map(encodeMessageOnce),
    input_ingress: c.inputIngress.map(r => [r.requestId, r.caller.toUint8Array(), r.method, r.arg]),
    input_responses: c.inputResponses.map(encodeMessageOnce),
    output: c.output.map(encodeMessageOnce),
    ...(c.status !== 'running' ? { status: c.status } : {}),
    ...(c.pendingStops.length > 0 ? { pending_stops: c.pendingStops } : {})
  })
}

function decodeCanister (bytes: Uint8Array, module: Uint8Array): CanisterState {
  const v = decode(bytes) as CanisterRecord
  const c = new CanisterState(Principal.fromUint8Array(v.id), (v.controllers as Uint8Array[]).map(b => Principal.fromUint8Array(b)), v.module_hash)
  c.module = module
  c.certifiedData = v.certified_data
  c.globalTimer = BigInt(v.global_timer)
  c.hasHeartbeat = v.has_heartbeat === 2 ? undefined : v.has_heartbeat === 1
  c.globals = v.globals.map(decodeGlobal)
  c.heapWasmPages = v.heap_pages
  c.stableWasmPages = v.stable_pages
  c.nextContextId = v.next_context
  c.nextCallbackId = v.next_callback
  c.nextQueue = v.next_queue
  if (v.status !== undefined) c.status = v.status
  if (v.pending_stops !== undefined) c.pendingStops = v.pending_stops.slice()
  for (const [id, origin, replied, outstanding] of v.contexts) {
    const ctx: CallContext = { id, origin: decodeOrigin(origin), replied, outstanding }
    c.contexts.set(id, ctx)
  }
  for (const [id, contextId, callee, reply, reject, cleanup] of v.callbacks) {
    c.callbacks.set(id, {
      id, contextId, callee: Principal.fromUint8Array(callee),
      closures: {
        reply: { fn: reply[0], env: reply[1] }, reject: { fn: reject[0], env: reject[1] },
        ...(cleanup === null ? {} : { cleanup: { fn: cleanup[0], env: cleanup[1] } })
      }
    })
  }
  for (const b of v.input_requests) c.inputRequests.push(decodeStreamMessage(b) as Request)
  for (const [requestId, caller, method, arg] of v.input_ingress) {
    c.inputIngress.push({ kind: 'ingress', requestId, caller: Principal.fromUint8Array(caller), method, arg })
  }
  for (const b of v.input_responses) c.inputResponses.push(decodeStreamMessage(b) as Response)
  c.output = v.output.map(b => decodeStreamMessage(b) as Request | Response)
  c.outputRequests = c.output.filter(m => m.kind === 'request').length
  c.clearDirty()
  return c
}

function encodeStream (subnet: Principal, s: Stream): Uint8Array {
  const signalsBegin = s.signalsEnd - s.signalCount
  return encode({
    subnet: subnet.toUint8Array(),
    begin: s.begin,
    signals_begin: signalsBegin,
    signals_end: s.signalsEnd,
    reject_signals: s.rejectSignals.map(r => [r.index, r.reason]),
    responses_only: s.flags.responsesOnly,
    max_messages: s.limits.maxMessages,
    max_bytes: s.limits.maxBytes,
    messages: [...s.messages()].map(([, m]) => encodeMessageOnce(m))
  })
}

function decodeStream (bytes: Uint8Array): { subnet: Principal, stream: Stream } {
  const v = decode(bytes) as StreamRecord
  const stream = new Stream({
    begin: v.begin, signalsEnd: v.signals_begin, flags: { responsesOnly: v.responses_only === true },
    limits: { maxMessages: v.max_messages, maxBytes: v.max_bytes }
  })
  // Replay the signals we still owe, so the stream's private signal window is restored exactly.
  const rejects = new Map<number, number>(v.reject_signals)
  for (let i = v.signals_begin; i < v.signals_end; i++) {
    const reason = rejects.get(i)
    if (reason !== undefined && isRejectReason(reason)) stream.pushRejectSignal(reason)
    else stream.pushAcceptSignal()
  }
  for (const b of v.messages) stream.push(decodeStreamMessage(b))
  return { subnet: Principal.fromUint8Array(v.subnet), stream }
}

function encodeIngress (state: ReplicatedState): Uint8Array {
  return encode(state.ingress.all().map(e => {
    const s = e.state
    if (s.status === 'replied') return [e.requestId, s.status, s.expiry, s.reply]
    if (s.status === 'rejected') return [e.requestId, s.status, s.expiry, s.code, s.message]
    return [e.requestId, s.status, s.expiry]
  }))
}

function decodeIngressEntry (v: IngressRecord): { id: Uint8Array, state: IngressStatus } {
  const [id, status, expiry] = v
  if (status === 'replied') return { id, state: { status, expiry, reply: v[3] as Uint8Array } }
  if (status === 'rejected') return { id, state: { status, expiry, code: v[3] as RejectCode, message: v[4] as string } }
  return { id, state: { status, expiry } }
}

// ---- writing ----------------------------------------------------------------

async function writeStableFile (path: string, sizeWasmPages: number, pages: readonly Page[]): Promise<void> {
  const fh = await open(path, 'w')
  try {
    await fh.truncate(sizeWasmPages * WASM_PAGE_SIZE)
    for (const p of pages) await fh.write(p.bytes, 0, p.bytes.length, p.index * PAGE_SIZE)
  } finally {
    await fh.close()
  }
}

function chunksOfPages (pages: Iterable<number>): number[] {
  const out = new Set<number>()
  for (const p of pages) out.add(Math.floor(p * PAGE_SIZE / DEFAULT_CHUNK_SIZE))
  return [...out]
}

async function exists (path: string): Promise<boolean> { return await stat(path).then(() => true, () => false) }

/**
 * Writes the state as checkpoint `state.height`. Files of canisters that did not
 * change since `previous` are hard-linked from it; the manifest is recomputed
 * from `previous`'s, rehashing only the chunks of written pages and small files.
 */
export async function writeCheckpoint (state: ReplicatedState, sandbox: Sandbox, dataDir: string, previous: WrittenCheckpoint | undefined, prevStateRoot: Uint8Array): Promise<WrittenCheckpoint> {
  const height = state.height
  const finalDir = checkpointDir(dataDir, height)
  const tmp = join(dataDir, 'tmp', `${heightName(height)}-${process.pid}-${Date.now()}`)
  await mkdir(join(tmp, 'streams'), { recursive: true })
  await mkdir(join(tmp, 'canisters'), { recursive: true })
  await mkdir(join(dataDir, 'manifests'), { recursive: true })
  await mkdir(join(dataDir, 'checkpoints'), { recursive: true })
  const dirty: DirtyFile[] = []
  const put = async (rel: string, bytes: Uint8Array): Promise<void> => {
    await writeFile(join(tmp, rel), bytes)
    dirty.push({ path: rel })
  }
  await put('system_metadata.cbor', encode({
    version: CHECKPOINT_FORMAT_VERSION,
    subnet_id: state.subnetId.toUint8Array(),
    height,
    time_ns: state.timeNs.toString(),
    state_root: state.stateRoot,
    prev_state_hash: prevStateRoot,
    loopback: state.loopback.map(encodeMessageOnce)
  }))
  await put('ingress_history.cbor', encodeIngress(state))
  for (const { subnet, stream } of state.sortedStreams()) await put(`streams/${subnet.toHex()}.cbor`, encodeStream(subnet, stream))
  for (const c of state.sortedCanisters()) {
    const rel = `canisters/${c.idHex}`
    await mkdir(join(tmp, rel))
    await put(`${rel}/canister.cbor`, encodeCanister(c))
    const prevDir = previous === undefined ? undefined : join(previous.dir, rel)
    const reuse = async (name: string): Promise<boolean> => {
      if (prevDir === undefined || !await exists(join(prevDir, name))) return false
      await link(join(prevDir, name), join(tmp, rel, name))
      return true
    }
    if (c.moduleDirty || !await reuse('module.bin')) await put(`${rel}/module.bin`, c.module)
    const heapClean = c.heapDirty !== 'all' && c.heapDirty.size === 0
    const stableClean = c.stableDirty !== 'all' && c.stableDirty.size === 0
    let snap: CanisterSnapshot | undefined
    if (!heapClean || !await reuse('heap.bin')) {
      snap ??= await sandbox.snapshot(c.id)
      await writeFile(join(tmp, rel, 'heap.bin'), snap.heap)
      dirty.push(c.heapDirty === 'all' || previous === undefined ? { path: `${rel}/heap.bin` } : { path: `${rel}/heap.bin`, dirtyChunks: chunksOfPages(c.heapDirty) })
    }
    if (!stableClean || !await reuse('stable.bin')) {
      snap ??= await sandbox.snapshot(c.id)
      await writeStableFile(join(tmp, rel, 'stable.bin'), snap.stableSizeWasmPages, snap.stablePages)
      dirty.push(c.stableDirty === 'all' || previous === undefined ? { path: `${rel}/stable.bin` } : { path: `${rel}/stable.bin`, dirtyChunks: chunksOfPages(c.stableDirty) })
    }
  }
  const manifest = await updateManifest(tmp, previous?.manifest ?? EMPTY_MANIFEST, dirty)
  const bundle = bundleManifest(manifest)
  const mPath = manifestPath(dataDir, height)
  await writeFile(`${mPath}.tmp`, encodeManifest(manifest))
  await rename(`${mPath}.tmp`, mPath)
  if (await exists(finalDir)) {
    // Re-executed after a restart from an older checkpoint: the same height gives the same state.
    await rm(finalDir, { recursive: true, force: true })
  }
  // The rename is the commit point: before it there is only a temporary directory.
  await rename(tmp, finalDir)
  for (const c of state.canisters.values()) c.clearDirty()
  return { height, dir: finalDir, manifest, stateHash: bundle.stateHash }
}

/** Deletes all but the newest `keep` checkpoints (and their manifests), and stale temporary directories. */
export async function pruneCheckpoints (dataDir: string, keep: number): Promise<void> {
  const heights = await listCheckpointHeights(dataDir)
  for (const h of heights.slice(0, Math.max(0, heights.length - keep))) {
    await rm(checkpointDir(dataDir, h), { recursive: true, force: true })
    await rm(manifestPath(dataDir, h), { force: true })
  }
}

export async function listCheckpointHeights (dataDir: string): Promise<number[]> {
  const names = await readdir(join(dataDir, 'checkpoints')).catch(() => [] as string[])
  return names.filter(n => /^\d{20}$/.test(n)).map(Number).sort((a, b) => a - b)
}

// ---- loading ----------------------------------------------------------------

export interface LoadedCheckpoint {
  written: WrittenCheckpoint
  height: number
  timeNs: bigint
  stateRoot: Uint8Array
  prevStateHash: Uint8Array
  loopback: StreamMessage[]
  ingress: Array<{ id: Uint8Array, state: IngressStatus }>
  streams: Array<{ subnet: Principal, stream: Stream }>
  canisters: Array<{ state: CanisterState, snapshot: CanisterSnapshot }>
}

/** Reads checkpoint `height` back (its manifest from disk, or computed if missing). */
export async function loadCheckpoint (dataDir: string, height: number): Promise<LoadedCheckpoint> {
  const dir = checkpointDir(dataDir, height)
  try {
    const meta = decode(await readFile(join(dir, 'system_metadata.cbor'))) as MetadataRecord
    if (meta.version !== CHECKPOINT_FORMAT_VERSION) throw new CheckpointLoadError(`checkpoint format ${meta.version} is not ${CHECKPOINT_FORMAT_VERSION}`)
    let manifest: Manifest
    try {
      manifest = decodeManifest(await readFile(manifestPath(dataDir, height)))
    } catch {
      manifest = await computeManifest(dir)
    }
    const streams = []
    for (const name of (await readdir(join(dir, 'streams'))).sort()) streams.push(decodeStream(await readFile(join(dir, 'streams', name))))
    const canisters = []
    for (const hex of (await readdir(join(dir, 'canisters'))).sort()) {
      const cdir = join(dir, 'canisters', hex)
      const module = new Uint8Array(await readFile(join(cdir, 'module.bin')))
      const state = decodeCanister(await readFile(join(cdir, 'canister.cbor')), module)
      const heap = new Uint8Array(await readFile(join(cdir, 'heap.bin')))
      const stable = await readFile(join(cdir, 'stable.bin'))
      const stablePages: Page[] = []
      for (let off = 0; off < stable.length; off += PAGE_SIZE) {
        const page = stable.subarray(off, off + PAGE_SIZE)
        if (page.some(b => b !== 0)) stablePages.push({ index: off / PAGE_SIZE, bytes: new Uint8Array(page) })
      }
      canisters.push({
        state,
        snapshot: {
          canisterId: state.id, module, heap, globals: state.globals, stableSizeWasmPages: state.stableWasmPages,
          stablePages, certifiedData: state.certifiedData, globalTimer: state.globalTimer
        }
      })
    }
    const ingress = (decode(await readFile(join(dir, 'ingress_history.cbor'))) as IngressRecord[]).map(decodeIngressEntry)
    return {
      written: { height, dir, manifest, stateHash: bundleManifest(manifest).stateHash },
      height,
      timeNs: BigInt(meta.time_ns),
      stateRoot: meta.state_root,
      prevStateHash: meta.prev_state_hash,
      loopback: meta.loopback.map(decodeStreamMessage),
      ingress,
      streams,
      canisters
    }
  } catch (err) {
    if (err instanceof CheckpointLoadError) throw err
    throw new CheckpointLoadError(`checkpoint ${height} in ${dataDir} does not load: ${(err as Error).message}`, { cause: err })
  }
}

