import { logger } from '@libp2p/logger'
import { deferred } from './deferred.js'
import { lpStream } from '@libp2p/utils'
import type { Stream } from '@libp2p/interface'
import { IcnetError } from '@icnet/types'
import { MAX_MESSAGE_BYTES, MAX_WANTLIST_ENTRIES } from './constants.js'
import { blockKey, decodeBlockFrame, decodeMessage, encodeMessage, Message } from './messages.js'
import type { BlockData, BlockKind } from './messages.js'

const log = logger('icnet:state-sync:session')

/** The peer closed the session, reset it, or broke the protocol: its outstanding wants fail. */
export class PeerGoneError extends IcnetError {
  constructor (message: string, options?: { cause?: unknown }) { super(message, 'ERR_PEER_GONE', options) }
}

/**
 * Where a downloader gets blocks from. `fetch` resolves with the block's bytes (unverified:
 * the caller checks them against the hash; possibly still in the pieces they arrived in)
 * or `null` when the peer says it does not have it.
 */
export interface BlockSource {
  readonly peer: string
  fetch(kind: BlockKind, hash: Uint8Array, signal?: AbortSignal): Promise<BlockData | null>
  close(): void
}

interface Want {
  resolve(data: BlockData | null): void
  reject(err: Error): void
  promise: Promise<BlockData | null>
}

/** Frames buffered while the reader is busy: a few full frames, then the stream is reset. */
export const READ_BUFFER_BYTES = MAX_MESSAGE_BYTES * 8

/**
 * The client side of one session stream: want-block entries go out (batched per tick),
 * blocks and dont-have presences come back and settle the matching want.
 */
export class PeerSession implements BlockSource {
  readonly peer: string
  private readonly pending = new Map<string, Want>()
  private outbox: Message.WantEntry[] = []
  private flushScheduled = false
  private closedWith?: Error
  private readonly lp

  constructor (private readonly stream: Stream, peer: string) {
    this.peer = peer
    this.lp = lpStream(stream, { maxDataLength: MAX_MESSAGE_BYTES, maxBufferSize: READ_BUFFER_BYTES })
    void this.readLoop()
  }

  get closed (): boolean { return this.closedWith !== undefined }
  get inFlight (): number { return this.pending.size }

  fetch (kind: BlockKind, hash: Uint8Array, signal?: AbortSignal): Promise<BlockData | null> {
    if (this.closedWith !== undefined) return Promise.reject(new PeerGoneError('session closed', { cause: this.closedWith }))
    const key = blockKey(kind, hash)
    const existing = this.pending.get(key)
    if (existing !== undefined) return existing.promise
    const { promise, resolve, reject } = deferred<BlockData | null>()
    const want: Want = { promise, resolve, reject }
    this.pending.set(key, want)
    this.enqueue({ hash, kind, type: Message.WantType.WANT_BLOCK })
    if (signal !== undefined) {
      const onAbort = (): void => {
        if (this.pending.get(key) !== want) return
        this.pending.delete(key)
        if (this.closedWith === undefined) this.enqueue({ hash, kind, type: Message.WantType.CANCEL })
        reject(signal.reason instanceof Error ? signal.reason : new PeerGoneError('want aborted'))
      }
      if (signal.aborted) onAbort()
      else {
        signal.addEventListener('abort', onAbort, { once: true })
        void promise.finally(() => { signal.removeEventListener('abort', onAbort) }).catch(() => {})
      }
    }
    return promise
  }

  private enqueue (entry: Message.WantEntry): void {
    this.outbox.push(entry)
    if (this.flushScheduled) return
    this.flushScheduled = true
    // Batch every want issued in this tick into one frame (one noise seal, one socket write).
    queueMicrotask(() => { this.flush() })
  }

  private flush (): void {
    this.flushScheduled = false
    while (this.outbox.length > 0 && this.closedWith === undefined) {
      const wantlist = this.outbox.splice(0, MAX_WANTLIST_ENTRIES)
      this.lp.write(encodeMessage({ wantlist })).catch(err => { this.fail(err) })
    }
  }

  private async readLoop (): Promise<void> {
    try {
      for (;;) {
        const frame = await this.lp.read()
        // Block frames (nearly all the traffic) are taken apart in place: the block bytes
        // stay in the pieces they were decrypted into, to be hashed and written from there.
        const block = decodeBlockFrame(frame)
        if (block !== undefined) { this.settle(blockKey(block.kind, block.hash), block.data); continue }
        const m = decodeMessage(frame)
        for (const b of m.blocks) this.settle(blockKey(b.kind, b.hash), b.data)
        for (const p of m.presences) {
          if (p.type === Message.PresenceType.DONT_HAVE) this.settle(blockKey(p.kind, p.hash), null)
        }
      }
    } catch (err: any) {
      this.fail(err)
    }
  }

  private settle (key: string, data: BlockData | null): void {
    const want = this.pending.get(key)
    if (want === undefined) return // late reply to a cancelled want
    this.pending.delete(key)
    want.resolve(data)
  }

  private fail (err: Error, graceful = false): void {
    if (this.closedWith !== undefined) return
    this.closedWith = err
    log('session with %s ended: %s', this.peer, err.message)
    const gone = new PeerGoneError(`session with ${this.peer} ended`, { cause: err })
    for (const w of this.pending.values()) w.reject(gone)
    this.pending.clear()
    if (this.stream.status !== 'open') return
    if (graceful) this.stream.close().catch(e => { this.stream.abort(e) })
    else this.stream.abort(err)
  }

  close (): void {
    this.fail(new PeerGoneError('closed locally'), true)
  }
}
