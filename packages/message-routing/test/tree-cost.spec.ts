import assert from 'node:assert/strict'
import { rm } from 'node:fs/promises'
import { JS_TEST_CANISTERS, JsSandbox } from '@icnet/execution'
import { certificateMessage } from '@icnet/crypto'
import { hashOperationCount, reconstruct } from '@icnet/hashtree'
import { MessageRouting } from '../src/index.js'
import { canisterOf, ingress, makeSubnets, registryOf, tempDir } from './harness.js'

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
})
