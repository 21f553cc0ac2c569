/**
 * The public HTTP interface of an icnet node: the IC interface
 * specification's status, call (v2 async, v3 sync), query and read_state
 * endpoints, over node:http, with load shed early (bounded per-endpoint
 * queues, body and time limits, connection limits).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { availableParallelism } from 'node:os'
import { logger } from '@libp2p/logger'
import { equalBytes, IcnetError, LruMap, MANAGEMENT_CANISTER_ID, type Metrics, Principal, principalEquals } from '@icnet/types'
import { AdmissionQueue, type Release } from './admission.js'
import { authenticate, checkIngressExpiry } from './auth.js'
import type { HttpBackend, QueryOutcome } from './backend.js'
import { readBody } from './body.js'
import { encodeAnswer, encodeSignedReply, type AnswerValue } from './cbor-encode.js'
import * as C from './constants.js'
import { Deadlines } from './deadlines.js'
import { LoopLoad } from './loop-load.js'
import { requestHeader } from './headers.js'
import { parseEnvelope, type CallContent, type Envelope } from './envelope.js'
import { badRequest, HttpRequestError, type RefusalReason } from './errors.js'
import { managementEffectiveCanisterId } from './management-candid.js'
import { httpMetrics, type HttpMetrics } from './metrics.js'
import { queryResponseMessage } from './query-signature.js'
import { checkReadStatePaths, type ReadStateTarget } from './read-state-paths.js'

const log = logger('icnet:http-endpoint:server')

/** The endpoints, as metric labels and admission queues. */
const ENDPOINT_NAMES = ['status', 'call_v2', 'call_v3', 'query', 'read_state', 'read_state_subnet', 'health', 'metrics', 'unknown'] as const
export type EndpointName = (typeof ENDPOINT_NAMES)[number]
const QUEUED_ENDPOINTS = ['call_v2', 'call_v3', 'query', 'read_state', 'read_state_subnet'] as const
/** One `{ endpoint }` label set per endpoint, made once: the metric calls on every request allocate none. */
const ENDPOINT_LABELS = Object.fromEntries(ENDPOINT_NAMES.map(e => [e, Object.freeze({ endpoint: e })])) as Record<EndpointName, Readonly<{ endpoint: EndpointName }>>
function labelsOf (endpoint: EndpointName): Readonly<{ endpoint: EndpointName }> { return ENDPOINT_LABELS[endpoint] }

export interface MetricsExposition {
  contentType: string
  body: string | Uint8Array
}

export interface HttpEndpointOptions {
  backend: HttpBackend
  /** Listen address (default 127.0.0.1) and port (default 0: any free port). */
  host?: string
  port?: number
  maxBodyBytes?: number
  /** Per endpoint: requests processed at once, and waiting behind them (429 beyond). */
  maxConcurrent?: number
  maxQueued?: number
  maxSyncWaiters?: number
  syncCallTimeoutMs?: number
  bodyReadTimeoutMs?: number
  handlerTimeoutMs?: number
  headersTimeoutMs?: number
  requestTimeoutMs?: number
  keepAliveTimeoutMs?: number
  maxConnections?: number
  maxHeaderBytes?: number
  metrics?: Metrics
  /** Serves GET /metrics (the replica plugs in its Prometheus registry); 404 without it. */
  metricsHandler?: () => MetricsExposition | Promise<MetricsExposition>
  /** Clock in milliseconds since the epoch (default Date.now). */
  now?: () => number
  /**
   * Sign query answers in the signer's signing thread while the event loop is
   * busy (default: with at least OFF_THREAD_SIGNING_MIN_CORES cores); false:
   * always on the loop.
   */
  offThreadSigning?: boolean
  /**
   * Writes the CBOR answers made during one turn of the event loop together,
   * at its end (setImmediate), rather than each as it is made (default true).
   * Under load a turn reads many requests; a client then learns of its
   * answers once per turn instead of once per answer, and the node pays for
   * one wake-up of a waiting reader per turn (on loopback, where the kernel
   * delivers inside the sender's write, that was ~4 µs per query). Answers
   * wait at most until the end of the turn; the batch holds only answered
   * requests of that turn, which admission bounds.
   */
  batchWrites?: boolean
}

