import type { BlockKind, CheckpointInfo, CheckpointStore, ManifestBundle, PendingCheckpoint } from '@icnet/state-sync'
import type { ChunkFault } from './options.js'

/**
 * Block reads a stalling server keeps unanswered at once. Beyond this the
 * oldest is answered "don't have", so a stall holds a bounded number of
 * pending promises (no data: the block itself is dropped) however long it lasts.
 */
export const MAX_STALLED_READS = 256

/**
 * A state-sync `CheckpointStore` whose server lies: it lists and advertises the
 * same checkpoints as `inner`, but every block it serves is either corrupted
 * (`corrupt`: one byte flipped, same length, so only the hash check catches
 * it) or never sent (`stall`). What the node itself reads and writes goes to
 * `inner` directly; only the copy handed to the state-sync service is wrapped.
 */
export class LyingCheckpointStore implements CheckpointStore {
  private readonly inner: CheckpointStore
  private readonly mode: ChunkFault
  private readonly onLie: (mode: ChunkFault) => void
  /** Resolvers of reads held back by a stall, oldest first. */
  private readonly stalled: Array<(v: undefined) => void> = []
  private closed = false

  constructor (inner: CheckpointStore, mode: ChunkFault, onLie: (mode: ChunkFault) => void = () => {}) {
    this.inner = inner
    this.mode = mode
    this.onLie = onLie
  }

  list (): CheckpointInfo[] { return this.inner.list() }
  getManifest (stateHash: Uint8Array): ManifestBundle | undefined { return this.inner.getManifest(stateHash) }
  hasChunk (hash: Uint8Array): boolean { return this.inner.hasChunk(hash) }
  async openPending (info: CheckpointInfo, bundle: ManifestBundle): Promise<PendingCheckpoint> { return await this.inner.openPending(info, bundle) }

  /** Reads held back right now. */
  get stalledReads (): number { return this.stalled.length }

  async readBlock (kind: BlockKind, hash: Uint8Array): Promise<Uint8Array | undefined> {
    const block = await this.inner.readBlock(kind, hash)
    // A block it does not have is answered honestly: the lie is about blocks it claims to serve.
    if (block === undefined || this.closed) return block
    this.onLie(this.mode)
    if (this.mode === 'corrupt') {
      if (block.length === 0) return Uint8Array.of(0xff)
      const out = block.slice()
      out[out.length >> 1] = out[out.length >> 1]! ^ 0xff
      return out
    }
    return await new Promise<undefined>(resolve => {
      if (this.stalled.length >= MAX_STALLED_READS) this.stalled.shift()!(undefined)
      this.stalled.push(resolve)
    })
  }

  /** Answers every held-back read "don't have" and stops lying (the node is stopping). */
  release (): void {
    this.closed = true
    for (const resolve of this.stalled.splice(0)) resolve(undefined)
  }
}
