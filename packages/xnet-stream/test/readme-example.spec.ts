import assert from 'node:assert/strict'

// The README's example, run as a test (keep the two in sync).
describe('README example', function () {
  this.timeout(60_000)
  it('runs two subnets of one node each and delivers a certified slice', async () => {
    // --- README example start
    const { dealThresholdKeys } = await import('@icnet/crypto')
    const { createTestNode, stopAll, waitFor } = await import('@icnet/test-utils')
    const { canisterIdFromU64, subnetIdFromPublicKeyDer } = await import('@icnet/types')
    const { CertifiedSlicePool, InMemoryCertifiedStreamStore, StaticRegistryView, xnetStream } = await import('../src/index.js')

    // Two subnets, each with a threshold key (1-of-1 here) and one node.
    const keysA = dealThresholdKeys({ n: 1, t: 1 })
    const keysB = dealThresholdKeys({ n: 1, t: 1 })
    const A = subnetIdFromPublicKeyDer(keysA.publicKeyDer)
    const B = subnetIdFromPublicKeyDer(keysB.publicKeyDer)

    // A's streams live in an in-memory certified store; B keeps a pool of verified slices.
    const storeA = new InMemoryCertifiedStreamStore({ subnetId: A, shares: keysA.shares, threshold: 1 })
    let registry!: InstanceType<typeof StaticRegistryView>
    const poolB = new CertifiedSlicePool({ ourSubnet: B, registry: () => registry })
    const inducted: string[] = []

    const nodeA = await createTestNode({ services: { xnet: xnetStream({ subnetId: A, registry: () => registry, store: storeA }) } })
    const nodeB = await createTestNode({
      services: {
        xnet: xnetStream({
          subnetId: B,
          registry: () => registry,
          pool: poolB,
          expectedIndices: () => ({ message: inducted.length, signal: 0 }),
          pollIntervalMs: 50
        })
      }
    })
    registry = new StaticRegistryView({
      subnets: [
        { id: A, type: 'application', nodes: [nodeA.peerId.toString()], publicKey: keysA.publicKey, publicKeyDer: keysA.publicKeyDer },
        { id: B, type: 'application', nodes: [nodeB.peerId.toString()], publicKey: keysB.publicKey, publicKeyDer: keysB.publicKeyDer }
      ],
      nodes: [
        { id: nodeA.peerId.toString(), subnetId: A, p2pAddresses: nodeA.getMultiaddrs().map(String), blsPublicKey: new Uint8Array(48) },
        { id: nodeB.peerId.toString(), subnetId: B, p2pAddresses: nodeB.getMultiaddrs().map(String), blsPublicKey: new Uint8Array(48) }
      ]
    })

    // A canister on A calls one on B: the request goes into stream A→B, then A certifies.
    storeA.stream(B).push({
      kind: 'request',
      receiver: canisterIdFromU64(7),
      sender: canisterIdFromU64(1),
      methodName: 'greet',
      methodPayload: new TextEncoder().encode('hello from A'),
      senderReplyCallback: 1
    })
    storeA.certify()

    // B's node pulls the certified slice in the background; B's host takes it from the pool.
    await waitFor(() => poolB.size > 0, { what: 'a certified slice from A' })
    const taken = poolB.takeSlice(A, { message: 0, signal: 0 }, { byteLimit: 1 << 20 })!
    for (const m of taken.slice.messages) {
      if (m.message.kind === 'request') inducted.push(new TextDecoder().decode(m.message.methodPayload))
    }
    console.log(inducted) // [ 'hello from A' ]
    await stopAll([nodeA, nodeB])
    // --- README example end
    assert.deepEqual(inducted, ['hello from A'])
  })
})
