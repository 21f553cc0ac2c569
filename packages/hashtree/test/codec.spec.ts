import { strict as assert } from 'node:assert'
import { concatBytes, fromHex, InvalidEncodingError } from '@icnet/types'
import { buildHashTree, decodeHashTree, empty, encodeHashTree, fork, forkTreeOf, labeled, leaf, type HashTree } from '../src/index.js'

function forkChain (depth: number): HashTree {
  let t: HashTree = empty()
  for (let i = 0; i < depth; i++) t = fork(t, empty())
  return t
}

describe('hash tree CBOR bounds', () => {
  it('refuses input over maxBytes before reading it', () => {
    const bytes = encodeHashTree(leaf(new Uint8Array(100)))
    assert.throws(() => decodeHashTree(bytes, { maxBytes: 50 }), InvalidEncodingError)
    assert.equal(decodeHashTree(bytes, { maxBytes: 200 }).kind, 'leaf')
  })

  it('refuses nesting deeper than maxDepth while decoding, without recursion', () => {
    const deep = encodeHashTree(forkChain(200))
    assert.throws(() => decodeHashTree(deep), InvalidEncodingError)
    assert.equal(decodeHashTree(deep, { maxDepth: 201 }).kind, 'fork')
    assert.throws(() => decodeHashTree(encodeHashTree(forkChain(10)), { maxDepth: 10 }), InvalidEncodingError)
  })

  it('a hostile 1 MB chain of nested arrays fails fast with the typed error', () => {
    const bytes = new Uint8Array(1_000_000).fill(0x83)
    assert.throws(() => decodeHashTree(bytes), InvalidEncodingError)
  })

  it('accepts the self-describe tag, refuses trailing bytes and malformed nodes', () => {
    const tree = labeled('a', leaf('b'))
    const plain = encodeHashTree(tree)
    assert.deepEqual(decodeHashTree(concatBytes(fromHex('d9d9f7'), plain)), tree)
    assert.throws(() => decodeHashTree(concatBytes(plain, Uint8Array.of(0))), InvalidEncodingError)
    assert.throws(() => decodeHashTree(fromHex('820441ff')), InvalidEncodingError) // pruned digest of 1 byte
    assert.throws(() => decodeHashTree(fromHex('8105')), InvalidEncodingError) // node kind 5
    assert.throws(() => decodeHashTree(fromHex('820000')), InvalidEncodingError) // empty with a field
    assert.throws(() => decodeHashTree(fromHex('83024161')), InvalidEncodingError) // truncated
    assert.throws(() => decodeHashTree(fromHex('8302416141')), InvalidEncodingError) // subtree is bytes
    assert.throws(() => decodeHashTree(fromHex('9f00ff')), InvalidEncodingError) // indefinite length
    assert.throws(() => decodeHashTree(fromHex('a0')), InvalidEncodingError) // a map
    assert.throws(() => decodeHashTree(new Uint8Array(0)), InvalidEncodingError)
  })
})

describe('buildHashTree', () => {
  it('joins a level as the IC does: neighbours paired left to right, an odd last one carried up', () => {
    const l = (s: string): HashTree => labeled(s, leaf(s))
    assert.deepEqual(forkTreeOf([l('a')]), l('a'))
    assert.deepEqual(forkTreeOf([l('a'), l('b'), l('c')]), fork(fork(l('a'), l('b')), l('c')))
    assert.deepEqual(forkTreeOf(['a', 'b', 'c', 'd', 'e'].map(l)), fork(fork(fork(l('a'), l('b')), fork(l('c'), l('d'))), l('e')))
    assert.deepEqual(forkTreeOf(['a', 'b', 'c', 'd', 'e', 'f', 'g'].map(l)),
      fork(fork(fork(l('a'), l('b')), fork(l('c'), l('d'))), fork(fork(l('e'), l('f')), l('g'))))
    assert.deepEqual(forkTreeOf([]), empty())
  })

  it('sorts labels by bytes and takes maps, entry lists and objects alike', () => {
    const v = Uint8Array.of(1)
    const fromObject = buildHashTree({ b: v, a: v, ab: v })
    const fromMap = buildHashTree(new Map<string | Uint8Array, Uint8Array>([[Uint8Array.of(0x61, 0x62), v], ['b', v], ['a', v]]))
    const fromList = buildHashTree([['ab', v], ['a', v], ['b', v]])
    assert.deepEqual(fromObject, fromMap)
    assert.deepEqual(fromObject, fromList)
    assert.deepEqual(fromObject, fork(fork(labeled('a', leaf(v)), labeled('ab', leaf(v))), labeled('b', leaf(v))))
  })

  it('refuses duplicate labels', () => {
    assert.throws(() => buildHashTree([['a', Uint8Array.of(1)], [Uint8Array.of(0x61), Uint8Array.of(2)]]), { name: 'InconsistentTreeError' })
  })
})
