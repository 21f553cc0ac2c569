import type { Path } from '@icnet/hashtree'
import {
  HttpRequestError, ed25519NodeSigner, isManagementMethod,
  type HttpBackend, type IngressMessage, type IngressOrigin, type NodeSigningKey, type QueryOutcome, type QueryRequest,
  type NonReplicatedRejection, type ReplicaHealth, type SubmitOutcome
} from '@icnet/http-endpoint'
import { IngressValidationError, MAX_INGRESS_ARG_BYTES, type IngressMessage as MrIngressMessage, type MessageRouting } from '@icnet/message-routing'
import { LruMap, MANAGEMENT_CANISTER_ID, QueueFullError, fromHex, principalEquals, toHex, type Principal, type RegistryView, type SubnetId } from '@icnet/types'
import { privateKeyFromProtobuf } from '@libp2p/crypto/keys'
import type { IngressPool } from '../ingress.js'
import type { RootDelegation } from './delegation.js'

/** Origins of requests submitted to this node, kept for read_state authorization (the ingress history has no senders). */
export const MAX_ORIGINS = 100_000
/** How often the certified height is checked while callers wait for a certified status. */
export const CERTIFIED_POLL_MS = 25

const TERMINAL = new Set(['replied', 'rejected', 'done'])
const utf8 = new TextDecoder()

export interface ReplicaHttpBackendInit {
  subnetId: SubnetId
  /** The node's libp2p private key (protobuf, hex): its Ed25519 key signs query responses. */
  libp2pPrivateKey: string
  registry: () => RegistryView
  /** Message routing; a getter because state sync reopens it. */
  state: () => MessageRouting
  pool: IngressPool
  /** The root delegation, on a non-root subnet. */
  delegation?: RootDelegation
  /** Whether the node runs (false while it starts or stops). */
  running: () => boolean
}

/**
 * The HTTP interface's view of a replica: calls are validated against the
 * executed state and pooled for the next block this node makes (consensus
 * puts them into blocks, message routing executes them, management calls
 * included); statuses and read_state answers come from the latest certified
 * state tree, with the root subnet's delegation on other subnets; queries run
 * on the executed state and are signed with the node's Ed25519 identity key,
 * which the state tree certifies at /subnet/<subnet>/node/<node>/public_key.
 */
export class ReplicaHttpBackend implements HttpBackend {
  readonly subnetId: Principal
  readonly querySigner: NodeSigningKey
  readonly #init: ReplicaHttpBackendInit
  readonly #origins = new LruMap<string, IngressOrigin>(MAX_ORIGINS)
  readonly #waiters = new Set<{ requestId: Uint8Array, done: () => void }>()
  #poll: ReturnType<typeof setInterval> | undefined
  #polledHeight = -1

  constructor (init: ReplicaHttpBackendInit) {
    this.#init = init
    this.subnetId = init.subnetId
    const key = privateKeyFromProtobuf(fromHex(init.libp2pPrivateKey))
    if (key.type !== 'Ed25519') throw new TypeError('the node key must be Ed25519 to sign queries')
    this.querySigner = ed25519NodeSigner(key.raw.subarray(0, 32))
  }

  get rootKeyDer (): Uint8Array {
    const r = this.#init.registry()
    const key = r.getSubnet(r.rootSubnetId())?.publicKeyDer
    if (key === undefined) throw new HttpRequestError(503, 'unavailable', 'the registry has no root subnet key')
    return key
  }

  routeCanister (canisterId: Principal): Principal | undefined {
    return this.#init.registry().routingTable().route(canisterId)
  }

