/**
 * @packageDocumentation
 *
 * Helpers for icnet tests and benchmarks: real libp2p nodes on loopback TCP (or the
 * memory transport), waiting for conditions, and tidy teardown.
 */
import '@icnet/types/polyfill'
import { noise } from '@chainsafe/libp2p-noise'
import { identify } from '@libp2p/identify'
import { memory } from '@libp2p/memory'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey, ServiceMap, Libp2p, ConnectionGater } from '@libp2p/interface'
import { createLibp2p, type Libp2pOptions, type ServiceFactoryMap } from 'libp2p'

export type TestTransport = 'tcp' | 'memory'

export interface TestNodeOptions<S extends ServiceMap> {
  services?: ServiceFactoryMap<S>
  transport?: TestTransport
  privateKey?: PrivateKey
  connectionGater?: ConnectionGater
  /**
   * libp2p's connection monitor pings every connection and closes it when a ping times
   * out; benchmarks that saturate the event loop may want a longer timeout or none.
   */
  connectionMonitor?: Libp2pOptions['connectionMonitor']
  /** Start the node (default true). */
  start?: boolean
}

let memoryCounter = 0

/**
 * A libp2p node with identify and ping plus the given services, listening on
 * 127.0.0.1 with an ephemeral port (or a unique memory address).
 */
export async function createTestNode<S extends ServiceMap = ServiceMap> (opts: TestNodeOptions<S> = {}): Promise<Libp2p<S & { identify: unknown, ping: unknown }>> {
  const transport = opts.transport ?? 'tcp'
  const node = await createLibp2p({
    privateKey: opts.privateKey ?? await generateKeyPair('Ed25519'),
    start: opts.start ?? true,
    addresses: {
      listen: [transport === 'tcp' ? '/ip4/127.0.0.1/tcp/0' : `/memory/icnet-test-${process.pid}-${memoryCounter++}`]
    },
    transports: [transport === 'tcp' ? tcp() : memory()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: opts.connectionGater ?? { denyDialMultiaddr: () => false },
    // Every test node dials from 127.0.0.1; libp2p's default of 5 inbound connections
    // per second per host would reset dials in meshes of more than a few nodes.
    connectionManager: { inboundConnectionThreshold: 10_000, maxIncomingPendingConnections: 1_000 },
    ...(opts.connectionMonitor !== undefined ? { connectionMonitor: opts.connectionMonitor } : {}),
    services: {
      identify: identify(),
      ping: ping(),
      ...(opts.services ?? {})
    } as ServiceFactoryMap<S & { identify: unknown, ping: unknown }>
  })
  return node as unknown as Libp2p<S & { identify: unknown, ping: unknown }>
}

/** Connects every node to every other node (a full mesh). */
export async function connectAll (nodes: Libp2p[]): Promise<void> {
  for (let i = 0; i < nodes.length; i++) {
    for (let j = i + 1; j < nodes.length; j++) {
      await nodes[i]!.dial(nodes[j]!.getMultiaddrs()[0]!)
    }
  }
}

/**
 * Connects every pair at once, retrying a failed dial a few times with a growing pause:
 * on a loaded machine a noise handshake can time out, and a benchmark should not die of it.
 */
export async function connectMesh (nodes: Libp2p[], opts: { attempts?: number } = {}): Promise<void> {
  const attempts = opts.attempts ?? 5
  await Promise.all(nodes.map(async (n, i) => {
    for (let j = i + 1; j < nodes.length; j++) {
      for (let attempt = 1; ; attempt++) {
        try {
          await n.dial(nodes[j]!.getMultiaddrs()[0]!)
          break
        } catch (err) {
          if (attempt >= attempts) throw err
          await delay(200 * attempt)
        }
      }
    }
  }))
}

/** Stops every node, ignoring ones already stopped. */
export async function stopAll (nodes: Array<{ stop(): void | Promise<void> }>): Promise<void> {
  await Promise.all(nodes.map(async n => { await n.stop() }))
}

/**
 * Polls `condition` until it is true, or throws after `timeoutMs` with `what` in the message.
 * For tests: prefer events, but a bounded poll keeps multi-node assertions readable.
 */
export async function waitFor (condition: () => boolean | Promise<boolean>, opts: { timeoutMs?: number, intervalMs?: number, what?: string } = {}): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000)
  for (;;) {
    if (await condition()) return
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${opts.what ?? 'condition'}`)
    await delay(opts.intervalMs ?? 20)
  }
}

export async function delay (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}
