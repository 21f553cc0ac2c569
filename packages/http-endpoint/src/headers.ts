/**
 * One request header by name, read from `rawHeaders`. `req.headers` builds an
 * object of every header on first use; the POST path needs two of them.
 * Like node:http for these fields, the first occurrence counts.
 */
import type { IncomingMessage } from 'node:http'

/** `name` in lower case. */
export function requestHeader (req: IncomingMessage, name: string): string | undefined {
  const raw = req.rawHeaders
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const key = raw[i]!
    if (key.length === name.length && key.toLowerCase() === name) return raw[i + 1]
  }
  return undefined
}
