import { encode, type Token, Tokenizer, Type } from 'cborg'
import { InvalidEncodingError } from '@icnet/types'
import { DIGEST_BYTES } from './digest.js'
import type { HashTree } from './types.js'

/**
 * CBOR form of a hash tree, as in the interface specification:
 *
 *   empty    [0]
 *   fork     [1, left, right]
 *   labeled  [2, label: bytes, subtree]
 *   leaf     [3, value: bytes]
 *   pruned   [4, digest: bytes(32)]
 *
 * Definite-length arrays and byte strings only. The decoder also accepts the
 * self-describe tag 55799 in front.
 */

/** Default bound on an encoded tree: a certificate or a stream slice, with room to spare. */
export const DEFAULT_MAX_TREE_BYTES = 64 * 1024 * 1024
/** Default bound on nesting (forks and labels). The IC's own limit on recursion is 128. */
export const DEFAULT_MAX_TREE_DEPTH = 128


export interface DecodeHashTreeOptions {
  /** Refuse input longer than this, before looking at it. */
  maxBytes?: number
  /** Refuse trees nested deeper than this, while decoding. */
  maxDepth?: number
}

export function encodeHashTree (tree: HashTree): Uint8Array {
  return plain(encode(toCborValue(tree)))
}

/** A plain Uint8Array view (not a Node Buffer), so that decoded bytes compare and print like any other. */
function plain (bytes: Uint8Array): Uint8Array {
  return Object.getPrototypeOf(bytes) === Uint8Array.prototype ? bytes : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/** The tree as plain arrays, ready for a CBOR encoder (e.g. inside a certificate map). */
export function toCborValue (tree: HashTree): unknown {
  switch (tree.kind) {
    case 'empty': return [0]
    case 'fork': return [1, toCborValue(tree.left), toCborValue(tree.right)]
    case 'labeled': return [2, tree.label, toCborValue(tree.subtree)]
    case 'leaf': return [3, tree.value]
    case 'pruned': return [4, tree.digest]
  }
}

/** Parsing state for one open array: the node tag once read, and the children read so far. */
interface Frame { length: number, tag: number | undefined, parts: Array<HashTree | Uint8Array> }

/**
 * Decodes a CBOR hash tree. Bounds the input size before reading, the nesting
 * depth while reading (an explicit stack, never recursion), and refuses any
 * other CBOR shape. Every failure is an `InvalidEncodingError`.
 */
export function decodeHashTree (bytes: Uint8Array, options: DecodeHashTreeOptions = {}): HashTree {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_TREE_BYTES
  if (bytes.length > maxBytes) throw new InvalidEncodingError(`hash tree of ${bytes.length} bytes exceeds ${maxBytes}`)
  if (bytes.length === 0) throw new InvalidEncodingError('empty input is not a hash tree')
  let offset = 0
  if (bytes.length >= 3 && bytes[0] === 0xd9 && bytes[1] === 0xd9 && bytes[2] === 0xf7) offset = 3 // tag 55799
  const { tree, end } = decodeHashTreeAt(bytes, offset, options)
  if (end !== bytes.length) throw new InvalidEncodingError('trailing bytes after the hash tree')
  return tree
}

/**
 * Decodes one hash tree that starts at `offset` inside a larger CBOR item (a
 * certificate, a slice) and returns where it ends. Bounds depth like
 * `decodeHashTree`; the caller bounds the size of the whole input.
 */
export function decodeHashTreeAt (bytes: Uint8Array, offset: number, options: DecodeHashTreeOptions = {}): { tree: HashTree, end: number } {
  const maxDepth = options.maxDepth ?? DEFAULT_MAX_TREE_DEPTH
  const input = plain(bytes).subarray(offset)
  const tokens = new Tokenizer(input, { allowIndefinite: false, allowUndefined: false, allowBigInt: false, strict: true })
  const next = (): Token => {
    if (tokens.done()) throw new InvalidEncodingError('hash tree is truncated')
    try {
      return tokens.next()
    } catch (err) {
      throw new InvalidEncodingError('hash tree is not valid CBOR', { cause: err })
    }
  }

  const stack: Frame[] = []
  let result: HashTree | undefined
  while (result === undefined) {
    const t = next()
    const frame = stack[stack.length - 1]
    let value: HashTree | Uint8Array | undefined
    if (frame !== undefined && frame.tag === undefined) {
      // First element of an array: the node kind.
      if (t.type !== Type.uint || typeof t.value !== 'number' || t.value > 4) throw new InvalidEncodingError('hash tree node kind must be 0..4')
      frame.tag = t.value
      checkArity(frame)
      if (frame.length === 1) value = finish(stack.pop()!)
    } else if (t.type === Type.array) {
      if (stack.length >= maxDepth) throw new InvalidEncodingError(`hash tree nested deeper than ${maxDepth}`)
      if (t.value < 1 || t.value > 3) throw new InvalidEncodingError('hash tree node must be an array of 1 to 3 items')
      stack.push({ length: t.value, tag: undefined, parts: [] })
    } else if (t.type === Type.bytes) {
      if (frame === undefined) throw new InvalidEncodingError('hash tree must be an array')
      value = t.value as Uint8Array
    } else {
      throw new InvalidEncodingError(`unexpected CBOR ${t.type.name} in a hash tree`)
    }
    // Hand completed values up, closing every array they complete.
    while (value !== undefined) {
      const parent = stack[stack.length - 1]
      if (parent === undefined) {
        if (value instanceof Uint8Array) throw new InvalidEncodingError('hash tree must be an array')
        result = value
        break
      }
      parent.parts.push(value)
      value = parent.parts.length === parent.length - 1 ? finish(stack.pop()!) : undefined
    }
  }
  return { tree: result, end: offset + tokens.pos() }
}

const ARITY = [1, 3, 3, 2, 2]

function checkArity (frame: Frame): void {
  if (ARITY[frame.tag!] !== frame.length) throw new InvalidEncodingError(`hash tree node ${frame.tag} must have ${ARITY[frame.tag!]! - 1} fields`)
}

function finish (frame: Frame): HashTree {
  const [a, b] = frame.parts
  switch (frame.tag) {
    case 0: return { kind: 'empty' }
    case 1: return { kind: 'fork', left: asTree(a), right: asTree(b) }
    case 2: return { kind: 'labeled', label: asBytes(a), subtree: asTree(b) }
    case 3: return { kind: 'leaf', value: asBytes(a) }
    default: {
      const digest = asBytes(a)
      if (digest.length !== DIGEST_BYTES) throw new InvalidEncodingError(`pruned digest must be ${DIGEST_BYTES} bytes`)
      return { kind: 'pruned', digest }
    }
  }
}

function asTree (v: HashTree | Uint8Array | undefined): HashTree {
  if (v === undefined || v instanceof Uint8Array) throw new InvalidEncodingError('expected a hash tree node, got a byte string')
  return v
}

function asBytes (v: HashTree | Uint8Array | undefined): Uint8Array {
  if (!(v instanceof Uint8Array)) throw new InvalidEncodingError('expected a byte string, got a hash tree node')
  return v
}
