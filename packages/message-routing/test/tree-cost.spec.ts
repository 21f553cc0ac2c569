import assert from 'node:assert/strict'
import { rm } from 'node:fs/promises'
import { JS_TEST_CANISTERS, JsSandbox } from '@icnet/execution'
import { certificateMessage } from '@icnet/crypto'
import { hashOperationCount, reconstruct, type HashTree } from '@icnet/hashtree'
import { labelIndex, verifyCertifiedSlice } from '@icnet/xnet-stream'
import { MessageRouting } from '../src/index.js'
import { Network, canisterOf, ingress, makeSubnets, registryOf, tempDir } from './harness.js'

describe('state tree cost', function () {
  this.timeout(60_000)

  it('grows with the changes of a round, not with the size of the state', async () => {
    const [subnet] = makeSubnets(1, 'tree-cost')
    const dataDir = await tempDir()
    const sandbox = new JsSandbox({ canisters: JS_TEST_CANISTERS })
    const mr = await MessageRouting.open({
      subnetId: subnet!.id, registry: registryOf([subnet!]), sandbox, dataDir, checkpointInterval: 1_000_000,
      limits: { ingressQueueCapacity: 5_000 }
    })
    try {
      const counter = canisterOf(0, 1)
      await mr.installCanister({ canisterId: counter, module: new TextEncoder().encode('counter') })
      let height = 0
      let time = 1_700_000_000_000
      const run = async (n = 0): Promise<number> => {
        time += 1000
        const msgs = Array.from({ length: n }, () => ingress(counter, 'inc', new Uint8Array(0), time + 120_000))
        const before = hashOperationCount()
        const r = await mr.executeBatch({ height: ++height, time, ingress: msgs })
        const used = hashOperationCount() - before
        mr.setCertification(r.height, subnet!.sign(certificateMessage(r.stateRoot)))
        return used
      }
      await run(0)
      const smallQuiet = await run(0)
      const smallOne = await run(1)
      // Grow the state: 3,000 answered ingress messages in the history (4 leaves each).
      await run(3_000)
      assert.equal(mr.stats().ingressHistory, 3_001)
      const bigQuiet = await run(0)
      const bigOne = await run(1)
      const full = mr.latestCertifiedState()!.tree.toHashTree()
      const before = hashOperationCount()
      reconstruct(full)
      const rebuild = hashOperationCount() - before
      // A quiet round (time and metadata only) costs the same on a 1,000x larger state.
      assert.ok(bigQuiet <= smallQuiet + 4, `quiet round: ${bigQuiet} hashes on the large state vs ${smallQuiet} on the small one`)
      // One new request status is an insertion into a level of 3,000: only fork digests to its right are redone.
      assert.ok(bigOne > smallOne)
      assert.ok(bigOne * 4 < rebuild, `one change: ${bigOne} hashes vs ${rebuild} for a rebuild`)
    } finally {
      await mr.close()
      await sandbox.close()
      await rm(dataDir, { recursive: true, force: true })
    }
  })

  it('a slice costs a hash per message it reveals, not one per message in the stream', async () => {
    const net = await Network.create({ subnets: 2, sandbox: 'js' })
    try {
      await net.installLoad()
      net.configure(0, 0, 300, [canisterOf(1, 0)])
      net.msgLimit[1] = 0 // subnet 1 takes no messages: the stream 0→1 only grows
      for (let r = 0; r < 8; r++) await net.round()
      const sender = net.nodes[0]!.mr
      const to = net.subnets[1]!.id
      const length = sender.stats().streams[0]!.messages
      assert.ok(length >= 2000, `a long stream (${length} messages)`)
      const before = hashOperationCount()
      const slice = sender.certifiedStreamStore.slice(to, { msgBegin: 1000, witnessBegin: 997, msgLimit: 5 })
      const used = hashOperationCount() - before
      assert.ok(!('code' in slice))
      assert.deepEqual(slice.messages.map(m => m.index), [1000, 1001, 1002, 1003, 1004])
      // The proof reveals exactly [witness_begin, end) and reconstructs to the certified root.
      const revealed: number[] = []
      const walk = (t: HashTree, inMessages: boolean): void => {
        if (t.kind === 'fork') { walk(t.left, inMessages); walk(t.right, inMessages) }
        if (t.kind !== 'labeled') return
        if (inMessages) revealed.push(labelIndex(t.label))
        else walk(t.subtree, new TextDecoder().decode(t.label) === 'messages')
      }
      walk(slice.merkleProof, false)
      assert.deepEqual(revealed, [997, 998, 999, 1000, 1001, 1002, 1003, 1004])
      verifyCertifiedSlice(slice, { ourSubnet: to, sourceSubnet: net.subnets[0]!.id, registry: net.registry })
      // 8 leaves plus the few pruned digests the tree does not keep; the whole stream would be thousands.
      assert.ok(used < 100, `${used} hash operations for a slice of 5 messages out of ${length}`)
    } finally {
      await net.close()
    }
  })
})