const ROUTE = /^\/api\/(v2|v3)\/(canister|subnet)\/([^/]+)\/(call|query|read_state)$/

export class HttpEndpoint {
  readonly #backend: HttpBackend
  readonly #options: HttpEndpointOptions
  readonly #server: Server
  readonly #queues: Record<(typeof QUEUED_ENDPOINTS)[number], AdmissionQueue>
  readonly #metrics: HttpMetrics
  readonly #now: () => number
  readonly #sockets = new Set<Socket>()
  readonly #deadlines: Deadlines
  readonly #loopLoad = new LoopLoad()
  readonly #offThreadSigning: boolean
  readonly #batchWrites: boolean
  /** Answers made during this turn of the event loop, written at its end (batchWrites). */
  #pendingAnswers: PendingAnswer[] = []
  /** Ids parsed from URLs (textual principals carry a CRC32 and base32; clients send the same few ids again and again). */
  readonly #urlPrincipals = new LruMap<string, Principal>(C.URL_PRINCIPAL_CACHE_SIZE)
  readonly #maxBodyBytes: number
  readonly #bodyReadTimeoutMs: number
  readonly #handlerTimeoutMs: number
  readonly #syncCallTimeoutMs: number
  #syncWaiters = 0
  #url = ''

  constructor (options: HttpEndpointOptions) {
    this.#backend = options.backend
    this.#options = options
    this.#now = options.now ?? Date.now
    this.#metrics = httpMetrics(options.metrics)
    this.#maxBodyBytes = options.maxBodyBytes ?? C.DEFAULT_MAX_BODY_BYTES
    this.#bodyReadTimeoutMs = options.bodyReadTimeoutMs ?? C.DEFAULT_BODY_READ_TIMEOUT_MS
    this.#handlerTimeoutMs = options.handlerTimeoutMs ?? C.DEFAULT_HANDLER_TIMEOUT_MS
    this.#syncCallTimeoutMs = options.syncCallTimeoutMs ?? C.DEFAULT_SYNC_CALL_TIMEOUT_MS
    this.#offThreadSigning = options.offThreadSigning ?? availableParallelism() >= C.OFF_THREAD_SIGNING_MIN_CORES
    this.#batchWrites = options.batchWrites ?? true
    // A quarter of the shortest limit, at most DEADLINE_RESOLUTION_MS: limits hold to within 25 %.
    const shortest = Math.min(this.#bodyReadTimeoutMs, this.#handlerTimeoutMs, this.#syncCallTimeoutMs)
    this.#deadlines = new Deadlines(Math.max(1, Math.min(C.DEADLINE_RESOLUTION_MS, Math.floor(shortest / 4))))
    const maxConcurrent = options.maxConcurrent ?? C.DEFAULT_MAX_CONCURRENT
    const maxQueued = options.maxQueued ?? C.DEFAULT_MAX_QUEUED
    this.#queues = Object.fromEntries(QUEUED_ENDPOINTS.map(e => [e, new AdmissionQueue(maxConcurrent, maxQueued)])) as Record<(typeof QUEUED_ENDPOINTS)[number], AdmissionQueue>
    this.#server = createServer({
      maxHeaderSize: options.maxHeaderBytes ?? C.DEFAULT_MAX_HEADER_BYTES,
      headersTimeout: options.headersTimeoutMs ?? C.DEFAULT_HEADERS_TIMEOUT_MS,
      requestTimeout: options.requestTimeoutMs ?? C.DEFAULT_REQUEST_TIMEOUT_MS,
      keepAliveTimeout: options.keepAliveTimeoutMs ?? C.DEFAULT_KEEP_ALIVE_TIMEOUT_MS
    }, (req, res) => { this.#handle(req, res) })
    this.#server.maxConnections = options.maxConnections ?? C.DEFAULT_MAX_CONNECTIONS
    this.#server.on('connection', socket => {
      this.#sockets.add(socket)
      this.#metrics.connections.inc()
      socket.once('close', () => {
        this.#sockets.delete(socket)
        this.#metrics.connections.dec()
      })
    })
    this.#server.on('clientError', (err, socket) => {
      // Malformed HTTP, header timeouts and oversized headers: answer if the socket still can.
      const code = (err as { code?: string }).code
      const status = code === 'HPE_HEADER_OVERFLOW' ? 431 : code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400
      if (socket.writable) socket.end(`HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
      else socket.destroy()
    })
  }

  /** The base URL, e.g. http://127.0.0.1:4943, once started. */
  get url (): string { return this.#url }
  get address (): AddressInfo { return this.#server.address() as AddressInfo }
  /** Whether query answers are signed in the signing thread while the event loop is busy (see HttpEndpointOptions). */
  get offThreadSigning (): boolean { return this.#offThreadSigning }
  /** Whether the answers of one turn of the event loop are written together at its end (see HttpEndpointOptions). */
  get batchWrites (): boolean { return this.#batchWrites }
  /** Requests waiting for an admission slot, per endpoint (for tests and progress displays). */
  queueDepth (): Record<string, number> {
    return Object.fromEntries(Object.entries(this.#queues).map(([k, q]) => [k, q.queued]))
  }

  /**
   * Serves one request that arrived on another server: a node whose HTTP port
   * already serves other routes hands the interface's paths (`/api/v2/…`,
   * `/api/v3/…`) to the endpoint, which then needs no listener of its own
   * (the per-endpoint queues, body limits and time limits all apply; the
   * connection limits are the other server's).
   */
  handleRequest (req: IncomingMessage, res: ServerResponse): void {
    this.#handle(req, res)
  }

  async start (): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject)
      this.#server.listen(this.#options.port ?? 0, this.#options.host ?? '127.0.0.1', () => {
        this.#server.off('error', reject)
        resolve()
      })
    })
    const a = this.address
    this.#url = `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`
    log('listening on %s', this.#url)
  }

  async stop (): Promise<void> {
    if (!this.#server.listening) { this.#deadlines.clear(); return }
    const closed = new Promise<void>(resolve => { this.#server.close(() => { resolve() }) })
    this.#server.closeIdleConnections()
    for (const s of this.#sockets) s.destroy()
    await closed
    this.#deadlines.clear()
  }

  #handle (req: IncomingMessage, res: ServerResponse): void {
    const started = performance.now()
    let endpoint: EndpointName = 'unknown'
    let inFlight = false
    // 'close' comes once for every response, answered or abandoned: one listener keeps every count.
    res.on('close', () => {
      const labels = labelsOf(endpoint)
      if (inFlight) this.#metrics.inFlight.dec(1, labels)
      this.#metrics.duration.observe((performance.now() - started) / 1000, labels)
      this.#metrics.requests.inc(1, { endpoint, status: res.writableFinished ? res.statusCode : 'aborted' })
    })
    const url = req.url ?? '/'
    const query = url.indexOf('?')
    const pathname = query === -1 ? url : url.slice(0, query)
    if (pathname === '/api/v2/status') {
      endpoint = 'status'
      if (!this.#method(req, res, 'GET')) return
      this.#cbor(res, 200, this.#status())
      return
    }
    if (pathname === '/health') {
      endpoint = 'health'
      if (!this.#method(req, res, 'GET')) return
      const health = this.#backend.health()
      this.#text(res, health === 'healthy' ? 200 : 503, health)
      return
    }
    if (pathname === '/metrics' && this.#options.metricsHandler !== undefined) {
      endpoint = 'metrics'
      if (!this.#method(req, res, 'GET')) return
      Promise.resolve(this.#options.metricsHandler()).then(m => {
        res.writeHead(200, { 'Content-Type': m.contentType })
        res.end(m.body)
      }, err => { this.#fail(res, err) })
      return
    }
    const m = ROUTE.exec(pathname)
    if (m === null) {
      this.#refuse(res, new HttpRequestError(404, 'not-found', `no such endpoint: ${pathname.slice(0, 100)}`))
      return
    }
    const [, version, scope, id, kind] = m as unknown as [string, 'v2' | 'v3', 'canister' | 'subnet', string, 'call' | 'query' | 'read_state']
    // read_state and query mean the same in v2 and v3 (v3 differs only in the delegation's form of the routing table,
    // see docs/http-interface.md), so both versions share a handler, queue and metric label; call v3 is the synchronous call.
    if (kind === 'read_state') endpoint = scope === 'canister' ? 'read_state' : 'read_state_subnet'
    else if (scope === 'canister' && kind === 'call') endpoint = version === 'v2' ? 'call_v2' : 'call_v3'
    else if (scope === 'canister' && kind === 'query') endpoint = 'query'
    else {
      this.#refuse(res, new HttpRequestError(404, 'not-found', `/api/${version}/${scope}/<id>/${kind} is not served by this node`))
      return
    }
    if (!this.#method(req, res, 'POST')) return
    const rawContentType = requestHeader(req, 'content-type') ?? ''
    // What agents send, compared as is; anything else is normalised (parameters, case, spaces) first.
    const contentType = rawContentType === 'application/cbor' ? rawContentType : rawContentType.split(';', 1)[0]!.trim().toLowerCase()
    if (contentType !== 'application/cbor') {
      this.#refuse(res, new HttpRequestError(415, 'unsupported-media-type', `Content-Type must be application/cbor, not "${contentType.slice(0, 60)}"`), true)
      return
    }
    const queue = this.#queues[endpoint as (typeof QUEUED_ENDPOINTS)[number]]
    const ep = endpoint
    const labels = labelsOf(ep)
    inFlight = true
    this.#metrics.inFlight.inc(1, labels)
    const admitted = queue.tryRun(release => {
      this.#metrics.queued.set(queue.queued, labels)
      this.#admitted(ep, id, req, res, release)
    })
    if (!admitted) {
      res.setHeader('Retry-After', '1')
      this.#refuse(res, new HttpRequestError(429, 'overloaded', `the ${endpoint} queue is full (${queue.maxConcurrent} running, ${queue.maxQueued} waiting); retry later`), true)
      return
    }
    this.#metrics.queued.set(queue.queued, labels)
  }

  /** A request holding a processing slot: read its body, then dispatch under the handler time limit. */
  #admitted (endpoint: EndpointName, id: string, req: IncomingMessage, res: ServerResponse, release: Release): void {
    readBody(req, this.#maxBodyBytes, this.#bodyReadTimeoutMs, this.#deadlines, (err, body) => {
      if (err !== undefined) {
        this.#fail(res, err)
        release()
        return
      }
      this.#metrics.bodySize.observe(body!.length, labelsOf(endpoint))
      let answered: Promise<void> | undefined
      try {
        answered = this.#dispatch(endpoint, id, body!, res, release)
      } catch (failure) {
        this.#fail(res, failure ?? new Error('request failed'))
        release()
        return
      }
      // Answered in this turn (a query whose backend and signer answer at once): nothing can time out any more.
      if (answered === undefined) {
        release()
        return
      }
      let settled = false
      const settle = (failure: unknown): void => {
        if (settled) return
        settled = true
        deadline.cancel()
        if (failure !== undefined) this.#fail(res, failure)
        release()
      }
      const ms = this.#handlerTimeoutMs
      const deadline = this.#deadlines.after(ms, () => { settle(new HttpRequestError(504, 'handler-timeout', `the node did not answer within ${ms} ms`)) })
      answered.then(() => { settle(undefined) }, failure => { settle(failure ?? new Error('request failed')) })
    })
  }

  /** Undefined when the request was answered synchronously. */
  #dispatch (endpoint: EndpointName, id: string, body: Uint8Array, res: ServerResponse, release: Release): Promise<void> | undefined {
    switch (endpoint) {
      case 'call_v2':
      case 'call_v3': return this.#call(endpoint, this.#canisterIdFromUrl(id), body, res, release)
      case 'query': return this.#query(this.#canisterIdFromUrl(id), body, res)
      case 'read_state': return this.#readState({ kind: 'canister', effectiveCanisterId: this.#canisterIdFromUrl(id) }, body, res)
      case 'read_state_subnet': return this.#readState({ kind: 'subnet', effectiveSubnetId: this.#principalFromUrl(id, 'subnet id') }, body, res)
      default: throw new HttpRequestError(404, 'not-found', 'no such endpoint')
    }
  }

  #principalFromUrl (text: string, what: string): Principal {
    const cached = this.#urlPrincipals.get(text)
    if (cached !== undefined) return cached
    let principal: Principal
    try {
      principal = Principal.fromText(decodeURIComponent(text))
    } catch (err) {
      throw badRequest('invalid-canister-id', `invalid ${what} in the URL: ${text.slice(0, 80)}`, err)
    }
    this.#urlPrincipals.set(text, principal)
    return principal
  }

  /** The effective canister id from the URL; it must be hosted by this node's subnet. */
  #canisterIdFromUrl (text: string): Principal {
    const id = this.#principalFromUrl(text, 'effective canister id')
    this.#checkOnThisSubnet(id)
    return id
  }

  #checkOnThisSubnet (canisterId: Principal): void {
    const subnet = this.#backend.routeCanister(canisterId)
    if (subnet === undefined) throw badRequest('canister-not-on-subnet', `canister ${canisterId.toText()} is not in the canister ranges of any subnet`)
    if (!principalEquals(subnet, this.#backend.subnetId)) {
      throw badRequest('canister-not-on-subnet', `canister ${canisterId.toText()} belongs to subnet ${subnet.toText()}, not to this node's subnet ${this.#backend.subnetId.toText()}`)
    }
  }

  /** The specification's effective canister id rule for calls and queries. */
  #checkEffectiveCanister (content: CallContent, effective: Principal): void {
    if (principalEquals(content.canisterId, MANAGEMENT_CANISTER_ID)) {
      const required = managementEffectiveCanisterId(content.methodName, content.arg)
      if (required !== undefined && !principalEquals(required, effective)) {
        throw badRequest('effective-canister-mismatch', `${content.methodName} names canister ${required.toText()} but was sent to effective canister id ${effective.toText()}`)
      }
      return
    }
    if (!principalEquals(content.canisterId, effective)) {
      throw badRequest('effective-canister-mismatch', `canister_id ${content.canisterId.toText()} differs from the effective canister id ${effective.toText()} in the URL`)
    }
  }

  #authenticate (envelope: Envelope, canisterId: Principal, expiryAlways: boolean): void {
    const nowMs = this.#now()
    const anonymous = envelope.content.sender.toUint8Array().length === 1 && envelope.content.sender.toUint8Array()[0] === 0x04
    // The specification lets nodes accept any expiry on anonymous queries and read_state requests.
    if (expiryAlways || !anonymous) checkIngressExpiry(envelope.content.ingressExpiry, nowMs)
    authenticate(envelope, { nowMs, canisterId })
  }

  async #call (endpoint: 'call_v2' | 'call_v3', effective: Principal, body: Uint8Array, res: ServerResponse, release: Release): Promise<void> {
    const envelope = parseEnvelope(body, 'call')
    const content = envelope.content
    this.#checkEffectiveCanister(content, effective)
    this.#authenticate(envelope, content.canisterId, true)
    const outcome = await this.#backend.submitIngress({
      requestId: envelope.requestId,
      sender: content.sender,
      canisterId: content.canisterId,
      effectiveCanisterId: effective,
      methodName: content.methodName,
      arg: content.arg,
      ingressExpiry: content.ingressExpiry,
      ...(content.nonce === undefined ? {} : { nonce: content.nonce })
    })
    if (!outcome.accepted) {
      const r = outcome.rejection
      this.#cbor(res, 200, {
        ...(endpoint === 'call_v3' ? { status: 'non_replicated_rejection' } : {}),
        reject_code: r.rejectCode,
        reject_message: r.rejectMessage,
        ...(r.errorCode === undefined ? {} : { error_code: r.errorCode })
      })
      return
    }
    if (endpoint === 'call_v2') {
      this.#empty(res, 202)
      return
    }
    // v3: free the processing slot while waiting; waiting is bounded separately.
    release()
    const maxWaiters = this.#options.maxSyncWaiters ?? C.DEFAULT_MAX_SYNC_WAITERS
    if (this.#syncWaiters >= maxWaiters) {
      this.#empty(res, 202)
      return
    }
    this.#syncWaiters++
    this.#metrics.syncWaiters.set(this.#syncWaiters)
    const controller = new AbortController()
    const timer = this.#deadlines.after(this.#syncCallTimeoutMs, () => { controller.abort() })
    const onClose = (): void => { controller.abort() }
    res.once('close', onClose)
    let done = false
    try {
      await this.#backend.waitForCertifiedStatus(envelope.requestId, controller.signal)
      done = true
    } catch (err) {
      if (!controller.signal.aborted) throw err
    } finally {
      timer.cancel()
      res.off('close', onClose)
      this.#syncWaiters--
      this.#metrics.syncWaiters.set(this.#syncWaiters)
    }
    if (!done) {
      // The IC's fallback: the call goes on; the client polls read_state.
      this.#empty(res, 202)
      return
    }
    const certificate = await this.#backend.readState([['request_status', envelope.requestId], ['time']])
    this.#cbor(res, 200, { status: 'replied', certificate })
  }

  // The query path runs for every query: synchronous from body to answer when the backend and the signer answer at
  // once, plain promise chains otherwise (no async functions awaiting one another).
  #query (effective: Principal, body: Uint8Array, res: ServerResponse): Promise<void> | undefined {
    const envelope = parseEnvelope(body, 'query')
    const content = envelope.content
    this.#checkEffectiveCanister(content, effective)
    this.#authenticate(envelope, content.canisterId, false)
    const requestId = envelope.requestId
    const outcome = this.#backend.query({
      requestId,
      sender: content.sender,
      canisterId: content.canisterId,
      effectiveCanisterId: effective,
      methodName: content.methodName,
      arg: content.arg
    })
    if (outcome instanceof Promise) return outcome.then(o => this.#answerQuery(res, o, requestId))
    return this.#answerQuery(res, outcome, requestId)
  }

  /** Signs a query's answer (when the node has a signer) and writes it; a promise only while the signature is made elsewhere. */
  #answerQuery (res: ServerResponse, outcome: QueryOutcome, requestId: Uint8Array): Promise<void> | undefined {
    const signer = this.#backend.querySigner
    if (signer === undefined) {
      this.#cbor(res, 200, queryAnswerBody(outcome))
      return undefined
    }
    const timestamp = BigInt(Math.floor(this.#now())) * 1_000_000n
    const message = queryResponseMessage(outcome, timestamp, requestId)
    // Mostly idle: sign inline (lowest latency); busy: sign off the event loop, so that other requests are read meanwhile.
    const signature = this.#offThreadSigning && signer.signOffThread !== undefined && this.#loopLoad.busy()
      ? signer.signOffThread(message)
      : signer.sign(message)
    if (signature instanceof Uint8Array) {
      this.#writeSignedQueryAnswer(res, outcome, timestamp, signature, signer.nodeId)
      return undefined
    }
    return signature.then(s => { this.#writeSignedQueryAnswer(res, outcome, timestamp, s, signer.nodeId) })
  }

  #writeSignedQueryAnswer (res: ServerResponse, outcome: QueryOutcome, timestamp: bigint, signature: Uint8Array, identity: Uint8Array): void {
    if (outcome.status === 'replied') {
      this.#writeCbor(res, 200, encodeSignedReply(outcome.reply, timestamp, signature, identity))
      return
    }
    const body = queryAnswerBody(outcome)
    body.signatures = [{ timestamp, signature, identity }]
    this.#cbor(res, 200, body)
  }

  async #readState (target: ReadStateTarget, body: Uint8Array, res: ServerResponse): Promise<void> {
    if (target.kind === 'subnet' && !principalEquals(target.effectiveSubnetId, this.#backend.subnetId)) {
      throw badRequest('canister-not-on-subnet', `subnet ${target.effectiveSubnetId.toText()} is not this node's subnet ${this.#backend.subnetId.toText()}`)
    }
    const envelope = parseEnvelope(body, 'read_state')
    const content = envelope.content
    this.#authenticate(envelope, target.kind === 'canister' ? target.effectiveCanisterId : this.#backend.subnetId, false)
    checkReadStatePaths(content.paths, content.sender, target, this.#backend)
    const paths: Uint8Array[][] = content.paths
    if (!paths.some(p => p.length === 1 && equalBytes(p[0]!, TIME_LABEL))) paths.push([TIME_LABEL])
    const certificate = await this.#backend.readState(paths)
    this.#cbor(res, 200, { certificate })
  }

  #status (): Record<string, AnswerValue> {
    const status: Record<string, AnswerValue> = {
      ic_api_version: '0.18.0',
      impl_version: C.IMPL_VERSION,
      root_key: this.#backend.rootKeyDer,
      replica_health_status: this.#backend.health()
    }
    const height = this.#backend.certifiedHeight?.()
    if (height !== undefined) status.certified_height = height
    return status
  }

  #method (req: IncomingMessage, res: ServerResponse, allowed: 'GET' | 'POST'): boolean {
    if (req.method === allowed || (allowed === 'GET' && req.method === 'HEAD')) return true
    res.setHeader('Allow', allowed)
    this.#refuse(res, new HttpRequestError(405, 'method-not-allowed', `use ${allowed}`), true)
    return false
  }

  #cbor (res: ServerResponse, status: number, value: AnswerValue): void {
    if (res.headersSent || res.destroyed) return
    this.#writeCbor(res, status, encodeAnswer(value))
  }

  /** Writes an encoded answer, unless one was already written (e.g. a timeout's). */
  #writeCbor (res: ServerResponse, status: number, body: Buffer): void {
    if (res.headersSent || res.destroyed) return
    if (!this.#batchWrites) {
      writeCborNow(res, status, body)
      return
    }
    if (this.#pendingAnswers.length === 0) setImmediate(this.#writePendingAnswers)
    this.#pendingAnswers.push({ res, status, body })
  }

  /** Writes the answers made during this turn of the event loop (see HttpEndpointOptions.batchWrites). */
  readonly #writePendingAnswers = (): void => {
    const pending = this.#pendingAnswers
    this.#pendingAnswers = []
    for (const { res, status, body } of pending) {
      // Answered meanwhile (a time limit's answer) or abandoned by the client: nothing to write.
      if (res.headersSent || res.destroyed) continue
      writeCborNow(res, status, body)
    }
  }

  #empty (res: ServerResponse, status: number): void {
    if (res.headersSent || res.destroyed) return
    res.writeHead(status, { 'Content-Length': 0 })
    res.end()
  }

  #text (res: ServerResponse, status: number, text: string, close = false): void {
    if (res.headersSent || res.destroyed) return
    const body = Buffer.from(text)
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length, ...(close ? { Connection: 'close' } : {}) })
    res.end(body)
  }

  /** Answers a refusal; `unread` means the body may still be on the wire, so the connection is closed after the answer. */
  #refuse (res: ServerResponse, err: HttpRequestError, unread = false): void {
    this.#metrics.refusals.inc(1, { reason: err.reason })
    this.#text(res, err.status, err.message, unread || err.status === 413 || err.status === 408)
  }

  #fail (res: ServerResponse, err: unknown): void {
    if (err instanceof HttpRequestError) {
      this.#refuse(res, err)
      return
    }
    if (err instanceof IcnetError && err.code === 'ERR_QUEUE_FULL') {
      res.setHeader('Retry-After', '1')
      this.#refuse(res, new HttpRequestError(429, 'overloaded', `the node is overloaded: ${err.message}`))
      return
    }
    if (err instanceof IcnetError && err.code === 'ERR_NOT_FOUND') {
      this.#refuse(res, new HttpRequestError(404, 'not-found', err.message))
      return
    }
    log.error('request failed: %e', err)
    const reason: RefusalReason = 'internal'
    this.#metrics.refusals.inc(1, { reason })
    this.#text(res, 500, 'internal error')
  }
}

const TIME_LABEL = new TextEncoder().encode('time')

interface PendingAnswer {
  res: ServerResponse
  status: number
  body: Buffer
}

function writeCborNow (res: ServerResponse, status: number, body: Buffer): void {
  res.writeHead(status, { 'Content-Type': 'application/cbor', 'Content-Length': body.length })
  res.end(body)
}

/** A query's answer without node signatures. */
function queryAnswerBody (outcome: QueryOutcome): Record<string, AnswerValue> {
  return outcome.status === 'replied'
    ? { status: 'replied', reply: { arg: outcome.reply } }
    : {
        status: 'rejected',
        reject_code: outcome.rejectCode,
        reject_message: outcome.rejectMessage,
        ...(outcome.errorCode === undefined ? {} : { error_code: outcome.errorCode })
      }
}

/** Creates an endpoint (call `start()` to listen). */
export function httpEndpoint (options: HttpEndpointOptions): HttpEndpoint {
  return new HttpEndpoint(options)
}
