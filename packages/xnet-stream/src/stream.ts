import {
  MAX_SIGNALS,
  MAX_STREAM_MESSAGES,
  type RejectReason,
  SYSTEM_SUBNET_STREAM_MSG_LIMIT,
  TARGET_STREAM_SIZE_BYTES,
  isRejectReason,
  messageByteSize,
  type StreamMessage,
  type SubnetType
} from '@icnet/types'
import { InvalidSignalsError, StreamFullError } from './errors.js'

/** An explicit reject of one message of the reverse stream, by its index there. */
export interface RejectSignal {
  index: number
  reason: RejectReason
}

export interface StreamFlags {
  /** The sender only routes responses on this stream (IC: deprecated_responses_only). */
  responsesOnly: boolean
}

/** What a receiver learns about a stream: the part certified under `/streams/<subnet>/header`. */
export interface StreamHeader {
  begin: number
  end: number
  signalsEnd: number
  /** Ascending by index, every index below `signalsEnd`. */
  rejectSignals: RejectSignal[]
  flags: StreamFlags
}

export interface StreamLimits {
  /** Most messages the stream holds before it refuses more. */
  maxMessages: number
  /** Most message bytes (`messageByteSize`) it holds before it refuses more. */
  maxBytes: number
}

/** The IC's limits for a stream towards a subnet of the given type. */
export function streamLimitsFor (destination: SubnetType): StreamLimits {
  return {
    maxMessages: destination === 'system' ? SYSTEM_SUBNET_STREAM_MSG_LIMIT : MAX_STREAM_MESSAGES,
    maxBytes: TARGET_STREAM_SIZE_BYTES
  }
}

/** A message the remote subnet rejected, handed back by garbage collection. */
export interface RejectedMessage {
  index: number
  reason: RejectReason
  message: StreamMessage
}

export interface StreamInit {
  begin?: number
  signalsEnd?: number
  flags?: StreamFlags
  limits?: StreamLimits
}

/**
 * One direction of an XNet stream, as the sending subnet keeps it: messages
 * `[begin, end)` towards the destination, plus the signals (`signalsEnd`,
 * `rejectSignals`) this subnet owes for the reverse stream.
 *
 * Indices are safe integers (< 2^53): at a million messages a second that is
 * 285 years of traffic on one stream.
 */
export class Stream {
  private _begin: number
  private readonly queue: StreamMessage[] = []
  private head = 0
  private _bytes = 0
  private _signalsEnd: number
  /** The reverse stream's `begin` as last seen: signals below it are no longer needed. */
  private _signalsBegin: number
  private readonly _rejectSignals: RejectSignal[] = []
  flags: StreamFlags
  readonly limits: StreamLimits

  constructor (init: StreamInit = {}) {
    this._begin = checkIndex(init.begin ?? 0, 'begin')
    this._signalsEnd = checkIndex(init.signalsEnd ?? 0, 'signalsEnd')
    this._signalsBegin = this._signalsEnd
    this.flags = { responsesOnly: false, ...init.flags }
    this.limits = init.limits ?? streamLimitsFor('application')
  }

  get begin (): number { return this._begin }
  get end (): number { return this._begin + this.length }
  get length (): number { return this.queue.length - this.head }
  /** Sum of `messageByteSize` over the messages held, maintained exactly on push and GC. */
  get byteSize (): number { return this._bytes }
  get signalsEnd (): number { return this._signalsEnd }
  get rejectSignals (): readonly RejectSignal[] { return this._rejectSignals }
  /** Signals this subnet still keeps for the reverse stream: the reverse sender has not GC'd them yet. */
  get signalCount (): number { return this._signalsEnd - this._signalsBegin }

  /** The IC's `count_bytes`: message bytes plus one byte per reject signal. */
  countBytes (): number { return this._bytes + this._rejectSignals.length }

  get (index: number): StreamMessage | undefined {
    if (!Number.isInteger(index) || index < this._begin || index >= this.end) return undefined
    return this.queue[this.head + index - this._begin]
  }

  * messages (from = this._begin, to = this.end): IterableIterator<[number, StreamMessage]> {
    const lo = Math.max(from, this._begin)
    const hi = Math.min(to, this.end)
    for (let i = lo; i < hi; i++) yield [i, this.queue[this.head + i - this._begin]!]
  }

  header (): StreamHeader {
    return {
      begin: this._begin,
      end: this.end,
      signalsEnd: this._signalsEnd,
      rejectSignals: this._rejectSignals.map(s => ({ ...s })),
      flags: { ...this.flags }
    }
  }

  /**
   * Whether `push(msg)` would succeed. An empty stream always accepts, so a message
   * as large as the byte limit can still leave.
   */
  canAccept (msg: StreamMessage): boolean {
    return this.refusal(messageByteSize(msg)) === undefined
  }

