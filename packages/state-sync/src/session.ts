import { logger } from '@libp2p/logger'
import { deferred } from './deferred.js'
import type { Stream, StreamCloseEvent, StreamMessageEvent } from '@libp2p/interface'
import { IcnetError } from '@icnet/types'
import { ChunkBufferPool, releaseChunk } from './block-buffers.js'
import { MAX_MESSAGE_BYTES, MAX_WANTLIST_ENTRIES, SESSION_POOL_KEEP } from './constants.js'
import { FrameReader } from './frame-reader.js'
import { blockKey, encodeMessage, Message, varint } from './messages.js'
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

/**
 * Unread bytes a session may hold: it never pauses its stream and takes frames apart as
 * they arrive, so this is one frame in progress; kept for the serving side's reader.
 */
export const READ_BUFFER_BYTES = MAX_MESSAGE_BYTES * 8

export interface PeerSessionOptions {
  /**
   * Where received chunks are streamed to; they go back to it once written. Default: a
   * pool of the session's own that keeps SESSION_POOL_KEEP buffers. `StateSyncService.sync`
   * passes one pool to all its sessions.
   */
  pool?: ChunkBufferPool
}

/**
 * The client side of one session stream: want-block entries go out (batched per tick),
 * blocks and dont-have presences come back and settle the matching want. Incoming bytes
 * are taken apart as they arrive (`FrameReader`): a chunk's bytes go straight into a
 * pooled buffer, where the downloader hashes and writes them.
 */
export class PeerSession implements BlockSource {
  readonly peer: string
  private readonly pending = new Map<string, Want>()
  private outbox: Message.WantEntry[] = []
  private flushScheduled = false
  private waitingForDrain = false
  private closedWith?: Error
  private readonly pool: ChunkBufferPool
  private readonly reader: FrameReader
  private readonly onMessage = (evt: StreamMessageEvent): void => {
    try { this.reader.push(evt.data) } catch (err) { this.fail(err as Error) }
  }

  private readonly onRemoteClose = (): void => { this.fail(new PeerGoneError('remote closed the session')) }
  private readonly onClose = (evt: StreamCloseEvent): void => { this.fail(evt.error ?? new PeerGoneError('session stream closed')) }
  private readonly onDrain = (): void => { this.waitingForDrain = false; this.flush() }

  constructor (private readonly stream: Stream, peer: string, opts: PeerSessionOptions = {}) {
    this.peer = peer
    this.pool = opts.pool ?? new ChunkBufferPool(SESSION_POOL_KEEP)
    this.reader = new FrameReader({
      block: (kind, hash, data) => { this.settle(blockKey(kind, hash), data) },
      message: (m) => {
        for (const b of m.blocks) this.settle(blockKey(b.kind, b.hash), b.data)
        for (const p of m.presences) {
          if (p.type === Message.PresenceType.DONT_HAVE) this.settle(blockKey(p.kind, p.hash), null)
        }
      }
    }, this.pool)
    stream.addEventListener('message', this.onMessage)
    stream.addEventListener('remoteCloseWrite', this.onRemoteClose)
    stream.addEventListener('close', this.onClose)
    stream.addEventListener('drain', this.onDrain)
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
    queueMicrotask(() => { this.flushScheduled = false; this.flush() })
  }

  /** Sends the outbox in frames of up to MAX_WANTLIST_ENTRIES; waits for 'drain' when the stream asks for it. */
  private flush (): void {
    try {
      while (this.outbox.length > 0 && this.closedWith === undefined && !this.waitingForDrain) {
        const wantlist = this.outbox.splice(0, MAX_WANTLIST_ENTRIES)
        const body = encodeMessage({ wantlist })
        const prefix = varint(body.length)
        const frame = new Uint8Array(prefix.length + body.length)
        frame.set(prefix, 0)
        frame.set(body, frame.length - body.length)
        if (!this.stream.send(frame)) this.waitingForDrain = true
      }
    } catch (err) {
      this.fail(err as Error)
    }
  }

  private settle (key: string, data: BlockData | null): void {
    const want = this.pending.get(key)
    if (want === undefined) {
      // A late reply to a cancelled want: its buffer can be reused at once.
      if (data !== null) releaseChunk(data)
      return
    }
    this.pending.delete(key)
    want.resolve(data)
  }

  private fail (err: Error, graceful = false): void {
    if (this.closedWith !== undefined) return
    this.closedWith = err
    log('session with %s ended: %s', this.peer, err.message)
    this.stream.removeEventListener('message', this.onMessage)
    this.stream.removeEventListener('remoteCloseWrite', this.onRemoteClose)
    this.stream.removeEventListener('close', this.onClose)
    this.stream.removeEventListener('drain', this.onDrain)
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
