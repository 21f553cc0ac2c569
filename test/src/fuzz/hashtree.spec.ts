import assert from 'node:assert/strict'
import fc from 'fast-check'
import { IcnetError } from '@icnet/types'
import { decodeHashTree, encodeHashTree, listPaths, lookupPath, lookupSubtree, reconstruct, witness } from '@icnet/hashtree'
import { arbHashTreeBytes, arbPath } from './arbitraries.js'
import { expectDecoderContract, fuzz, targetTimeoutMs } from './harness.js'
import { fuzzInput } from './mutate.js'

const SELF_DESCRIBE = Uint8Array.of(0xd9, 0xd9, 0xf7)

describe('fuzz: @icnet/hashtree', function () {
  this.timeout(targetTimeoutMs())

  it('decodeHashTree throws only typed errors and accepts only the canonical encoding', async () => {
    await fuzz('hashtree/decodeHashTree', fuzzInput(arbHashTreeBytes), input => {
      const r = expectDecoderContract(input, bytes => decodeHashTree(bytes))
      if (!r.ok) return
      const body = input.length >= 3 && Buffer.from(input.subarray(0, 3)).equals(SELF_DESCRIBE) ? input.subarray(3) : input
      assert.deepEqual(encodeHashTree(r.value), body, 'a decoded tree re-encodes to the bytes it came from')
    }, 1500)
  })

  it('lookup, reconstruct and witness on decoded random trees never crash', async () => {
    const arb = fc.tuple(fuzzInput(arbHashTreeBytes), fc.array(arbPath, { minLength: 1, maxLength: 4 }))
    await fuzz('hashtree/decoded-tree-operations', arb, ([input, paths]) => {
      const decoded = expectDecoderContract(input, bytes => decodeHashTree(bytes))
      if (!decoded.ok) return
      const tree = decoded.value
      const root = reconstruct(tree)
      assert.equal(root.length, 32)
      for (const path of paths) {
        const found = lookupPath(tree, path)
        assert.ok(['found', 'absent', 'unknown', 'error'].includes(found.status))
        assert.ok(['found', 'absent', 'unknown'].includes(lookupSubtree(tree, path).status))
      }
      listPaths(tree)
      try {
        const w = witness(tree, paths)
        assert.deepEqual(reconstruct(w), root, 'a witness reconstructs to the root of its tree')
      } catch (err) {
        // Trees from the network may be malformed (unsorted labels, paths through leaves).
        assert.ok(err instanceof IcnetError, `witness threw ${String(err)}`)
      }
    }, 800)
  })
})
