import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

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
  /** Interim mode: message routing is not integrated; the state machine is the stream-only stand-in. */
  stateMachine: 'message-routing' | 'interim-stream-load'
  uptimeSeconds: number
}

export interface ReplicaHttpHandlers {
  health(): Health
  metrics(): Promise<{ contentType: string, body: string }>
  /** Cross-subnet load statistics of this node's subnet. */
  load(): unknown
  /** The state root this node computed at `height` (hex), while it still keeps it. */
  stateRoot(height: number): string | undefined
}

function json (res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

/**
 * The replica's operational HTTP endpoint: `/health` (JSON), `/metrics`
 * (Prometheus text) and `/api/load` (JSON). Only GET; small bounded answers.
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
      if (req.method !== 'GET') { json(res, 405, { error: 'method not allowed' }); return }
      const path = (req.url ?? '/').split('?')[0]
      if (path === '/health') {
        const h = this.handlers.health()
        json(res, h.status === 'ok' ? 200 : 503, h)
      } else if (path === '/metrics') {
        const { contentType, body } = await this.handlers.metrics()
        res.writeHead(200, { 'content-type': contentType })
        res.end(body)
      } else if (path === '/api/load') {
        json(res, 200, this.handlers.load())
      } else if (path?.startsWith('/api/state-root/') === true && /^\d{1,15}$/.test(path.slice(16))) {
        const height = Number(path.slice(16))
        const root = this.handlers.stateRoot(height)
        if (root === undefined) json(res, 404, { error: 'state root not kept', height })
        else json(res, 200, { height, stateRoot: root })
      } else {
        json(res, 404, { error: 'not found', paths: ['/health', '/metrics', '/api/load', '/api/state-root/<height>'] })
      }
    } catch (err: any) {
      json(res, 500, { error: err?.message ?? 'internal error' })
    }
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
