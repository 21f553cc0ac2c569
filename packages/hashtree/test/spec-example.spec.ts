import { strict as assert } from 'node:assert'
import { fromHex, toHex } from '@icnet/types'
import {
  buildHashTree, decodeHashTree, empty, encodeHashTree, fork, labeled, leaf, leafDigest, lookupPath, pruned,
  reconstruct, witness, type HashTree
} from '../src/index.js'

// The example tree of the IC interface specification ("Certificate" section, "Example"):
//
//   ─┬─┬╴"a" ─┬─┬╴"x" ─╴"hello"
//    │ │      │ └╴Empty
//    │ │      └╴  "y" ─╴"world"
//    │ └╴"b" ──╴"good"
//    └─┬╴"c" ──╴Empty
//      └╴"d" ──╴"morning"
const SPEC_CBOR = '8301830183024161830183018302417882034568656c6c6f810083024179820345776f726c6483024162820344676f6f648301830241638100830241648203476d6f726e696e67'
const SPEC_ROOT = 'eb5c5b2195e62d996b84c9bcc8259d19a83786a2f59e0878cec84c811f669aa0'
// The same tree with everything pruned except /a/y and /d, also from the specification.
const SPEC_PRUNED_CBOR = '83018301830241618301820458201b4feff9bef8131788b0c9dc6dbad6e81e524249c879e9f10f71ce3749f5a63883024179820345776f726c6483024162820458207b32ac0c6ba8ce35ac82c255fc7906f7fc130dab2a090f80fe12f9c2cae83ba6830182045820ec8324b8a1f1ac16bd2e806edba78006479c9877fed4eb464a25485465af601d830241648203476d6f726e696e67'

const specTree: HashTree = fork(
  fork(
    labeled('a', fork(fork(labeled('x', leaf('hello')), empty()), labeled('y', leaf('world')))),
    labeled('b', leaf('good'))
  ),
  fork(labeled('c', empty()), labeled('d', leaf('morning')))
)

describe('the interface specification example', () => {
  it('decodes to the published tree and reconstructs the published root hash', () => {
    const tree = decodeHashTree(fromHex(SPEC_CBOR))
    assert.deepEqual(tree, specTree)
    assert.equal(toHex(reconstruct(tree)), SPEC_ROOT)
  })

  it('encodes to the published CBOR bytes', () => {
    assert.equal(toHex(encodeHashTree(specTree)), SPEC_CBOR)
  })

  it('matches the published digests of its parts', () => {
    assert.equal(toHex(leafDigest(new TextEncoder().encode('good'))), '7b32ac0c6ba8ce35ac82c255fc7906f7fc130dab2a090f80fe12f9c2cae83ba6')
    assert.equal(toHex(reconstruct(labeled('c', empty()))), 'ec8324b8a1f1ac16bd2e806edba78006479c9877fed4eb464a25485465af601d')
    assert.equal(toHex(reconstruct(fork(labeled('x', leaf('hello')), empty()))), '1b4feff9bef8131788b0c9dc6dbad6e81e524249c879e9f10f71ce3749f5a638')
  })

  it('the published pruned tree has the same root, and lookups say found / absent / unknown as the specification does', () => {
    const tree = decodeHashTree(fromHex(SPEC_PRUNED_CBOR))
    assert.equal(toHex(reconstruct(tree)), SPEC_ROOT)
    const text = (path: string[]): string => {
      const r = lookupPath(tree, path)
      return r.status === 'found' ? new TextDecoder().decode(r.value) : r.status
    }
    assert.equal(text(['a', 'y']), 'world')
    assert.equal(text(['d']), 'morning')
    assert.equal(text(['a', 'x']), 'unknown') // hidden in the pruned left part of /a
    assert.equal(text(['a', 'z']), 'absent') // greater than the last label of /a
    assert.equal(text(['b']), 'unknown') // its leaf is pruned
    assert.equal(text(['c']), 'unknown') // /c is inside a pruned node
    assert.equal(text(['e']), 'absent') // greater than the last label
    assert.equal(text(['a']), 'error') // an inner node is not a value
  })

  it('lookups on the full tree', () => {
    const t = (path: string[]): string => {
      const r = lookupPath(specTree, path)
      return r.status === 'found' ? new TextDecoder().decode(r.value) : r.status
    }
    assert.equal(t(['a', 'x']), 'hello')
    assert.equal(t(['a', 'y']), 'world')
    assert.equal(t(['b']), 'good')
    assert.equal(t(['c']), 'absent') // /c is an empty subtree
    assert.equal(t(['d']), 'morning')
    assert.equal(t(['a', 'xx']), 'absent') // between x and y, the Empty in between does not count
    assert.equal(t(['0']), 'absent')
    assert.equal(t(['b', 'c']), 'error') // through a leaf
  })

  it('a witness for /a/y and /d reconstructs the root and reveals exactly those', () => {
    const w = witness(specTree, [['a', 'y'], ['d']])
    assert.equal(toHex(reconstruct(w)), SPEC_ROOT)
    assert.deepEqual(lookupPath(w, ['a', 'y']), { status: 'found', value: new TextEncoder().encode('world') })
    assert.equal(lookupPath(w, ['b']).status, 'unknown')
    assert.equal(lookupPath(w, ['a', 'x']).status, 'unknown')
  })

  it('buildHashTree gives the IC canonical shape for the same content', () => {
    const built = buildHashTree({ a: { x: new TextEncoder().encode('hello'), y: new TextEncoder().encode('world') }, b: new TextEncoder().encode('good'), c: {}, d: new TextEncoder().encode('morning') })
    // Four labels: two pairs joined by a fork (the spec example adds an extra Empty under /a, so roots differ).
    assert.deepEqual(built, fork(
      fork(labeled('a', fork(labeled('x', leaf('hello')), labeled('y', leaf('world')))), labeled('b', leaf('good'))),
      fork(labeled('c', empty()), labeled('d', leaf('morning')))
    ))
    assert.equal(pruned(new Uint8Array(32)).kind, 'pruned')
  })
})
