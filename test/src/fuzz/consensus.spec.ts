import assert from 'node:assert/strict'
import fc from 'fast-check'
import { dealThresholdKeys, generateNodeKeyPair } from '@icnet/crypto'
import { subnetIdFromPublicKeyDer, toHex } from '@icnet/types'
import { ARTIFACT_KINDS, Committee, Consensus, InMemoryBus, NodeSigner, pb, type ArtifactKindName, type ArtifactTransport } from '@icnet/consensus'
import { expectDecoderContract, fuzz, targetTimeoutMs } from './harness.js'
import { fuzzInput } from './mutate.js'

const N = 4

interface Node { consensus: Consensus, chain: Map<number, string>, consumer: Promise<void> }

/** A 4-node subnet on the in-memory bus; node 0's broadcasts are recorded as seeds. */
async function startSubnet (recorded: Map<ArtifactKindName, Uint8Array[]>): Promise<Node[]> {
  const keys = dealThresholdKeys({ n: N, t: 3, seed: Uint8Array.of(9, 9) })
  const bls = Array.from({ length: N }, (_, i) => generateNodeKeyPair(new Uint8Array(32).fill(i + 1)))
  const committee = new Committee({
    subnetId: subnetIdFromPublicKeyDer(keys.publicKeyDer),
    nodes: Array.from({ length: N }, (_, i) => `node-${i}`),
    blsPublicKeys: bls.map(k => k.publicKey),
    thresholdPublicKey: keys.publicKey,
    thresholdSharePublicKeys: keys.sharePublicKeys,
    threshold: keys.threshold
  })
  const bus = new InMemoryBus()
  const nodes: Node[] = []
  for (let i = 0; i < N; i++) {
    const inner = bus.transport(`node-${i}`)
    const transport: ArtifactTransport = i !== 0
      ? inner
      : {
          ...inner,
          broadcast: (kind, bytes) => {
            const list = recorded.get(kind) ?? []
            if (list.length < 64) list.push(bytes)
            recorded.set(kind, list)
            inner.broadcast(kind, bytes)
          }
        }
    const consensus = new Consensus({
      committee,
      signer: new NodeSigner({ index: i, blsSecretKey: bls[i]!.secretKey, thresholdSecretKey: keys.shares[i]!.secretKey }),
      params: { unitDelayMs: 20, maxBlockPayloadBytes: 1024 * 1024, checkpointInterval: 5 },
      transport,
      name: `fuzz-${i}`
    })
    await consensus.start()
    const chain = new Map<number, string>()
    const consumer = (async () => { for await (const b of consensus.batches()) chain.set(b.height, toHex(b.blockHash)) })()
    nodes.push({ consensus, chain, consumer })
  }
  return nodes
}

async function until (condition: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

describe('fuzz: @icnet/consensus', function () {
  this.timeout(targetTimeoutMs(180_000))

  it('artifact codecs fail cleanly on mutated artifacts', async () => {
    const recorded = new Map<ArtifactKindName, Uint8Array[]>()
    const nodes = await startSubnet(recorded)
    try {
      await until(() => nodes[0]!.consensus.finalizedHeight >= 6, 'six finalized heights')
    } finally {
      await Promise.all(nodes.map(async n => { await n.consensus.stop() }))
    }
    const codecs: Record<string, { decode: (b: Uint8Array) => unknown }> = {
      'block-proposal': pb.BlockProposal,
      'random-beacon-share': pb.RandomBeaconShare,
      'random-beacon': pb.RandomBeacon,
      'notarization-share': pb.BlockShare,
      'finalization-share': pb.BlockShare,
      notarization: pb.BlockMultiSig,
      finalization: pb.BlockMultiSig,
      'certification-share': pb.CertificationShare,
      certification: pb.Certification,
      'catch-up-share': pb.CatchUpShare,
      'catch-up-package': pb.CatchUpPackage
    }
    const seeds = [...recorded].flatMap(([kind, list]) => list.map(bytes => [kind, bytes] as const))
    assert.ok(seeds.length > 0)
    const arb = fc.constantFrom(...seeds).chain(([kind, bytes]) => fc.tuple(fc.constant(kind), fuzzInput(fc.constant(bytes))))
    await fuzz('consensus/artifact-codecs', arb, ([kind, input]) => {
      // Raw protobuf: any Error but a TypeError (the consensus core catches and counts these).
      expectDecoderContract(input, b => codecs[kind]!.decode(b), err => err instanceof Error && !(err instanceof TypeError))
    }, 1500)
  })

  it('a node fed mutated artifacts stays safe and live, with no unhandled rejection', async () => {
    const recorded = new Map<ArtifactKindName, Uint8Array[]>()
    const nodes = await startSubnet(recorded)
    const unhandled: unknown[] = []
    const onUnhandled = (reason: unknown): void => { unhandled.push(reason) }
    process.on('unhandledRejection', onUnhandled)
    try {
      await until(() => nodes[0]!.consensus.finalizedHeight >= 6, 'six finalized heights')
      const seeds = [...recorded].flatMap(([kind, list]) => list.map(bytes => [kind, bytes] as const))
      const arb = fc.oneof(
        { arbitrary: fc.constantFrom(...seeds).chain(([kind, bytes]) => fc.tuple(fc.constant(kind), fuzzInput(fc.constant(bytes)))), weight: 4 },
        { arbitrary: fc.tuple(fc.constantFrom(...ARTIFACT_KINDS), fc.constantFrom(...seeds).map(([, bytes]) => bytes)), weight: 1 }
      )
      const victim = nodes[3]!.consensus
      await fuzz('consensus/receive', arb, async ([kind, input]) => {
        victim.receive(kind, input)
        // Let the node process what it was given between inputs.
        await new Promise(resolve => setImmediate(resolve))
      }, 150)
      const reached = victim.finalizedHeight
      await until(() => nodes.every(n => n.consensus.finalizedHeight >= reached + 3), 'three more heights on every node after the fuzzing')
      for (const a of nodes) {
        for (const b of nodes) {
          for (const [h, hash] of a.chain) if (b.chain.has(h)) assert.equal(b.chain.get(h), hash, `fork at height ${h}`)
        }
      }
      assert.deepEqual(unhandled, [])
    } finally {
      process.off('unhandledRejection', onUnhandled)
      await Promise.all(nodes.map(async n => { await n.consensus.stop() }))
    }
  })
})
