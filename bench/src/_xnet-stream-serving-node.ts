/**
 * Node A of the xnet-stream benchmark: the serving node. It holds a stream to
 * B's subnet of 1 KiB requests in an `InMemoryCertifiedStreamStore` (3-of-4
 * threshold key), serves certified slices over `/icnet/xnet/stream/1.0.0`,
 * garbage-collects, refills and certifies when told how far B got, and writes
 * the raw-stream baseline. It runs in the benchmark's process (`--layout
 * one-process`) or in a child process of its own (the default), driven over
 * the IPC channel; the child exits as soon as that channel closes, so it never
 * outlives the benchmark.
 *
 * The file name starts with `_`, so `npm run bench` does not list it as a benchmark.
 */
import '@icnet/types/polyfill'
import type { Libp2p } from '@libp2p/interface'
import { RAW_PROTOCOL, waitDrain } from './_raw-stream.js'
import { dealThresholdKeys } from '@icnet/crypto'
import { createTestNode } from '@icnet/test-utils'
import { canisterIdFromU64, subnetIdFromPublicKeyDer, type Request, type SubnetId } from '@icnet/types'
import { type CertifiedStreamStore, InMemoryCertifiedStreamStore, StaticRegistryView, xnetStream } from '@icnet/xnet-stream'

export const MSG_BYTES = 1024
export { RAW_PROTOCOL } from './_raw-stream.js'
/** The raw baseline's write size (what a plain libp2p stream user would send). */
export const RAW_CHUNK_BYTES = 64 * 1024
/** The flag that makes this module, run as a script, serve over the IPC channel. */
export const SERVING_NODE_FLAG = '--xnet-stream-serving-node'

export interface BenchSubnet { keys: ReturnType<typeof dealThresholdKeys>, id: SubnetId }

/** The two subnets, dealt from fixed seeds so both processes derive the same keys. */
export function benchSubnets (): { a: BenchSubnet, b: BenchSubnet } {
  const subnet = (seed: string): BenchSubnet => {
    const keys = dealThresholdKeys({ n: 4, t: 3, seed: new TextEncoder().encode(seed) })
    return { keys, id: subnetIdFromPublicKeyDer(keys.publicKeyDer) }
  }
  return { a: subnet('bench-xnet-a'), b: subnet('bench-xnet-b') }
}

export interface NodeInfo { peerId: string, addrs: string[] }

/** Both nodes' registry: A (subnet a) serves, B (subnet b) pulls. */
export function benchRegistry (subnets: { a: BenchSubnet, b: BenchSubnet }, nodeA: NodeInfo, nodeB: NodeInfo): StaticRegistryView {
  const { a, b } = subnets
  return new StaticRegistryView({
    subnets: [
      { id: a.id, type: 'application', nodes: [nodeA.peerId], publicKey: a.keys.publicKey, publicKeyDer: a.keys.publicKeyDer },
      { id: b.id, type: 'application', nodes: [nodeB.peerId], publicKey: b.keys.publicKey, publicKeyDer: b.keys.publicKeyDer }
    ],
    nodes: [[nodeA, a.id], [nodeB, b.id]].map(([n, subnetId]) => ({
      id: (n as NodeInfo).peerId, subnetId: subnetId as SubnetId, p2pAddresses: (n as NodeInfo).addrs, blsPublicKey: new Uint8Array(48)
    }))
  })
}

export function nodeInfo (node: Libp2p): NodeInfo {
  return { peerId: node.peerId.toString(), addrs: node.getMultiaddrs().map(a => a.toString()) }
}

/** What the benchmark asks of node A; the same calls in-process or over IPC. */
export interface ServingNodeApi {
  /** Starts node A with the first certified height; its address and the certified stream end. */
  start (opts: { rawRoundBytes: number }): Promise<NodeInfo & { end: number }>
  /** Tells A who B is (A serves only nodes of the destination subnet). */
  setClient (b: NodeInfo): Promise<void>
  /** B has everything below `received`: A learns it from B's signals, GCs, refills and certifies. The new certified end. */
  advance (received: number): Promise<{ end: number, certifyMs: number }>
  /** Resolves once the last raw-stream round's stream is closed at A as well, so its teardown falls in no timed phase. */
  rawClosed (): Promise<void>
  /** Time spent cutting slices (the store's `encodeSlice`). */
  stats (): Promise<{ serverCutMs: number }>
  stop (): Promise<void>
}

function message (seq: number): Request {
  const methodPayload = new Uint8Array(MSG_BYTES)
  new DataView(methodPayload.buffer).setUint32(0, seq)
  return { kind: 'request', receiver: canisterIdFromU64(1), sender: canisterIdFromU64(2), methodName: 'bench', methodPayload, senderReplyCallback: seq }
}

