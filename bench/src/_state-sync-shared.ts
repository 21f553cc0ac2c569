/** Pieces `bench state-sync` and its peer processes (`_state-sync-peer.ts`) share. */
import { createTestNode } from '@icnet/test-utils'
import { open } from 'node:fs/promises'
import { MemoryBlockstore } from 'blockstore-core'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'

export { RAW_PROTOCOL, waitDrain } from './_raw-stream.js'

/**
 * Helia's package entry (and @helia/libp2p) load undici through @libp2p/http, which needs
 * Node 22. The Helia class itself does not, so load it from its module file and give it
 * our own libp2p node (what @helia/libp2p's withLibp2pLight does, minus the HTTP bits).
 */
export async function heliaNode (blockstore: MemoryBlockstore): Promise<any> {
  const { Helia } = await import(import.meta.resolve('helia').replace(/index\.js$/, 'helia.js'))
  const { withBitswap } = await import('@helia/bitswap')
  const libp2p = await createTestNode()
  const helia: any = new Helia({ name: 'helia', version: 'bench', blockstore, routers: [] })
  Object.defineProperty(helia, 'libp2p', { value: libp2p, enumerable: true })
  withBitswap(helia)
  await helia.start()
  return helia
}

/** The checkpoint's chunks as raw blocks in one blockstore (what Helia's providers share), with their CIDs. */
export async function chunksAsBlocks (chunks: ReadonlyArray<{ path: string, offset: number, size: number }>): Promise<{ blockstore: MemoryBlockstore, cids: CID[] }> {
  const blockstore = new MemoryBlockstore()
  const cids: CID[] = []
  for (const c of chunks) {
    const fh = await open(c.path, 'r')
    const block = new Uint8Array(c.size)
    await fh.read(block, 0, c.size, c.offset)
    await fh.close()
    const cid = CID.createV1(raw.code, await sha256.digest(block))
    await blockstore.put(cid, block)
    cids.push(cid)
  }
  return { blockstore, cids }
}