  /**
   * Appends a message and returns its index; at a limit throws `StreamFullError`
   * and takes nothing (the caller keeps the message queued).
   */
  push (msg: StreamMessage): number {
    const size = messageByteSize(msg)
    const refused = this.refusal(size)
    if (refused !== undefined) {
      throw new StreamFullError(refused, `stream at its ${refused} limit (${this.length} messages, ${this._bytes} bytes)`)
    }
    this.queue.push(msg)
    this._bytes += size
    return this.end - 1
  }

  /** Like `push`, but returns false instead of throwing when the stream is full. */
  tryPush (msg: StreamMessage): boolean {
    if (!this.canAccept(msg)) return false
    this.push(msg)
    return true
  }

  private refusal (size: number): 'messages' | 'bytes' | undefined {
    if (this.length === 0) return undefined
    if (this.length + 1 > this.limits.maxMessages) return 'messages'
    if (this._bytes + size > this.limits.maxBytes) return 'bytes'
    return undefined
  }

  /** The reverse stream's message at `signalsEnd` was inducted: an implicit accept. */
  pushAcceptSignal (): void {
    this._signalsEnd++
  }

  /** The reverse stream's message at `signalsEnd` was refused for `reason`. */
  pushRejectSignal (reason: RejectReason): void {
    if (!isRejectReason(reason)) throw new RangeError(`not a reject reason: ${String(reason)}`)
    this._rejectSignals.push({ index: this._signalsEnd, reason })
    this._signalsEnd++
  }

  /**
   * Garbage collection from the reverse stream's signals: drops every message below
   * `newSignalsEnd` and returns the rejected ones (by `rejectSignals`) with their
   * reasons, so the caller makes reject responses for requests and reroutes responses.
   * Signals for messages already collected are ignored. Signals that break the
   * stream's invariants (beyond `end`, not increasing, at or past `newSignalsEnd`)
   * throw `InvalidSignalsError` and change nothing.
   */
  discardMessagesBefore (newSignalsEnd: number, rejectSignals: readonly RejectSignal[]): RejectedMessage[] {
    validateSignals(newSignalsEnd, rejectSignals)
    if (newSignalsEnd > this.end) {
      throw new InvalidSignalsError(`signals_end ${newSignalsEnd} is beyond the stream end ${this.end}`)
    }
    const rejected: RejectedMessage[] = []
    if (newSignalsEnd <= this._begin) return rejected
    let r = 0
    while (r < rejectSignals.length && rejectSignals[r]!.index < this._begin) r++
    for (let i = this._begin; i < newSignalsEnd; i++) {
      const msg = this.queue[this.head]!
      this.queue[this.head] = undefined as unknown as StreamMessage
      this.head++
      this._bytes -= messageByteSize(msg)
      if (r < rejectSignals.length && rejectSignals[r]!.index === i) {
        rejected.push({ index: i, reason: rejectSignals[r]!.reason, message: msg })
        r++
      }
    }
    this._begin = newSignalsEnd
    // Compact once the dead prefix dominates, so memory follows the live length.
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head)
      this.head = 0
    }
    return rejected
  }

  /**
   * The reverse stream now begins at `begin`: our signals below it were seen by its
   * sender and are dropped.
   */
  discardSignalsBefore (begin: number): void {
    if (begin > this._signalsEnd) {
      throw new InvalidSignalsError(`reverse stream begin ${begin} is beyond our signals_end ${this._signalsEnd}`)
    }
    if (begin > this._signalsBegin) this._signalsBegin = begin
    let n = 0
    while (n < this._rejectSignals.length && this._rejectSignals[n]!.index < begin) n++
    if (n > 0) this._rejectSignals.splice(0, n)
  }

  /** Whether `n` more signals fit under MAX_SIGNALS (the IC's signal limit). */
  canTakeSignals (n: number, maxSignals = MAX_SIGNALS): boolean {
    return this.signalCount + n <= maxSignals
  }
}

/** Checks the reject-signal invariants: indices strictly increasing and below `signalsEnd`, known reasons. */
export function validateSignals (signalsEnd: number, rejectSignals: readonly RejectSignal[]): void {
  checkIndex(signalsEnd, 'signals_end')
  let prev = -1
  for (const s of rejectSignals) {
    if (!Number.isSafeInteger(s.index) || s.index <= prev) {
      throw new InvalidSignalsError(`reject signal indices not strictly increasing at ${s.index}`)
    }
    if (s.index >= signalsEnd) throw new InvalidSignalsError(`reject signal ${s.index} is not below signals_end ${signalsEnd}`)
    if (!isRejectReason(s.reason)) throw new InvalidSignalsError(`unknown reject reason ${s.reason}`)
    prev = s.index
  }
}

function checkIndex (n: number, what: string): number {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${what} must be a non-negative safe integer, got ${n}`)
  return n
}
