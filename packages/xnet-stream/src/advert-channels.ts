/**
 * The sending side of `/icnet/xnet/advert/1.0.0`: one long-lived stream per
 * receiving node, carrying one length-prefixed advert after another. A node
 * advertises every height it certifies to every node of each destination
 * subnet; a new stream for each advert cost a protocol negotiation and a
 * peer-store write on both ends (docs/benchmarks/xnet.md, "Ninth revision").
 *
 * A stream is reused only while both of its directions are open: a receiver
 * that is done with it (idle for long, or one that reads a single advert per
 * stream) closes its side, and the next advert goes out on a new stream. A
 * write that fails is retried once on a new stream. Adverts are hints (a lost
 * one costs the receiver at most its quiet-subnet poll), so nothing more is
 * done to deliver them.
 */
import { lpStream, type LengthPrefixedStream } from '@libp2p/utils'
import type { Stream } from '@libp2p/interface'
import type { NodeId } from '@icnet/types'
import { ADVERT_CHANNEL_IDLE_MS, MAX_ADVERT_BYTES, MAX_ADVERT_CHANNELS } from './constants.js'

interface Channel {
  stream: Stream
  lp: LengthPrefixedStream<Stream>
  /** Writes go out one after another; each waits for the previous. */
  tail: Promise<void>
  lastWriteAt: number
}

export interface AdvertChannelsInit {
  /** Opens a new advert stream to `node`. */
  open(node: NodeId, signal: AbortSignal): Promise<Stream>
}

/** At most MAX_ADVERT_CHANNELS streams (one per receiving node); the least recently used is closed beyond it. */
export class AdvertChannels {
  private readonly channels = new Map<NodeId, Promise<Channel>>()

  constructor (private readonly init: AdvertChannelsInit) {}

  /** Sends one encoded advert to `node`; rejects if a new stream could not carry it either. */
  async send (node: NodeId, advert: Uint8Array, signal: AbortSignal): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      // A channel whose open failed, or whose stream is aborted below, is dropped by the next channelTo.
      const channel = await this.channelTo(node, signal)
      try {
        await this.write(channel, advert, signal)
        return
      } catch (err) {
        channel.stream.abort(err instanceof Error ? err : new Error(String(err)))
        if (attempt >= 1) throw err
      }
    }
  }

  /** Closes every stream (the service is stopping). */
  async close (): Promise<void> {
    const all = [...this.channels.values()]
    this.channels.clear()
    await Promise.allSettled(all.map(async pending => { await (await pending).stream.close() }))
  }

  private async channelTo (node: NodeId, signal: AbortSignal): Promise<Channel> {
    const existing = this.channels.get(node)
    if (existing !== undefined) {
      const channel = await existing.catch(() => undefined)
      if (channel !== undefined && this.usable(channel)) {
        // Most recently used last, so the first entry is the one to evict.
        this.channels.delete(node)
        this.channels.set(node, existing)
        return channel
      }
      this.forget(node, existing)
      if (channel !== undefined) void channel.stream.close().catch(() => {})
    }
    const pending = this.openChannel(node, signal)
    this.channels.set(node, pending)
    this.evictBeyondLimit()
    return pending
  }

  private async openChannel (node: NodeId, signal: AbortSignal): Promise<Channel> {
    const stream = await this.init.open(node, signal)
    return { stream, lp: lpStream(stream, { maxDataLength: MAX_ADVERT_BYTES }), tail: Promise.resolve(), lastWriteAt: Date.now() }
  }

  private usable (channel: Channel): boolean {
    const s = channel.stream
    return s.status === 'open' && s.writeStatus === 'writable' && s.remoteWriteStatus === 'writable' &&
      Date.now() - channel.lastWriteAt < ADVERT_CHANNEL_IDLE_MS
  }

  private async write (channel: Channel, advert: Uint8Array, signal: AbortSignal): Promise<void> {
    const next = channel.tail.then(async () => { await channel.lp.write(advert, { signal }) })
    channel.tail = next.catch(() => {})
    await next
    channel.lastWriteAt = Date.now()
  }

  private forget (node: NodeId, pending: Promise<Channel>): void {
    if (this.channels.get(node) === pending) this.channels.delete(node)
  }

  private evictBeyondLimit (): void {
    while (this.channels.size > MAX_ADVERT_CHANNELS) {
      const [node, oldest] = this.channels.entries().next().value!
      this.channels.delete(node)
      void oldest.then(async c => { await c.stream.close() }).catch(() => {})
    }
  }
}
