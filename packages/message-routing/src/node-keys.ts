import { Principal, concatBytes } from '@icnet/types'

/**
 * A node's query-signing key as the state tree certifies it at
 * `/subnet/<subnet>/node/<node>/public_key`: the Ed25519 key of its libp2p
 * identity (an Ed25519 PeerId embeds it), in DER (44 bytes), labelled by the
 * self-authenticating principal of that DER, which is how IC agents name the
 * node that signed a query response. Derived from the node id alone, so every
 * node writes the same leaves from the registry.
 */
export interface NodeQueryKey {
  /** The node's principal bytes: the tree label under /subnet/<subnet>/node. */
  label: Uint8Array
  /** Ed25519 SubjectPublicKeyInfo (RFC 8410). */
  publicKeyDer: Uint8Array
}

const ED25519_DER_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00])
/** identity multihash (0x00, 36 bytes) of the libp2p protobuf PublicKey {Type: Ed25519 (1), Data: 32 bytes}. */
const ED25519_PEER_ID_PREFIX = Uint8Array.from([0x00, 0x24, 0x08, 0x01, 0x12, 0x20])
const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'
/** An Ed25519 PeerId is 38 bytes: 52 base58 characters; anything longer is not one. */
const MAX_PEER_ID_CHARS = 64

function base58Decode (text: string): Uint8Array | undefined {
  if (text.length === 0 || text.length > MAX_PEER_ID_CHARS) return undefined
  let n = 0n
  for (const ch of text) {
    const d = BASE58.indexOf(ch)
    if (d < 0) return undefined
    n = n * 58n + BigInt(d)
  }
  const bytes: number[] = []
  while (n > 0n) { bytes.push(Number(n & 0xffn)); n >>= 8n }
  for (const ch of text) { if (ch !== '1') break; bytes.push(0) }
  return Uint8Array.from(bytes.reverse())
}

/** The raw Ed25519 public key inside a PeerId string, or undefined for any other kind of id. */
export function ed25519KeyOfPeerId (peerId: string): Uint8Array | undefined {
  const b = base58Decode(peerId)
  if (b === undefined || b.length !== ED25519_PEER_ID_PREFIX.length + 32) return undefined
  for (let i = 0; i < ED25519_PEER_ID_PREFIX.length; i++) if (b[i] !== ED25519_PEER_ID_PREFIX[i]) return undefined
  return b.slice(ED25519_PEER_ID_PREFIX.length)
}

/** The query key leaf of a node, or undefined when its id is not an Ed25519 PeerId. */
export function nodeQueryKey (nodeId: string): NodeQueryKey | undefined {
  const raw = ed25519KeyOfPeerId(nodeId)
  if (raw === undefined) return undefined
  const publicKeyDer = concatBytes(ED25519_DER_PREFIX, raw)
  return { label: Principal.selfAuthenticating(publicKeyDer).toUint8Array(), publicKeyDer }
}
