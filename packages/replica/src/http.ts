import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { IngressStatus } from '@icnet/message-routing'
import { IcnetError, fromHex, toHex } from '@icnet/types'
import { MAX_ADMIN_BODY_BYTES, type FaultsAdmin } from './faults/injector.js'

/** Largest ingress submission body: a 2 MiB argument in hex plus the envelope. */
export const MAX_INGRESS_BODY_BYTES = 4 * 1024 * 1024 + 4096

/** An ingress message as submitted to `POST /api/ingress` (JSON: `{canisterId, method, arg: hex, nonce?: hex, expiry?: ms}`). */
export interface IngressSubmission {
  canisterId: string
  method: string
  arg: Uint8Array
  /** Distinguishes otherwise equal submissions (e.g. the same `configure` sent again later). */
  nonce?: Uint8Array
  /** ms since the epoch; default: 4 minutes from now. */
  expiry?: number
}
/** What `/health` reports. */
export interface Health {
  status: 'ok' | 'starting' | 'stopping'
  nodeId: string
  subnetId: string
  rootSubnet: boolean
  /** Latest executed height. */
  height: number
  /** Latest height whose state the subnet certified (and this node serves slices from). */
  certifiedHeight: number
  finalizedHeight: number
  /** The certified state root at `certifiedHeight`, hex. */
  certifiedStateRoot?: string
  peers: number
  stateMachine: 'message-routing'
  uptimeSeconds: number
}

export interface ReplicaHttpHandlers {
  health(): Health
  metrics(): Promise<{ contentType: string, body: string }>
  /** Cross-subnet load statistics of this node's subnet. */
  load(): Promise<unknown>
  /** The state root this node computed at `height` (hex), while it still keeps it. */
  stateRoot(height: number): string | undefined
  /** Validates and pools an ingress message; throws a typed error when it is refused. */
  submitIngress(sub: IngressSubmission): { requestId: string, status: 'accepted' | 'known' }
  ingressStatus(requestId: Uint8Array): IngressStatus | undefined
  /** The IC interface specification's API (`/api/v2/…`, `/api/v3/…`), when the node serves it. */
  publicApi?: { owns(path: string): boolean, handle(req: IncomingMessage, res: ServerResponse): void }
  /** The fault admin routes (`/api/faults/…`), only on a node configured with `faults.admin`. */
  faultsAdmin?: FaultsAdmin
}

async function readBody (req: IncomingMessage, max: number): Promise<string | undefined> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length
    if (size > max) return undefined
    chunks.push(c)
  }
  return Buffer.concat(chunks).toString('utf8')
}

const HEX = /^(?:[0-9a-f]{2})*$/

function parseSubmission (text: string): IngressSubmission | string {
  let j: any
  try { j = JSON.parse(text) } catch { return 'body is not JSON' }
  if (typeof j?.canisterId !== 'string' || typeof j.method !== 'string' || j.method.length > 255) return 'canisterId and method (at most 255 characters) are required'
  if (typeof j.arg !== 'string' || !HEX.test(j.arg)) return 'arg must be lower-case hex'
  if (j.nonce !== undefined && (typeof j.nonce !== 'string' || !HEX.test(j.nonce) || j.nonce.length > 128)) return 'nonce must be hex, at most 64 bytes'
  if (j.expiry !== undefined && !Number.isSafeInteger(j.expiry)) return 'expiry must be ms since the epoch'
  return {
    canisterId: j.canisterId,
    method: j.method,
    arg: fromHex(j.arg),
    ...(j.nonce !== undefined ? { nonce: fromHex(j.nonce) } : {}),
    ...(j.expiry !== undefined ? { expiry: j.expiry } : {})
  }
}

