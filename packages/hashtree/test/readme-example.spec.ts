import { strict as assert } from 'node:assert'

describe('README example', () => {
  it('runs', async () => {
    // The code below is the README's example, verbatim.
    const { buildHashTree, reconstruct, lookupPath, witness, encodeHashTree, decodeHashTree, IncrementalHashTree } = await import('../src/index.js')
    const { toHex } = await import('@icnet/types')

    const text = (s: string): Uint8Array => new TextEncoder().encode(s)
    const tree = buildHashTree({ time: Uint8Array.of(0x80, 0x01), canister: { abc: { certified_data: text('hello') } } })
    const root = reconstruct(tree)

    // Reveal one path; everything else is pruned, the root stays the same.
    const proof = witness(tree, [['canister', 'abc', 'certified_data'], ['canister', 'xyz']])
    const received = decodeHashTree(encodeHashTree(proof), { maxBytes: 1 << 20, maxDepth: 64 })
    console.log(toHex(reconstruct(received)) === toHex(root)) // true
    console.log(lookupPath(received, ['canister', 'abc', 'certified_data'])) // { status: 'found', value: … }
    console.log(lookupPath(received, ['canister', 'xyz']).status) // 'absent': proven missing
    console.log(lookupPath(received, ['time']).status) // 'unknown': pruned

    // The same content kept incrementally: each change rehashes its path only.
    const live = new IncrementalHashTree()
    live.set(['time'], Uint8Array.of(0x80, 0x01))
    live.set(['canister', 'abc', 'certified_data'], text('hello'))
    console.log(toHex(live.rootHash()) === toHex(root)) // true
    const certified = live.snapshot() // frozen; `live` keeps changing
    live.set(['canister', 'abc', 'certified_data'], text('bye'))
    console.log(toHex(certified.rootHash()) === toHex(root)) // true
    // End of the README example.

    assert.equal(toHex(reconstruct(received)), toHex(root))
    assert.deepEqual(lookupPath(received, ['canister', 'abc', 'certified_data']), { status: 'found', value: text('hello') })
    assert.equal(lookupPath(received, ['canister', 'xyz']).status, 'absent')
    assert.equal(lookupPath(received, ['time']).status, 'unknown')
    assert.equal(toHex(certified.rootHash()), toHex(root))
    assert.notEqual(toHex(live.rootHash()), toHex(root))
  })
})