  health (): ReplicaHealth {
    if (!this.#init.running()) return 'starting'
    if (this.#init.state().latestCertifiedHeight === 0) return 'waiting_for_certified_state'
    if (this.#init.delegation !== undefined && this.#init.delegation.current === undefined) return 'waiting_for_root_delegation'
    return 'healthy'
  }

  certifiedHeight (): bigint { return BigInt(this.#init.state().latestCertifiedHeight) }

  ingressOrigin (requestId: Uint8Array): IngressOrigin | undefined { return this.#origins.get(toHex(requestId)) }

  async submitIngress (m: IngressMessage): Promise<SubmitOutcome> {
    const state = this.#init.state()
    const msg: MrIngressMessage = {
      requestId: m.requestId, sender: m.sender, canisterId: m.canisterId, methodName: m.methodName, arg: m.arg,
      expiry: Number(m.ingressExpiry / 1_000_000n)
    }
    if (state.ingressStatus(m.requestId) !== undefined) return { accepted: true } // already in the ingress history
    if (principalEquals(m.canisterId, MANAGEMENT_CANISTER_ID)) {
      // Message routing executes these with the batch; here only what can be told before consensus.
      if (!isManagementMethod(m.methodName)) return rejected(3, `the management canister has no method ${m.methodName.slice(0, 64)}`, 'IC0302')
      if (m.arg.length > MAX_INGRESS_ARG_BYTES) return rejected(4, `argument of ${m.arg.length} bytes, at most ${MAX_INGRESS_ARG_BYTES}`, 'IC0504')
    } else {
      try {
        state.validateIngress(msg, Date.now())
      } catch (err) {
        if (!(err instanceof IngressValidationError)) throw err
        switch (err.reason) {
          case 'DUPLICATE': return { accepted: true }
          case 'CANISTER_NOT_FOUND': return rejected(3, `Canister ${m.canisterId.toText()} not found`, 'IC0301')
          case 'QUEUE_FULL':
          case 'HISTORY_FULL': throw new QueueFullError(err.message)
          case 'EXPIRED': throw new HttpRequestError(400, 'expired', err.message)
          case 'EXPIRY_TOO_FAR': throw new HttpRequestError(400, 'expiry-too-far', err.message)
          default: throw new HttpRequestError(400, 'malformed-request', err.message)
        }
      }
      const refusal = ingressFilter(m.canisterId, state.canisterStatusOf(m.canisterId))
      if (refusal !== undefined) return { accepted: false, rejection: refusal }
    }
    this.#init.pool.add(msg) // QueueFullError when the pool is full: 429
    this.#origins.set(toHex(m.requestId), { sender: m.sender, effectiveCanisterId: m.effectiveCanisterId })
    return { accepted: true }
  }

  async waitForCertifiedStatus (requestId: Uint8Array, signal: AbortSignal): Promise<void> {
    if (this.#terminal(requestId)) return
    await new Promise<void>((resolve, reject) => {
      const waiter = {
        requestId,
        done: () => { signal.removeEventListener('abort', onAbort); resolve() }
      }
      const onAbort = (): void => { this.#waiters.delete(waiter); this.#idle(); reject(signal.reason) }
      if (signal.aborted) { reject(signal.reason); return }
      signal.addEventListener('abort', onAbort, { once: true })
      this.#waiters.add(waiter)
      // One timer for every waiter: on each new certified height, check them all.
      this.#poll ??= setInterval(() => { this.#check() }, CERTIFIED_POLL_MS)
    })
  }

  #terminal (requestId: Uint8Array): boolean {
    const found = this.#init.state().latestCertifiedState()?.tree.lookup(['request_status', requestId, 'status'])
    return found?.status === 'found' && TERMINAL.has(utf8.decode(found.value))
  }

  #check (): void {
    const h = this.#init.state().latestCertifiedHeight
    if (h === this.#polledHeight) return
    this.#polledHeight = h
    for (const w of [...this.#waiters]) {
      if (!this.#terminal(w.requestId)) continue
      this.#waiters.delete(w)
      w.done()
    }
    this.#idle()
  }

  #idle (): void {
    if (this.#waiters.size > 0 || this.#poll === undefined) return
    clearInterval(this.#poll)
    this.#poll = undefined
  }

  async query (request: QueryRequest): Promise<QueryOutcome> {
    if (principalEquals(request.canisterId, MANAGEMENT_CANISTER_ID)) {
      return { status: 'rejected', rejectCode: 3, rejectMessage: 'the management canister has no query methods on icnet', errorCode: 'IC0302' }
    }
    const out = await this.#init.state().query(request.canisterId, request.methodName, request.arg, request.sender)
    if (out.kind === 'reply') return { status: 'replied', reply: out.data }
    if (out.kind === 'reject') return { status: 'rejected', rejectCode: out.code, rejectMessage: out.message }
    return { status: 'rejected', rejectCode: 5, rejectMessage: `Canister ${request.canisterId.toText()} did not reply to the query`, errorCode: 'IC0506' }
  }

  async readState (paths: readonly Path[]): Promise<Uint8Array> {
    const delegation = this.#init.delegation?.require()
    const cert = this.#init.state().readStateCertificate(paths, delegation)
    if (cert === undefined) throw new HttpRequestError(503, 'unavailable', 'no certified state yet; retry shortly')
    return cert
  }

  /** Wakes nobody any more: pending waiters are rejected by their own signals (the endpoint's time limits). */
  close (): void {
    if (this.#poll !== undefined) clearInterval(this.#poll)
    this.#poll = undefined
    void this.querySigner.close()
  }
}

/**
 * The ingress filter on the latest executed state, as the IC's call endpoint
 * applies it: a canister that takes no new calls (stopping, stopped) or has no
 * module refuses the message before it takes a place in a block. Management
 * calls never pass here (a start_canister to a stopped canister goes to
 * aaaaa-aa), and induction checks again: the state may change before the
 * message is in a batch.
 */
export function ingressFilter (canisterId: Principal, canister: ReturnType<MessageRouting['canisterStatusOf']>): NonReplicatedRejection | undefined {
  if (canister === undefined) return undefined // validateIngress has answered "not found" already
  const id = canisterId.toText()
  switch (canister.status) {
    case 'stopping': return { rejectCode: 5, rejectMessage: `Canister ${id} is stopping`, errorCode: 'IC0509' }
    case 'stopped': return { rejectCode: 5, rejectMessage: `Canister ${id} is stopped`, errorCode: 'IC0508' }
  }
  if (!canister.hasModule) return { rejectCode: 5, rejectMessage: `Canister ${id} has no wasm module`, errorCode: 'IC0537' }
  return undefined
}

function rejected (rejectCode: number, rejectMessage: string, errorCode: string): SubmitOutcome {
  return { accepted: false, rejection: { rejectCode, rejectMessage, errorCode } }
}
