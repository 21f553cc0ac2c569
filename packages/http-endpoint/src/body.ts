/**
 * Reads a request body with a size bound (413, checked from Content-Length
 * first, then while streaming) and a time bound (408). Callback-based, with a
 * coarse deadline instead of a timer per request: it runs on every POST.
 * Memory grows with the bytes that actually arrive, never with what a client
 * declares.
 */
import type { IncomingMessage } from 'node:http'
import type { Deadlines } from './deadlines.js'
import { HttpRequestError } from './errors.js'
import { requestHeader } from './headers.js'

export type BodyCallback = (err: HttpRequestError | undefined, body: Uint8Array | undefined) => void

/** Reads the whole body of `req`, then calls `done` exactly once. */
export function readBody (req: IncomingMessage, maxBytes: number, timeoutMs: number, deadlines: Deadlines, done: BodyCallback): void {
  const declared = requestHeader(req, 'content-length')
  if (declared !== undefined) {
    const n = Number(declared)
    if (!Number.isSafeInteger(n) || n < 0) { done(new HttpRequestError(400, 'malformed-request', 'invalid Content-Length'), undefined); return }
    if (n > maxBytes) { done(new HttpRequestError(413, 'body-too-large', `request body of ${n} bytes exceeds the limit of ${maxBytes}`), undefined); return }
  }
  if (req.destroyed && !req.complete) {
    // The client went away while the request waited for a slot: its 'aborted' has already passed.
    done(new HttpRequestError(400, 'malformed-request', 'the client aborted the request'), undefined)
    return
  }
  let first: Buffer | undefined
  let more: Buffer[] | undefined
  let size = 0
  let settled = false
  const finish = (err: HttpRequestError | undefined): void => {
    if (settled) return
    settled = true
    deadline.cancel()
    req.off('data', onData)
    req.off('end', onEnd)
    req.off('error', onError)
    req.off('aborted', onAborted)
    if (err !== undefined) {
      // Stop reading: the connection is closed after the answer.
      req.pause()
      done(err, undefined)
      return
    }
    const body = more === undefined ? (first ?? Buffer.alloc(0)) : Buffer.concat([first!, ...more], size)
    done(undefined, new Uint8Array(body.buffer, body.byteOffset, body.byteLength))
  }
  const onData = (chunk: Buffer): void => {
    size += chunk.length
    if (size > maxBytes) {
      finish(new HttpRequestError(413, 'body-too-large', `request body exceeds the limit of ${maxBytes} bytes`))
      return
    }
    if (first === undefined) first = chunk
    else if (more === undefined) more = [chunk]
    else more.push(chunk)
  }
  const onEnd = (): void => { finish(undefined) }
  const onError = (): void => { finish(new HttpRequestError(400, 'malformed-request', 'the request body could not be read')) }
  const onAborted = (): void => { finish(new HttpRequestError(400, 'malformed-request', 'the client aborted the request')) }
  const deadline = deadlines.after(timeoutMs, () => { finish(new HttpRequestError(408, 'body-timeout', `request body not received within ${timeoutMs} ms`)) })
  req.on('data', onData)
  req.on('end', onEnd)
  req.on('error', onError)
  req.on('aborted', onAborted)
}
