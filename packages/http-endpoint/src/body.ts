/**
 * Reads a request body with a size bound (413, checked from Content-Length
 * first, then while streaming) and a time bound (408).
 */
import type { IncomingMessage } from 'node:http'
import { HttpRequestError } from './errors.js'

export async function readBody (req: IncomingMessage, maxBytes: number, timeoutMs: number): Promise<Uint8Array> {
  const declared = req.headers['content-length']
  if (declared !== undefined) {
    const n = Number(declared)
    if (!Number.isSafeInteger(n) || n < 0) throw new HttpRequestError(400, 'malformed-request', 'invalid Content-Length')
    if (n > maxBytes) throw new HttpRequestError(413, 'body-too-large', `request body of ${n} bytes exceeds the limit of ${maxBytes}`)
  }
  return await new Promise<Uint8Array>((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    let settled = false
    const finish = (err: HttpRequestError | undefined): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      req.off('data', onData)
      req.off('end', onEnd)
      req.off('error', onError)
      req.off('aborted', onAborted)
      if (err !== undefined) {
        // Stop reading: the connection is closed after the answer.
        req.pause()
        reject(err)
      } else {
        const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)
        resolve(new Uint8Array(body.buffer, body.byteOffset, body.byteLength))
      }
    }
    const onData = (chunk: Buffer): void => {
      size += chunk.length
      if (size > maxBytes) {
        finish(new HttpRequestError(413, 'body-too-large', `request body exceeds the limit of ${maxBytes} bytes`))
        return
      }
      chunks.push(chunk)
    }
    const onEnd = (): void => { finish(undefined) }
    const onError = (): void => { finish(new HttpRequestError(400, 'malformed-request', 'the request body could not be read')) }
    const onAborted = (): void => { finish(new HttpRequestError(400, 'malformed-request', 'the client aborted the request')) }
    const timer = setTimeout(() => { finish(new HttpRequestError(408, 'body-timeout', `request body not received within ${timeoutMs} ms`)) }, timeoutMs)
    req.on('data', onData)
    req.on('end', onEnd)
    req.on('error', onError)
    req.on('aborted', onAborted)
  })
}