function json (res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

/**
 * The replica's operational HTTP endpoint: `/health` (JSON), `/metrics`
 * (Prometheus text), `/api/load` (JSON), and a plain ingress submission
 * (`POST /api/ingress`, status at `/api/ingress/<id>`) for the command line and
 * the testnet runner. Small bounded requests and answers.
 */
export class ReplicaHttpServer {
  private readonly server: Server
  private readonly handlers: ReplicaHttpHandlers

  constructor (handlers: ReplicaHttpHandlers) {
    this.handlers = handlers
    this.server = createServer((req, res) => { void this.route(req, res) })
    // Keep-alive sockets from pollers must not hold a shutdown open.
    this.server.keepAliveTimeout = 2_000
    this.server.headersTimeout = 5_000
    this.server.requestTimeout = 10_000
  }

  private async route (req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const path = (req.url ?? '/').split('?')[0]
      if (path !== undefined && this.handlers.publicApi?.owns(path) === true) { this.handlers.publicApi.handle(req, res); return }
      if (req.method === 'POST' && path === '/api/ingress') {
        const body = await readBody(req, MAX_INGRESS_BODY_BYTES)
        if (body === undefined) { json(res, 413, { error: `body over ${MAX_INGRESS_BODY_BYTES} bytes` }); return }
        const sub = parseSubmission(body)
        if (typeof sub === 'string') { json(res, 400, { error: sub }); return }
        try {
          json(res, 202, this.handlers.submitIngress(sub))
        } catch (err) {
          if (!(err instanceof IcnetError)) throw err
          json(res, err.code === 'ERR_QUEUE_FULL' ? 429 : 400, { error: err.message, code: err.code, ...('reason' in err ? { reason: (err as { reason: unknown }).reason } : {}) })
        }
        return
      }
      if (path === '/api/faults/partition') { await this.routePartition(req, res); return }
      if (req.method !== 'GET') { json(res, 405, { error: 'method not allowed' }); return }
      if (path === '/health') {
        const h = this.handlers.health()
        json(res, h.status === 'ok' ? 200 : 503, h)
      } else if (path === '/metrics') {
        const { contentType, body } = await this.handlers.metrics()
        res.writeHead(200, { 'content-type': contentType })
        res.end(body)
      } else if (path === '/api/load') {
        json(res, 200, await this.handlers.load())
      } else if (path?.startsWith('/api/ingress/') === true && /^[0-9a-f]{64}$/.test(path.slice(13))) {
        const st = this.handlers.ingressStatus(fromHex(path.slice(13)))
        if (st === undefined) json(res, 404, { error: 'unknown request id' })
        else json(res, 200, { ...st, ...('reply' in st ? { reply: toHex(st.reply) } : {}) })
      } else if (path?.startsWith('/api/state-root/') === true && /^\d{1,15}$/.test(path.slice(16))) {
        const height = Number(path.slice(16))
        const root = this.handlers.stateRoot(height)
        if (root === undefined) json(res, 404, { error: 'state root not kept', height })
        else json(res, 200, { height, stateRoot: root })
      } else {
        json(res, 404, { error: 'not found', paths: ['/health', '/metrics', '/api/load', '/api/state-root/<height>', 'POST /api/ingress', '/api/ingress/<request id>'] })
      }
    } catch (err: any) {
      json(res, 500, { error: err?.message ?? 'internal error' })
    }
  }

  /** `POST` (`{"deny": [peer ids]}`) / `DELETE /api/faults/partition`: 204; 404 unless the node has the admin routes. */
  private async routePartition (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const admin = this.handlers.faultsAdmin
    if (admin == null) { json(res, 404, { error: 'not found' }); return }
    try {
      if (req.method === 'DELETE') {
        await admin.heal()
      } else if (req.method === 'POST') {
        const body = await readBody(req, MAX_ADMIN_BODY_BYTES)
        if (body === undefined) { json(res, 413, { error: `body over ${MAX_ADMIN_BODY_BYTES} bytes` }); return }
        let parsed: unknown
        try { parsed = JSON.parse(body) } catch { json(res, 400, { error: 'body is not JSON' }); return }
        await admin.partition(parsed)
      } else {
        json(res, 405, { error: 'method not allowed' }); return
      }
    } catch (err) {
      if (!(err instanceof IcnetError)) throw err
      json(res, 400, { error: err.message, code: err.code }); return
    }
    res.writeHead(204)
    res.end()
  }

  async listen (host: string, port: number): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(port, host, () => { this.server.off('error', reject); resolve() })
    })
    return this.server.address() as AddressInfo
  }

  async close (): Promise<void> {
    this.server.closeAllConnections()
    await new Promise<void>(resolve => { this.server.close(() => { resolve() }) })
  }
}
