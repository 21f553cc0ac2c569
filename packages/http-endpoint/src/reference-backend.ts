/**
 * An in-process network of subnets implementing `HttpBackend` with real
 * parts: an `IncrementalHashTree` state tree per subnet (time, subnet keys
 * and ranges, node keys, canister metadata, request status), threshold
 * certificates from @icnet/crypto, and root-subnet delegations for the other
 * subnets. Execution is a built-in counter/echo canister and the management
 * canister; there is no consensus: each batch of ingress is one round,
 * executed and certified at once (so a `stop_canister`, which must wait for
 * no open call context, is answered at once: the built-in canister makes no
 * calls). For tests, examples and benchmarks of the
 * HTTP interface, and as a model of what a replica wires in.
 */
import { createHash } from 'node:crypto'
import { encode, Tagged } from 'cborg'
import { IDL } from '@dfinity/candid'
import {
  canisterIdFromU64, compareBytes, MANAGEMENT_CANISTER_ID, type Principal, principalEquals, QueueFullError, subnetIdFromPublicKeyDer, toHex
} from '@icnet/types'
import { IncrementalHashTree, type HashTreeSnapshot, type Path } from '@icnet/hashtree'
import {
  createCertificate, createDelegation, dealThresholdKeys, encodeCanisterRanges, certificateMessage, thresholdSigner, timeLeaf,
  type CertificateSigner, type Delegation
} from '@icnet/crypto'
import type { HttpBackend, IngressMessage, IngressOrigin, QueryOutcome, QueryRequest, ReplicaHealth, SubmitOutcome } from './backend.js'
import { ed25519NodeSigner, type NodeSigningKey } from './query-signature.js'
import {
  decodeManagementArgs, encodeCanisterIdResult, encodeCanisterStatusResult, encodeEmptyResult, isManagementMethod, type CanisterRunStatus, type ManagementArgs
} from './management-candid.js'
import { HttpRequestError } from './errors.js'

/** Canister ids per subnet: subnet i hosts [i·2^20, (i+1)·2^20 − 1]. */
const RANGE_SIZE = 1n << 20n
/** Calls waiting for the next round, and requests remembered in the ingress history. */
const MAX_PENDING_INGRESS = 10_000
const MAX_INGRESS_HISTORY = 50_000
/** Most calls executed per round. */
const MAX_ROUND_MESSAGES = 1000

export interface ReferenceNetworkOptions {
  /** Number of subnets (default 2); subnet 0 is the root subnet. */
  subnets?: number
  /** Threshold key shares per subnet and shares needed (default 4 and 3). */
  nodes?: number
  threshold?: number
  /** Clock in milliseconds since the epoch (default Date.now). */
  now?: () => number
}

interface CanisterState {
  id: Principal
  controllers: Principal[]
  moduleHash?: Uint8Array
  status: CanisterRunStatus
  counter: bigint
}

type Execution = { reply: Uint8Array } | { rejectCode: number, rejectMessage: string, errorCode: string }

/** A set of subnets sharing one root key and routing table. */
export class ReferenceNetwork {
  readonly subnets: ReferenceSubnet[]

  constructor (options: ReferenceNetworkOptions = {}) {
    const count = options.subnets ?? 2
    const n = options.nodes ?? 4
    const t = options.threshold ?? Math.min(n, 3)
    const now = options.now ?? Date.now
    const keys = Array.from({ length: count }, () => dealThresholdKeys({ n, t }))
    const signers = keys.map(k => thresholdSigner({ shares: k.shares, threshold: k.threshold }))
    const infos = keys.map((k, i) => ({
      subnetId: subnetIdFromPublicKeyDer(k.publicKeyDer),
      publicKeyDer: k.publicKeyDer,
      range: [canisterIdFromU64(BigInt(i) * RANGE_SIZE), canisterIdFromU64(BigInt(i + 1) * RANGE_SIZE - 1n)] as const
    }))
    this.subnets = infos.map((info, i) => new ReferenceSubnet({
      network: this,
      index: i,
      subnetId: info.subnetId,
      publicKeyDer: info.publicKeyDer,
      rootKeyDer: keys[0]!.publicKeyDer,
      range: info.range,
      sign: signers[i]!,
      delegation: i === 0
        ? undefined
        : createDelegation({ subnetId: info.subnetId, subnetPublicKeyDer: info.publicKeyDer, canisterRanges: [info.range], rootSign: signers[0]!, timeNs: BigInt(now()) * 1_000_000n }),
      // The root subnet certifies every subnet's key and ranges, as the IC's NNS does.
      otherSubnets: i === 0 ? infos.filter((_, j) => j !== 0) : [],
      now
    }))
  }

  get root (): ReferenceSubnet { return this.subnets[0]! }

