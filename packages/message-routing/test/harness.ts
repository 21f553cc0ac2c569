import { createHash } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { certificateMessage, dealThresholdKeys, thresholdSigner, type ThresholdKeySet } from '@icnet/crypto'
import {
  JS_TEST_CANISTERS, JsSandbox, WasmSandbox, XNET_LOAD_DEFAULT_PAYLOAD, decodeXnetLoadMetrics, encodeXnetLoadConfig,
  type Sandbox, type XnetLoadMetrics
} from '@icnet/execution'
import { loadTestCanister } from '@icnet/execution/canisters'
import {
  Principal, RoutingTable, canisterIdFromU64, subnetIdFromPublicKeyDer,
  type CanisterId, type RejectCode, type RejectReason, type RegistryView, type SubnetId, type SubnetRecord
} from '@icnet/types'
import {
  StaticRegistryView, decodeCertifiedSlice, encodeCertifiedSlice, verifyCertifiedSlice, type CertifiedStreamSlice
} from '@icnet/xnet-stream'
import { MessageRouting, type Batch, type IngressMessage, type MessageRoutingLimits } from '../src/index.js'

export const ANONYMOUS = Principal.anonymous()
export const CANISTERS_PER_SUBNET = 1000

export interface TestSubnet {
  index: number
  id: SubnetId
  keys: ThresholdKeySet
  sign: (message: Uint8Array) => Uint8Array
  record: SubnetRecord
}

/** Subnets with real 3-of-4 threshold keys from deterministic seeds. */
export function makeSubnets (n: number, seed = 'mr-test'): TestSubnet[] {
  return Array.from({ length: n }, (_, index) => {
    const keys = dealThresholdKeys({ n: 4, t: 3, seed: new TextEncoder().encode(`${seed}-${index}`) })
    const id = subnetIdFromPublicKeyDer(keys.publicKeyDer)
    return {
      index,
      id,
      keys,
      sign: thresholdSigner({ shares: keys.shares, threshold: keys.threshold }),
      record: { id, type: 'application', nodes: [], publicKey: keys.publicKey, publicKeyDer: keys.publicKeyDer }
    }
  })
}

/** Canister `k` of subnet `i` (subnet i hosts ids i*1000 .. i*1000+999). */
export function canisterOf (subnet: number, k: number): CanisterId { return canisterIdFromU64(subnet * CANISTERS_PER_SUBNET + k) }

export function registryOf (subnets: TestSubnet[]): RegistryView {
  return new StaticRegistryView({
    subnets: subnets.map(s => s.record),
    routingTable: new RoutingTable(subnets.map(s => ({
      subnetId: s.id,
      range: { start: canisterOf(s.index, 0), end: canisterOf(s.index, CANISTERS_PER_SUBNET - 1) }
    })))
  })
}

export async function tempDir (): Promise<string> { return await mkdtemp(join(tmpdir(), 'icnet-mr-')) }

export type SandboxKind = 'js' | 'wasm'

export function makeSandbox (kind: SandboxKind): Sandbox {
  return kind === 'js' ? new JsSandbox({ canisters: JS_TEST_CANISTERS }) : new WasmSandbox()
}

export async function loadModule (kind: SandboxKind): Promise<Uint8Array> {
  return kind === 'js' ? new TextEncoder().encode('xnet_load') : await loadTestCanister('xnet_load')
}

let ingressCounter = 0

export function ingress (canisterId: CanisterId, methodName: string, arg: Uint8Array, expiry: number): IngressMessage {
  const requestId = createHash('sha256').update(`ingress-${ingressCounter++}`).digest()
  return { requestId: new Uint8Array(requestId), sender: ANONYMOUS, canisterId, methodName, arg, expiry }
}

export function configureArg (rate: number, targets: CanisterId[], payloadSize = 64, seed = 7n): Uint8Array {
  return encodeXnetLoadConfig({ rate, payloadSize: payloadSize ?? XNET_LOAD_DEFAULT_PAYLOAD, seed, targets })
}

export async function loadMetrics (mr: MessageRouting, id: CanisterId): Promise<XnetLoadMetrics> {
  const out = await mr.query(id, 'metrics', new Uint8Array(0), ANONYMOUS)
  if (out.kind !== 'reply') throw new Error(`metrics query failed: ${JSON.stringify(out)}`)
  return decodeXnetLoadMetrics(out.data)
}

export interface Node {
  subnet: TestSubnet
  mr: MessageRouting
  sandbox: Sandbox
  dataDir: string
}

export interface NetworkOptions {
  subnets: number
  sandbox: SandboxKind
  checkpointInterval?: number
  limits?: Partial<MessageRoutingLimits>
  /** Per-subnet overrides of the limits. */
  limitsOf?: (subnet: number) => Partial<MessageRoutingLimits> | undefined
  seed?: string
}

/**
 * Subnets of one node each, driven by hand: every round each subnet takes a
 * certified slice from every other subnet's latest certified state (through the
 * wire encoding and full verification), executes its batch, and certifies the
 * result with its threshold key.
 */
