import { randomBytes } from 'node:crypto'
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { lpStream } from '@libp2p/utils'
import { Uint8ArrayList } from 'uint8arraylist'
import type { Startable, StreamHandler, StreamHandlerOptions } from '@libp2p/interface'
import { dealThresholdKeys } from '@icnet/crypto'
import {
  BlockKind, decodeMessage, encodeMessage, FsCheckpointStore, listFiles, Message, MAX_MESSAGE_BYTES, PROTOCOL, signCatchUpPackage
} from '../src/index.js'
import type { BlockSource, CatchUpPackage, CheckpointInfo, CheckpointStore } from '../src/index.js'

/** Small chunks keep test checkpoints tiny while still spanning many chunks. */
export const TEST_CHUNK = 16 * 1024

export async function tempDir (prefix = 'icnet-state-sync-'): Promise<string> {
  return await mkdtemp(join(tmpdir(), prefix))
}

export async function removeDirs (dirs: string[]): Promise<void> {
  await Promise.all(dirs.map(async d => { await rm(d, { recursive: true, force: true }) }))
}

/** Writes files (path -> bytes) into a checkpoint directory. */
export async function writeTree (dir: string, files: Record<string, Uint8Array>): Promise<void> {
  for (const [p, bytes] of Object.entries(files)) {
    const full = join(dir, ...p.split('/'))
    await mkdir(dirname(full), { recursive: true })
    await writeFile(full, bytes)
  }
}

export async function readTree (dir: string): Promise<Record<string, Buffer>> {
  const out: Record<string, Buffer> = {}
  for (const f of await listFiles(dir)) out[f.path] = await readFile(join(dir, ...f.path.split('/')))
  return out
}

/** A checkpoint of mixed file sizes: empty, sub-chunk, multi-chunk, a duplicate file, nested dirs. */
export function sampleFiles (totalBytes: number): Record<string, Uint8Array> {
  const big = randomBytes(Math.floor(totalBytes * 0.6))
  const meta = randomBytes(3 * TEST_CHUNK)
  return {
    'canister_states/00000000000000010101/memory.bin': big,
    'canister_states/00000000000000010101/queues.pbuf': randomBytes(1000),
    'canister_states/00000000000000020101/memory.bin': randomBytes(Math.floor(totalBytes * 0.3)),
    'canister_states/00000000000000020101/copy-of-metadata.pbuf': meta,
    'empty.bin': new Uint8Array(0),
    'system_metadata.pbuf': meta
  }
}

/** A store with one checkpoint at `height` holding `files`. */
export async function storeWith (root: string, height: bigint, files: Record<string, Uint8Array>): Promise<{ store: FsCheckpointStore, info: CheckpointInfo }> {
  const store = await FsCheckpointStore.open(root, { chunkSize: TEST_CHUNK })
  await writeTree(store.checkpointDir(height), files)
  const info = await store.addCheckpoint(height)
  return { store, info }
}

/** Copies an installed checkpoint into another store at another height (then edit it and add it). */
export async function copyCheckpoint (from: FsCheckpointStore, fromHeight: bigint, to: FsCheckpointStore, toHeight: bigint): Promise<void> {
  await cp(from.checkpointDir(fromHeight), to.checkpointDir(toHeight), { recursive: true })
}

const keys = dealThresholdKeys({ n: 4, t: 3 })
export const subnetPublicKey = keys.publicKey

export function signedCup (info: CheckpointInfo): CatchUpPackage {
  return signCatchUpPackage(info.height, info.stateHash, keys.shares, 3)
}

/** A block source backed directly by a store: the pure core without a network. */
export function storeSource (store: CheckpointStore, peer = 'local'): BlockSource & { served: number } {
  const src = {
    peer,
    served: 0,
    async fetch (kind: BlockKind, hash: Uint8Array): Promise<Uint8Array | null> {
      const b = await store.readBlock(kind, hash)
      if (b !== undefined) src.served++
      return b ?? null
    },
    close () {}
  }
  return src
}

export type Misbehaviour = 'corrupt' | 'stall' | 'wrong-manifest'

interface HandlerComponents {
  registrar: { handle(p: string, h: StreamHandler, o?: StreamHandlerOptions): Promise<void>, unhandle(p: string): Promise<void> }
}

/**
 * A real libp2p handler on the state-sync protocol that misbehaves: `corrupt` serves every
 * block with one byte flipped, `stall` reads wants and never answers, `wrong-manifest` answers
 * a meta-manifest want with the meta-manifest of `decoy` (another checkpoint).
 */
export function misbehavingSeeder (store: CheckpointStore, mode: Misbehaviour, decoy?: CheckpointInfo): (c: HandlerComponents) => Startable & { blocksSent: number } {
  return (components) => {
    const svc = {
      blocksSent: 0,
      async start () {
        await components.registrar.handle(PROTOCOL, async (stream) => {
          const lp = lpStream(stream, { maxDataLength: MAX_MESSAGE_BYTES })
          try {
            for (;;) {
              const m = decodeMessage(await lp.read())
              if (m.wantCheckpoints) await lp.write(encodeMessage({ hasCheckpoints: true, checkpoints: store.list() }))
              if (mode === 'stall') continue
              for (const w of m.wantlist) {
                if (w.type !== Message.WantType.WANT_BLOCK) continue
                let data = w.kind === BlockKind.META_MANIFEST && mode === 'wrong-manifest'
                  ? await store.readBlock(BlockKind.META_MANIFEST, decoy!.stateHash)
                  : await store.readBlock(w.kind, w.hash)
                if (data === undefined) continue
                if (mode === 'corrupt') { data = Uint8Array.from(data); data[0] = data[0]! ^ 0xff }
                svc.blocksSent++
                await lp.write(encodeMessage({ blocks: [{ hash: w.hash, kind: w.kind, data }] }))
              }
            }
          } catch {
            stream.abort(new Error('done'))
          }
        }, { maxInboundStreams: 8 })
      },
      async stop () { await components.registrar.unhandle(PROTOCOL) }
    }
    return svc
  }
}

/** The bytes of `b` cut at the given points, as a transport would hand them over. */
export function inPieces (b: Uint8Array, cuts: number[]): Uint8ArrayList {
  const points = [...new Set(cuts.map(c => c % (b.length + 1)))].sort((x, y) => x - y)
  const list = new Uint8ArrayList()
  let from = 0
  for (const p of [...points, b.length]) { if (p > from) list.append(b.subarray(from, p)); from = Math.max(from, p) }
  return list
}