  route (canisterId: Principal): ReferenceSubnet | undefined {
    const id = canisterId.toUint8Array()
    return this.subnets.find(s => compareBytes(s.range[0].toUint8Array(), id) <= 0 && compareBytes(id, s.range[1].toUint8Array()) <= 0)
  }
}

interface SubnetInit {
  network: ReferenceNetwork
  index: number
  subnetId: Principal
  publicKeyDer: Uint8Array
  rootKeyDer: Uint8Array
  range: readonly [Principal, Principal]
  sign: CertificateSigner
  delegation: Delegation | undefined
  otherSubnets: Array<{ subnetId: Principal, publicKeyDer: Uint8Array, range: readonly [Principal, Principal] }>
  now: () => number
}

interface HistoryEntry {
  origin: IngressOrigin
  done: boolean
  waiters: Array<() => void>
}

/** One subnet of a `ReferenceNetwork`; it is the `HttpBackend` of its node. */
export class ReferenceSubnet implements HttpBackend {
  readonly rootKeyDer: Uint8Array
  readonly subnetId: Principal
  readonly range: readonly [Principal, Principal]
  readonly querySigner: NodeSigningKey
  readonly #init: SubnetInit
  readonly #tree = new IncrementalHashTree()
  readonly #canisters = new Map<string, CanisterState>()
  readonly #history = new Map<string, HistoryEntry>()
  #pending: IngressMessage[] = []
  #nextCanister: bigint
  #height = 0n
  #lastTimeNs = 0n
  #certified!: { snapshot: HashTreeSnapshot, signature: Uint8Array }
  #roundScheduled = false
  /** Rounds run so far (for tests and benchmarks). */
  rounds = 0

  constructor (init: SubnetInit) {
    this.#init = init
    this.rootKeyDer = init.rootKeyDer
    this.subnetId = init.subnetId
    this.range = init.range
    this.#nextCanister = BigInt(init.index) * RANGE_SIZE
    this.querySigner = ed25519NodeSigner()
    const own = init.subnetId.toUint8Array()
    this.#tree.set(['subnet', own, 'public_key'], init.publicKeyDer)
    this.#tree.set(['subnet', own, 'canister_ranges'], encodeCanisterRanges([init.range]))
    this.#tree.set(['subnet', own, 'node', this.querySigner.nodeId, 'public_key'], this.querySigner.publicKeyDer)
    for (const other of init.otherSubnets) {
      this.#tree.set(['subnet', other.subnetId.toUint8Array(), 'public_key'], other.publicKeyDer)
      this.#tree.set(['subnet', other.subnetId.toUint8Array(), 'canister_ranges'], encodeCanisterRanges([other.range]))
    }
    this.#certify()
  }