export class Network {
  readonly subnets: TestSubnet[]
  readonly registry: RegistryView
  readonly nodes: Node[] = []
  readonly options: NetworkOptions
  time = 1_700_000_000_000
  height = 0
  /** Every batch each subnet executed, by subnet index (for replay tests). */
  readonly batches: Batch[][] = []
  /** State root after each height, by subnet index (roots[i][h - 1]). */
  readonly roots: Uint8Array[][] = []
  /** Checkpoint state hashes by subnet index and height. */
  readonly checkpoints: Array<Map<number, Uint8Array>> = []
  /** Ingress to include in the next batch, by subnet index. */
  readonly pendingIngress: IngressMessage[][] = []
  /** msgLimit per (receiver index) for the slices it takes (a slow subnet takes few). */
  msgLimit: Array<number | undefined> = []
  /** Reject signals seen in the slices taken, by `<from index>-><to index>`, as stream index → reason. */
  readonly rejectSignals = new Map<string, Map<number, RejectReason>>()
  /** Reject responses carried by the slices taken, by `<from index>-><to index>` and stream index. */
  readonly rejectResponses = new Map<string, Map<number, { code: RejectCode, message: string }>>()

  private constructor (options: NetworkOptions) {
    this.options = options
    this.subnets = makeSubnets(options.subnets, options.seed)
    this.registry = registryOf(this.subnets)
  }

  static async create (options: NetworkOptions): Promise<Network> {
    const net = new Network(options)
    for (const subnet of net.subnets) net.nodes.push(await net.openNode(subnet.index))
    for (let i = 0; i < options.subnets; i++) { net.batches.push([]); net.pendingIngress.push([]); net.roots.push([]); net.checkpoints.push(new Map()) }
    return net
  }

  async openNode (index: number, dataDir?: string, sandbox?: Sandbox): Promise<Node> {
    const dir = dataDir ?? await tempDir()
    const sb = sandbox ?? makeSandbox(this.options.sandbox)
    const mr = await MessageRouting.open({
      subnetId: this.subnets[index]!.id,
      registry: this.registry,
      sandbox: sb,
      dataDir: dir,
      checkpointInterval: this.options.checkpointInterval ?? 1_000_000,
      limits: { ...this.options.limits, ...this.options.limitsOf?.(index) }
    })
    return { subnet: this.subnets[index]!, mr, sandbox: sb, dataDir: dir }
  }

  /** Installs the load canister `k` on every subnet, at genesis. */
  async installLoad (k = 0): Promise<void> {
    const module = await loadModule(this.options.sandbox)
    for (const n of this.nodes) await n.mr.installCanister({ canisterId: canisterOf(n.subnet.index, k), module, controllers: [ANONYMOUS] })
  }

  configure (subnet: number, k: number, rate: number, targets: CanisterId[], payloadSize = 64): void {
    this.pendingIngress[subnet]!.push(ingress(canisterOf(subnet, k), 'configure', configureArg(rate, targets, payloadSize), this.time + 60_000))
  }

  /** The verified slices subnet `to` takes this round. */
  slicesFor (to: number): Map<string, CertifiedStreamSlice> {
    const out = new Map<string, CertifiedStreamSlice>()
    const me = this.nodes[to]!
    for (const other of this.nodes) {
      if (other === me) continue
      const expected = me.mr.expectedIndices(other.subnet.id)
      const limit = this.msgLimit[to]
      const s = other.mr.certifiedStreamStore.slice(me.subnet.id, { msgBegin: expected.message, ...(limit === undefined ? {} : { msgLimit: limit }) })
      if ('code' in s) continue
      if (s.messages.length === 0 && s.header.signalsEnd === expected.signal) continue // nothing new: the IC's builder leaves it out
      const wire = decodeCertifiedSlice(encodeCertifiedSlice(s))
      verifyCertifiedSlice(wire, { ourSubnet: me.subnet.id, sourceSubnet: other.subnet.id, registry: this.registry })
      const seen = this.rejectSignals.get(`${other.subnet.index}->${to}`) ?? new Map<number, RejectReason>()
      for (const r of wire.header.rejectSignals) seen.set(r.index, r.reason)
      this.rejectSignals.set(`${other.subnet.index}->${to}`, seen)
      const rejects = this.rejectResponses.get(`${other.subnet.index}->${to}`) ?? new Map<number, { code: RejectCode, message: string }>()
      for (const { index, message: m } of wire.messages) if (m.kind === 'response' && 'reject' in m.payload) rejects.set(index, m.payload.reject)
      this.rejectResponses.set(`${other.subnet.index}->${to}`, rejects)
      out.set(other.subnet.id.toText(), wire)
    }
    return out
  }

  /**
   * One round on every subnet (slices from the states certified last round), then
   * certification. With `active`, only those subnets execute: the others stall
   * (their heights fall behind and their streams are not read or advanced).
   */
  async round (active?: readonly number[]): Promise<void> {
    this.height++
    this.time += 1000
    const running = this.nodes.map((_, i) => i).filter(i => active === undefined || active.includes(i))
    const batches = running.map(i => {
      const node = this.nodes[i]!
      const batch: Batch = { height: node.mr.height + 1, time: this.time, ingress: this.pendingIngress[i]!.splice(0), xnetSlices: this.slicesFor(i) }
      return { i, batch }
    })
    for (const { i, batch } of batches) {
      this.batches[i]!.push(batch)
      const node = this.nodes[i]!
      const r = await node.mr.executeBatch(batch)
      this.roots[i]!.push(r.stateRoot)
      if (r.checkpoint !== undefined) this.checkpoints[i]!.set(r.height, r.checkpoint.stateHash)
      node.mr.setCertification(r.height, node.subnet.sign(certificateMessage(r.stateRoot)))
    }
  }

  async rounds (n: number): Promise<void> { for (let i = 0; i < n; i++) await this.round() }

  async close (): Promise<void> {
    for (const n of this.nodes) {
      await n.mr.close()
      await n.sandbox.close()
      await rm(n.dataDir, { recursive: true, force: true })
    }
  }
}
