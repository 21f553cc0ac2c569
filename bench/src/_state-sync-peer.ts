/**
 * The remote side of `bench state-sync` when peers are processes (`--layout process`):
 * seeders, the raw stream's writer, or Helia's providers, run in a child process and
 * driven over the IPC channel by the bench process, which holds the downloader (or the
 * raw stream's reader, or Helia's client). Not a benchmark itself (run.js skips `_` files).
 *
 * Requests are `{ id, op, ... }`, answers `{ id, ok, ... }` or `{ id, error }`. The child
 * exits when the channel closes, so it cannot outlive the bench however the bench ends.
 */
import '@icnet/types/polyfill'
import { randomFillSync } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Libp2p } from '@libp2p/interface'
import { decodeManifest, FsCheckpointStore, stateSync } from '@icnet/state-sync'
import { createTestNode, stopAll } from '@icnet/test-utils'
import { chunksAsBlocks, heliaNode, RAW_PROTOCOL, waitDrain } from './_state-sync-shared.js'
import { sendChunks, VERIFIED_COPY_PROTOCOL } from './_verified-copy.js'
import type { CopyChunk, CopyParts } from './_verified-copy.js'

const MiB = 1024 * 1024

type Request = { id: number, op: string, [k: string]: any }

if (process.send === undefined) {
  console.error('_state-sync-peer is started by `bench state-sync --layout process`')
  process.exit(2)
}
// The bench going away (any exit, even SIGKILL) closes the channel: follow it.
process.on('disconnect', () => { process.exit(0) })

const nodes: Libp2p[] = []
let store: FsCheckpointStore | undefined
let helias: any[] = []

const addrsOf = (n: Libp2p): string[] => n.getMultiaddrs().map(a => a.toString())

const ops: Record<string, (req: Request) => Promise<object>> = {
  /** `count` state sync seeders sharing one store opened from `root` (read-only). */
  async seeders (req) {
    store = await FsCheckpointStore.open(req.root)
    for (let i = 0; i < req.count; i++) nodes.push(await createTestNode({ services: { stateSync: stateSync({ store }) } }))
    return { addrs: nodes.map(n => addrsOf(n)[0]) }
  },
  /** Serve a checkpoint the bench added to the store's directory (its manifest is on disk). */
  async register (req) {
    const height = BigInt(req.height)
    const manifest = decodeManifest(await readFile(join(req.root, 'manifests', `${height.toString().padStart(20, '0')}.manifest`)))
    await store!.registerCheckpoint(height, manifest)
    return {}
  },
  /** One node that writes raw streams on request. */
  async rawWriter () {
    nodes.push(await createTestNode())
    return { addrs: addrsOf(nodes[0]!) }
  },
  /** `bytes` in 1 MiB writes with drain backpressure, on a new stream over the connection peer `peer` opened to us. */
  async rawSend (req) {
    const conn = nodes[0]!.getConnections().find(c => c.remotePeer.toString() === req.peer)
    if (conn === undefined) throw new Error(`no connection from ${req.peer}`)
    const s = await conn.newStream(RAW_PROTOCOL)
    const buf = new Uint8Array(MiB)
    randomFillSync(buf)
    for (let sent = 0; sent < req.bytes; sent += MiB) {
      if (!s.send(buf.subarray(0, Math.min(MiB, req.bytes - sent)))) await waitDrain(s)
    }
    await s.close().catch(() => {})
    return {}
  },
  /** The verified copy's writer: `chunks` read from their files and sent back to back, on a new stream over the connection peer `peer` opened to us. */
  async copySend (req) {
    const conn = nodes[0]!.getConnections().find(c => c.remotePeer.toString() === req.peer)
    if (conn === undefined) throw new Error(`no connection from ${req.peer}`)
    const s = await conn.newStream(VERIFIED_COPY_PROTOCOL)
    await sendChunks(s, req.chunks as CopyChunk[], req.parts as CopyParts)
    await s.close().catch(() => {})
    return {}
  },
  /** `count` Helia providers sharing one blockstore of the given chunks as raw blocks. */
  async helia (req) {
    const { blockstore: shared, cids } = await chunksAsBlocks(req.chunks as Array<{ path: string, offset: number, size: number }>)
    helias = await Promise.all(Array.from({ length: req.count }, async () => await heliaNode(shared)))
    return { addrs: helias.map(h => addrsOf(h.libp2p)[0]), cids: cids.map(c => c.toString()) }
  },
  /** CPU time of this process so far (all threads), ms. */
  async cpu () {
    const u = process.cpuUsage()
    return { ms: (u.user + u.system) / 1000 }
  },
  async stop () {
    await Promise.all(helias.map(async h => { await h.stop(); await h.libp2p.stop() }))
    helias = []
    await stopAll(nodes)
    nodes.length = 0
    await store?.close()
    return {}
  }
}

process.on('message', (req: Request) => {
  const op = ops[req.op]
  if (op === undefined) { process.send!({ id: req.id, error: `unknown op ${req.op}` }); return }
  op(req).then(
    answer => { process.send!({ id: req.id, ok: true, ...answer }) },
    (err: Error) => { process.send!({ id: req.id, error: err.stack ?? err.message }) }
  )
})
process.send({ id: 0, ok: true, ready: true })
