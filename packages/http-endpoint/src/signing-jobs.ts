/**
 * The work a signing thread does, and its wire form between threads. Two
 * kinds of job: a bare message to sign, and a whole query answer (see
 * query-answer.ts). A batch travels as one buffer (transferred, not copied): per job a kind
 * byte and length-prefixed fields, big-endian.
 */
import type { QueryOutcome } from './backend.js'
import { queryAnswer, type QueryAnswerJob } from './query-answer.js'

export type SigningJob =
  | { kind: 'sign', message: Uint8Array }
  | { kind: 'answer', job: QueryAnswerJob }

const SIGN = 0
const ANSWER = 1
const REPLIED = 0
const REJECTED = 1
const utf8 = new TextEncoder()

/** What a job gives: a 64-byte signature, or an answer's CBOR. */
export function runSigningJob (job: SigningJob, sign: (message: Uint8Array) => Uint8Array, nodeId: Uint8Array): Uint8Array {
  return job.kind === 'sign' ? sign(job.message) : queryAnswer(job.job, sign, nodeId)
}

/** Packs jobs into one buffer. */
export function encodeSigningJobs (jobs: readonly SigningJob[]): Uint8Array<ArrayBuffer> {
  const texts: Array<Uint8Array | undefined> = []
  let size = 0
  for (const j of jobs) {
    if (j.kind === 'sign') {
      size += 1 + 4 + j.message.length
      continue
    }
    const a = j.job
    size += 1 + 1 + 4 + (a.requestId ?? a.envelope!).length + 8 + 1
    if (a.outcome.status === 'replied') size += 4 + a.outcome.reply.length
    else {
      const message = utf8.encode(a.outcome.rejectMessage)
      const code = a.outcome.errorCode === undefined ? undefined : utf8.encode(a.outcome.errorCode)
      texts.push(message, code)
      size += 4 + 4 + message.length + 1 + 4 + (code?.length ?? 0)
    }
  }
  // A buffer of its own (never node's shared pool): it is transferred to the thread.
  const out = Buffer.allocUnsafeSlow(size)
  let at = 0
  const bytes = (b: Uint8Array): void => {
    out.writeUInt32BE(b.length, at)
    out.set(b, at + 4)
    at += 4 + b.length
  }
  let t = 0
  for (const j of jobs) {
    if (j.kind === 'sign') {
      out[at++] = SIGN
      bytes(j.message)
      continue
    }
    const a = j.job
    out[at++] = ANSWER
    out[at++] = a.requestId !== undefined ? 1 : 0
    bytes(a.requestId ?? a.envelope!)
    out.writeBigUInt64BE(a.timestampNs, at)
    at += 8
    if (a.outcome.status === 'replied') {
      out[at++] = REPLIED
      bytes(a.outcome.reply)
    } else {
      out[at++] = REJECTED
      out.writeUInt32BE(a.outcome.rejectCode, at)
      at += 4
      bytes(texts[t++]!)
      const code = texts[t++]
      out[at++] = code === undefined ? 0 : 1
      bytes(code ?? new Uint8Array())
    }
  }
  return new Uint8Array(out.buffer as ArrayBuffer, out.byteOffset, at)
}

/** Unpacks what encodeSigningJobs packed (the byte strings are views of `data`). */
export function decodeSigningJobs (data: Uint8Array): SigningJob[] {
  const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  const jobs: SigningJob[] = []
  let at = 0
  const bytes = (): Uint8Array => {
    const n = b.readUInt32BE(at)
    const out = data.subarray(at + 4, at + 4 + n)
    at += 4 + n
    return out
  }
  const text = (): string => {
    const n = b.readUInt32BE(at)
    const out = b.toString('utf8', at + 4, at + 4 + n)
    at += 4 + n
    return out
  }
  while (at < b.length) {
    if (b[at++] === SIGN) {
      jobs.push({ kind: 'sign', message: bytes() })
      continue
    }
    const hasRequestId = b[at++] === 1
    const id = bytes()
    const timestampNs = b.readBigUInt64BE(at)
    at += 8
    let outcome: QueryOutcome
    if (b[at++] === REPLIED) outcome = { status: 'replied', reply: bytes() }
    else {
      const rejectCode = b.readUInt32BE(at)
      at += 4
      const rejectMessage = text()
      const hasCode = b[at++] === 1
      const errorCode = text()
      outcome = hasCode ? { status: 'rejected', rejectCode, rejectMessage, errorCode } : { status: 'rejected', rejectCode, rejectMessage }
    }
    jobs.push({ kind: 'answer', job: hasRequestId ? { requestId: id, outcome, timestampNs } : { envelope: id, outcome, timestampNs } })
  }
  return jobs
}
