import assert from 'node:assert/strict'
import { rm } from 'node:fs/promises'
import { Principal, toHex } from '@icnet/types'
import type { CertifiedStreamSlice } from '@icnet/xnet-stream'
import { ANONYMOUS, Network, canisterOf, loadModule, type SandboxKind } from './harness.js'

for (const kind of ['js', 'wasm'] as const satisfies SandboxKind[]) {
  describe(`determinism (${kind} sandbox)`, function () {
    this.timeout(120_000)

    it('two replicas of a subnet fed the same batches reach the same roots and checkpoint hashes', async () => {
      const net = await Network.create({ subnets: 2, sandbox: kind, checkpointInterval: 4 })
      try {
        await net.installLoad()
        net.configure(0, 0, 6, [canisterOf(1, 0)])
        net.configure(1, 0, 3, [canisterOf(0, 0)])
        await net.rounds(10)
        // A second node of subnet 0, from genesis, executing the batches the first one did.
        const twin = await net.openNode(0)
        try {
          await twin.mr.installCanister({ canisterId: canisterOf(0, 0), module: await loadModule(kind), controllers: [ANONYMOUS] })
          for (const [h, batch] of net.batches[0]!.entries()) {
            // The twin gets the slices as xnet-stream's payload list instead of a map: same result.
            const list = [...(batch.xnetSlices as Map<string, CertifiedStreamSlice>)].map(([k, slice]) => ({ subnet: Principal.fromText(k), slice }))
            const r = await twin.mr.executeBatch({ ...batch, xnetSlices: list.reverse() })
            assert.equal(toHex(r.stateRoot), toHex(net.roots[0]![h]!), `root at height ${h + 1}`)
            if (r.checkpoint !== undefined) assert.equal(toHex(r.checkpoint.stateHash), toHex(net.checkpoints[0]!.get(r.height)!))
          }
          assert.equal(net.checkpoints[0]!.size, 2)
          // Roots differ from height to height (the chain of prev_state_hash), so equality is not trivial.
          assert.equal(new Set(net.roots[0]!.map(toHex)).size, net.roots[0]!.length)
        } finally {
          await twin.sandbox.close()
          await rm(twin.dataDir, { recursive: true, force: true })
        }
      } finally {
        await net.close()
      }
    })
  })
}