  get height (): bigint { return this.#height }

  routeCanister (canisterId: Principal): Principal | undefined {
    return this.#init.network.route(canisterId)?.subnetId
  }

  health (): ReplicaHealth { return 'healthy' }
  certifiedHeight (): bigint { return this.#height }

  ingressOrigin (requestId: Uint8Array): IngressOrigin | undefined {
    return this.#history.get(toHex(requestId))?.origin
  }

  async submitIngress (message: IngressMessage): Promise<SubmitOutcome> {
    const isManagement = principalEquals(message.canisterId, MANAGEMENT_CANISTER_ID)
    if (isManagement) {
      if (!isManagementMethod(message.methodName)) return rejection(3, `the management canister has no method ${message.methodName.slice(0, 60)}`, 'IC0302')
    } else {
      const canister = this.#canisters.get(toHex(message.canisterId.toUint8Array()))
      if (canister === undefined) return rejection(3, `Canister ${message.canisterId.toText()} not found`, 'IC0301')
      if (canister.status !== 'running') return rejection(5, `Canister ${message.canisterId.toText()} is ${canister.status}`, 'IC0508')
    }
    const key = toHex(message.requestId)
    if (this.#history.has(key)) return { accepted: true } // a duplicate: already in the ingress history
    if (this.#pending.length >= MAX_PENDING_INGRESS) throw new QueueFullError(`ingress pool is full (${MAX_PENDING_INGRESS})`)
    this.#pending.push(message)
    this.#remember(key, { origin: { sender: message.sender, effectiveCanisterId: message.effectiveCanisterId }, done: false, waiters: [] })
    this.#tree.set(['request_status', message.requestId, 'status'], utf8('received'))
    this.#scheduleRound()
    return { accepted: true }
  }

  async waitForCertifiedStatus (requestId: Uint8Array, signal: AbortSignal): Promise<void> {
    const entry = this.#history.get(toHex(requestId))
    if (entry === undefined) throw new HttpRequestError(404, 'not-found', 'unknown request id')
    if (entry.done) return
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        const i = entry.waiters.indexOf(done)
        if (i >= 0) entry.waiters.splice(i, 1)
        reject(signal.reason)
      }
      const done = (): void => { signal.removeEventListener('abort', onAbort); resolve() }
      if (signal.aborted) { onAbort(); return }
      signal.addEventListener('abort', onAbort, { once: true })
      entry.waiters.push(done)
    })
  }

  // Synchronous: the built-in canister answers at once (see HttpBackend.query).
  query (request: QueryRequest): QueryOutcome {
    if (principalEquals(request.canisterId, MANAGEMENT_CANISTER_ID)) return { status: 'rejected', rejectCode: 3, rejectMessage: 'the management canister has no query methods here', errorCode: 'IC0302' }
    const canister = this.#canisters.get(toHex(request.canisterId.toUint8Array()))
    if (canister === undefined) return { status: 'rejected', rejectCode: 3, rejectMessage: `Canister ${request.canisterId.toText()} not found`, errorCode: 'IC0301' }
    const result = this.#runCanister(canister, request.methodName, request.arg, false)
    return 'reply' in result ? { status: 'replied', reply: result.reply } : { status: 'rejected', ...result }
  }

  async readState (paths: readonly Path[]): Promise<Uint8Array> {
    const { snapshot, signature } = this.#certified
    const tree = snapshot.witness(paths)
    return createCertificate({ tree, signature, ...(this.#init.delegation === undefined ? {} : { delegation: this.#init.delegation }) })
  }

  /** Runs the pending calls now instead of on the next tick (tests). */
  runRound (): void {
    this.#roundScheduled = false
    const batch = this.#pending.splice(0, MAX_ROUND_MESSAGES)
    const finished: HistoryEntry[] = []
    for (const msg of batch) {
      const result = this.#execute(msg)
      const base: Path = ['request_status', msg.requestId]
      this.#tree.delete(base)
      if ('reply' in result) {
        this.#tree.set([...base, 'status'], utf8('replied'))
        this.#tree.set([...base, 'reply'], result.reply)
      } else {
        this.#tree.set([...base, 'status'], utf8('rejected'))
        this.#tree.set([...base, 'reject_code'], Uint8Array.of(result.rejectCode))
        this.#tree.set([...base, 'reject_message'], utf8(result.rejectMessage))
        this.#tree.set([...base, 'error_code'], utf8(result.errorCode))
      }
      const entry = this.#history.get(toHex(msg.requestId))
      if (entry !== undefined) finished.push(entry)
    }
    this.#certify()
    this.rounds++
    for (const entry of finished) {
      entry.done = true
      for (const w of entry.waiters.splice(0)) w()
    }
    if (this.#pending.length > 0) this.#scheduleRound()
  }

  #scheduleRound (): void {
    if (this.#roundScheduled) return
    this.#roundScheduled = true
    setImmediate(() => { if (this.#roundScheduled) this.runRound() })
  }

  #certify (): void {
    const nowNs = BigInt(Math.floor(this.#init.now())) * 1_000_000n
    this.#lastTimeNs = nowNs > this.#lastTimeNs ? nowNs : this.#lastTimeNs + 1n
    this.#tree.set(['time'], timeLeaf(this.#lastTimeNs))
    this.#height++
    const snapshot = this.#tree.snapshot()
    this.#certified = { snapshot, signature: this.#init.sign(certificateMessage(snapshot.rootHash())) }
  }

  #remember (key: string, entry: HistoryEntry): void {
    if (this.#history.size >= MAX_INGRESS_HISTORY) {
      // Forget the oldest finished request (the IC prunes after expiry; this bound keeps memory flat).
      for (const [k, e] of this.#history) {
        if (!e.done) continue
        this.#history.delete(k)
        this.#tree.delete(['request_status', fromHexKey(k)])
        break
      }
    }
    this.#history.set(key, entry)
  }

  #execute (msg: IngressMessage): Execution {
    if (principalEquals(msg.canisterId, MANAGEMENT_CANISTER_ID)) return this.#management(msg)
    const canister = this.#canisters.get(toHex(msg.canisterId.toUint8Array()))
    if (canister === undefined) return reject(3, `Canister ${msg.canisterId.toText()} not found`, 'IC0301')
    return this.#runCanister(canister, msg.methodName, msg.arg, true)
  }

  /** The built-in canister: `echo` replies its argument, `inc` counts, `read` reads the count, `reject` rejects. */
  #runCanister (canister: CanisterState, method: string, arg: Uint8Array, update: boolean): Execution {
    if (canister.moduleHash === undefined) return reject(5, `Canister ${canister.id.toText()} has no wasm module`, 'IC0537')
    if (canister.status !== 'running') return reject(5, `Canister ${canister.id.toText()} is ${canister.status}`, 'IC0508')
    switch (method) {
      case 'echo': return { reply: arg }
      case 'read': return { reply: new Uint8Array(IDL.encode([IDL.Nat], [canister.counter])) }
      case 'inc':
        if (!update) return reject(5, 'inc is an update method', 'IC0541')
        canister.counter++
        return { reply: new Uint8Array(IDL.encode([IDL.Nat], [canister.counter])) }
      case 'reject': return reject(4, 'rejected on request', 'IC0406')
      default: return reject(5, `Canister ${canister.id.toText()} has no method ${method.slice(0, 60)}`, 'IC0536')
    }
  }

  #management (msg: IngressMessage): Execution {
    if (!isManagementMethod(msg.methodName)) return reject(3, 'no such management method', 'IC0302')
    let args: ManagementArgs
    try {
      args = decodeManagementArgs(msg.methodName, msg.arg)
    } catch (err) {
      return reject(5, (err as Error).message, 'IC0503')
    }
    if (args.method === 'provisional_create_canister_with_cycles' || args.method === 'create_canister') {
      let id: Principal
      const specified = args.method === 'provisional_create_canister_with_cycles' ? args.specifiedId : undefined
      if (specified !== undefined) {
        if (this.#init.network.route(specified) !== this.#init.network.subnets[this.#init.index] || this.#canisters.has(toHex(specified.toUint8Array()))) {
          return reject(5, `specified_id ${specified.toText()} is not available on this subnet`, 'IC0504')
        }
        id = specified
      } else {
        while (this.#canisters.has(toHex(canisterIdFromU64(this.#nextCanister).toUint8Array()))) this.#nextCanister++
        id = canisterIdFromU64(this.#nextCanister++)
      }
      const controllers = args.settings?.controllers ?? [msg.sender]
      this.#canisters.set(toHex(id.toUint8Array()), { id, controllers, status: 'running', counter: 0n })
      this.#tree.set(['canister', id.toUint8Array(), 'controllers'], encodeControllers(controllers))
      return { reply: encodeCanisterIdResult(id) }
    }
    const canister = this.#canisters.get(toHex(args.canisterId.toUint8Array()))
    if (canister === undefined) return reject(3, `Canister ${args.canisterId.toText()} not found`, 'IC0301')
    if (!canister.controllers.some(c => principalEquals(c, msg.sender))) {
      return reject(5, `Only controllers of canister ${canister.id.toText()} can call ${args.method}`, 'IC0512')
    }
    const idBytes = canister.id.toUint8Array()
    switch (args.method) {
      case 'install_code': {
        if (args.mode === 'install' && canister.moduleHash !== undefined) return reject(5, 'the canister already has a module: use reinstall or upgrade', 'IC0538')
        if (args.mode === 'upgrade' && canister.moduleHash === undefined) return reject(5, 'the canister has no module to upgrade', 'IC0537')
        if (args.mode !== 'upgrade') canister.counter = 0n
        canister.moduleHash = new Uint8Array(createHash('sha256').update(args.wasmModule).digest())
        this.#tree.set(['canister', idBytes, 'module_hash'], canister.moduleHash)
        return { reply: encodeEmptyResult() }
      }
      case 'canister_status':
        return {
          reply: encodeCanisterStatusResult({
            status: canister.status, controllers: canister.controllers, memorySize: 0n, cycles: 0n,
            ...(canister.moduleHash === undefined ? {} : { moduleHash: canister.moduleHash })
          })
        }
      // The built-in canister makes no calls, so it never has an open call context: the `stopping`
      // phase that message routing keeps until its calls are answered ends here in the round of the call.
      case 'stop_canister': canister.status = 'stopped'; return { reply: encodeEmptyResult() }
      case 'start_canister': canister.status = 'running'; return { reply: encodeEmptyResult() }
      case 'delete_canister':
        if (canister.status !== 'stopped') return reject(5, `Canister ${canister.id.toText()} must be stopped before it is deleted`, 'IC0510')
        this.#canisters.delete(toHex(idBytes))
        this.#tree.delete(['canister', idBytes])
        return { reply: encodeEmptyResult() }
    }
  }
}

function reject (rejectCode: number, rejectMessage: string, errorCode: string): Execution {
  return { rejectCode, rejectMessage, errorCode }
}

function rejection (rejectCode: number, rejectMessage: string, errorCode: string): SubmitOutcome {
  return { accepted: false, rejection: { rejectCode, rejectMessage, errorCode } }
}

const encoder = new TextEncoder()
function utf8 (s: string): Uint8Array { return encoder.encode(s) }

function fromHexKey (hex: string): Uint8Array {
  return Uint8Array.from(Buffer.from(hex, 'hex'))
}

/** /canister/<id>/controllers: a CBOR array of principals under the self-describe tag, as the IC writes it. */
function encodeControllers (controllers: Principal[]): Uint8Array {
  return new Uint8Array(encode(new Tagged(55799, controllers.map(c => c.toUint8Array()))))
}