export class ServingNode implements ServingNodeApi {
  private readonly subnets = benchSubnets()
  private readonly store = new InMemoryCertifiedStreamStore({ subnetId: this.subnets.a.id, shares: this.subnets.a.keys.shares, threshold: 3 })
  private readonly stream = this.store.stream(this.subnets.b.id)
  private seq = 0
  private serverCutMs = 0
  private node: Libp2p | undefined
  private registry: StaticRegistryView | undefined
  /** The last raw-stream round's stream, closed. */
  private rawRound: Promise<void> = Promise.resolve()

  async start (opts: { rawRoundBytes: number }): Promise<NodeInfo & { end: number }> {
    const { store } = this
    const timedStore: CertifiedStreamStore = {
      encodeSlice: (destination, query) => {
        const t0 = performance.now()
        try { return store.encodeSlice(destination, query) } finally { this.serverCutMs += performance.now() - t0 }
      }
    }
    const node = await createTestNode({
      services: {
        xnet: xnetStream({
          subnetId: this.subnets.a.id,
          registry: () => {
            if (this.registry === undefined) throw new Error('setClient first')
            return this.registry
          },
          store: timedStore
        })
      }
    })
    this.node = node
    await node.handle(RAW_PROTOCOL, async (s) => {
      this.rawRound = new Promise<void>(resolve => { s.addEventListener('close', () => { resolve() }, { once: true }) })
      const chunk = new Uint8Array(RAW_CHUNK_BYTES)
      for (let sent = 0; sent < opts.rawRoundBytes; sent += chunk.length) {
        if (!s.send(chunk)) await waitDrain(s)
      }
      await s.close().catch(() => {})
    }, { maxInboundStreams: 1 })
    this.fill()
    store.certify()
    return { ...nodeInfo(node), end: this.certifiedEnd() }
  }

  async setClient (b: NodeInfo): Promise<void> {
    this.registry = benchRegistry(this.subnets, nodeInfo(this.node!), b)
  }

  async advance (received: number): Promise<{ end: number, certifyMs: number }> {
    const t0 = performance.now()
    this.stream.discardMessagesBefore(received, [])
    this.fill()
    this.store.certify()
    return { end: this.certifiedEnd(), certifyMs: performance.now() - t0 }
  }

  async rawClosed (): Promise<void> {
    await this.rawRound
  }

  async stats (): Promise<{ serverCutMs: number }> {
    return { serverCutMs: this.serverCutMs }
  }

  async stop (): Promise<void> {
    await this.node?.stop()
  }

  private fill (): void {
    while (this.stream.tryPush(message(this.seq))) this.seq++
  }

  private certifiedEnd (): number {
    return this.store.certifiedHeader(this.subnets.b.id)!.end
  }
}

type Call = { id: number, method: keyof ServingNodeApi, args: unknown[] }
type Reply = { id: number, result?: unknown, error?: string }

/** Node A in a child process: `fork(this file, [SERVING_NODE_FLAG])`; the child dies with the IPC channel. */
async function serveOverIpc (): Promise<void> {
  const node = new ServingNode()
  // The parent is gone (exit, crash, Ctrl-C, timeout's SIGTERM): no orphan keeps the port and a core.
  process.on('disconnect', () => { process.exit(0) })
  process.on('message', (m: Call) => {
    const method = node[m.method] as (...args: unknown[]) => Promise<unknown>
    method.apply(node, m.args).then(
      result => { process.send!({ id: m.id, result } satisfies Reply) },
      (err: unknown) => { process.send!({ id: m.id, error: err instanceof Error ? err.stack ?? err.message : String(err) } satisfies Reply) }
    )
  })
}

/** The driver's side of the IPC channel to a forked serving node. */
export function servingNodeOverIpc (child: { send: (m: Call) => boolean, on: (event: 'message', fn: (m: Reply) => void) => unknown }): ServingNodeApi {
  let nextId = 0
  const pending = new Map<number, { resolve: (v: unknown) => void, reject: (e: Error) => void }>()
  child.on('message', (m: Reply) => {
    const p = pending.get(m.id)
    if (p === undefined) return
    pending.delete(m.id)
    if (m.error !== undefined) p.reject(new Error(`serving node: ${m.error}`))
    else p.resolve(m.result)
  })
  // The child runs ServingNode itself, so each answer has the type of that method's result.
  const call = async <M extends keyof ServingNodeApi>(method: M, ...args: Parameters<ServingNodeApi[M]>): Promise<Awaited<ReturnType<ServingNodeApi[M]>>> =>
    await new Promise<Awaited<ReturnType<ServingNodeApi[M]>>>((resolve, reject) => {
      const id = nextId++
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject })
      child.send({ id, method, args })
    })
  return {
    start: async (opts) => await call('start', opts),
    setClient: async (b) => { await call('setClient', b) },
    advance: async (received) => await call('advance', received),
    rawClosed: async () => { await call('rawClosed') },
    stats: async () => await call('stats'),
    stop: async () => { await call('stop') }
  }
}

if (process.argv.includes(SERVING_NODE_FLAG)) await serveOverIpc()
