import { decode, encode } from 'cborg'
import { isRejectReason } from '@icnet/types'
import { MAX_HEADER_BYTES, MAX_REJECT_SIGNAL_SPAN } from './constants.js'
import { InvalidSignalsError, SliceDecodeError, SliceIndicesError } from './errors.js'
import { validateSignals, type RejectSignal, type StreamHeader } from './stream.js'

/**
 * The certified form of a stream header, stored at `/streams/<subnet>/header`:
 *
 *   { "begin": uint, "end": uint, "signals_end": uint, "flags": uint,
 *     "reject_signals": [ [index: uint, reason: uint], ... ] }
 *
 * `flags` is a bit set (bit 0: responses only). Reject signals are a plain ascending
 * list of pairs (the IC delta-encodes one list per reason; a list of pairs carries the
 * same information and is simpler to check). Keys are in canonical CBOR order, so every
 * node produces identical bytes for the same header.
 */
const FLAG_RESPONSES_ONLY = 1

export function encodeStreamHeader (h: StreamHeader): Uint8Array {
  return encode({
    begin: h.begin,
    end: h.end,
    signals_end: h.signalsEnd,
    flags: h.flags.responsesOnly ? FLAG_RESPONSES_ONLY : 0,
    reject_signals: h.rejectSignals.map(s => [s.index, s.reason])
  })
}

/** Decodes and checks a header: bounded size, `begin ≤ end`, signals well formed and within the span limit. */
export function decodeStreamHeader (bytes: Uint8Array): StreamHeader {
  if (bytes.length > MAX_HEADER_BYTES) throw new SliceDecodeError(`stream header of ${bytes.length} bytes exceeds ${MAX_HEADER_BYTES}`)
  let v: unknown
  try {
    v = decode(bytes, { strict: true, rejectDuplicateMapKeys: true })
  } catch (err) {
    throw new SliceDecodeError('stream header is not canonical CBOR', { cause: err })
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array) {
    throw new SliceDecodeError('stream header must be a CBOR map')
  }
  const m = v as Record<string, unknown>
  if (Object.keys(m).length !== 5) throw new SliceDecodeError('stream header must have exactly five fields')
  const begin = uint(m.begin, 'begin')
  const end = uint(m.end, 'end')
  const signalsEnd = uint(m.signals_end, 'signals_end')
  const flags = uint(m.flags, 'flags')
  if ((flags & ~FLAG_RESPONSES_ONLY) !== 0) throw new SliceDecodeError(`unknown stream flags ${flags}`)
  if (!Array.isArray(m.reject_signals)) throw new SliceDecodeError('reject_signals must be an array')
  if (m.reject_signals.length > MAX_REJECT_SIGNAL_SPAN) throw new InvalidSignalsError(`${m.reject_signals.length} reject signals exceed ${MAX_REJECT_SIGNAL_SPAN}`)
  const rejectSignals: RejectSignal[] = m.reject_signals.map((e: unknown) => {
    if (!Array.isArray(e) || e.length !== 2) throw new SliceDecodeError('a reject signal must be [index, reason]')
    const reason = uint(e[1], 'reason')
    if (!isRejectReason(reason)) throw new InvalidSignalsError(`unknown reject reason ${reason}`)
    return { index: uint(e[0], 'index'), reason }
  })
  if (begin > end) throw new SliceIndicesError(`header begin ${begin} > end ${end}`)
  validateSignals(signalsEnd, rejectSignals)
  if (rejectSignals.length > 0 && signalsEnd - rejectSignals[0]!.index > MAX_REJECT_SIGNAL_SPAN) {
    throw new InvalidSignalsError(`reject signals span ${signalsEnd - rejectSignals[0]!.index} > ${MAX_REJECT_SIGNAL_SPAN}`)
  }
  return { begin, end, signalsEnd, rejectSignals, flags: { responsesOnly: (flags & FLAG_RESPONSES_ONLY) !== 0 } }
}

function uint (v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new SliceDecodeError(`${what} must be an unsigned integer below 2^53`)
  return v
}
