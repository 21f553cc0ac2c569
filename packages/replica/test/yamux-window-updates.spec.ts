import '@icnet/types/polyfill'
import assert from 'node:assert/strict'
import { noise } from '@chainsafe/libp2p-noise'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { YamuxStream } from '@libp2p/yamux/stream'
import { createLibp2p, type Libp2p } from 'libp2p'
import { applyHalfWindowUpdates, halfWindowUpdatesApplied } from '../src/yamux-window-updates.js'

const PROTOCOL = '/icnet/test/window/1.0.0'

async function node (): Promise<Libp2p> {
  return createLibp2p({ addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] }, transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()] })
}

describe('yamux window updates once half the window is used', function () {
  this.timeout(60_000)

  it('applies to the installed yamux, once', () => {
    assert.equal(applyHalfWindowUpdates(), true)
    assert.equal(applyHalfWindowUpdates(), true)
    assert.equal(halfWindowUpdatesApplied(), true)
  })

  it('many small frames and a transfer of several windows arrive whole, with far fewer window updates than data frames', async () => {
    applyHalfWindowUpdates()
    // Window-update frames as the sending side receives them (yamux 8.0.3 sent one per data frame: 2,005 for 2,000 small messages).
    let updates = 0
    const proto = YamuxStream.prototype as unknown as { handleWindowUpdate: (this: unknown, frame: unknown) => void }
    const handleWindowUpdate = proto.handleWindowUpdate
    proto.handleWindowUpdate = function (frame) { updates++; handleWindowUpdate.call(this, frame) }
    const [a, b] = [await node(), await node()]
    try {
      const received: number[] = []
      await b.handle(PROTOCOL, async (stream) => {
        let bytes = 0
        let frames = 0
        for await (const chunk of stream) { bytes += chunk.byteLength; frames++ }
        received.push(bytes, frames)
        await stream.close()
      })
      const stream = await a.dialProtocol(b.getMultiaddrs()[0]!, PROTOCOL)
      // 2,000 small messages, then 3 MiB (twelve 256 KiB windows): nothing may stall on a window.
      for (let i = 0; i < 2000; i++) {
        if (!stream.send(new Uint8Array(150).fill(i & 0xff))) await new Promise(resolve => stream.addEventListener('drain', resolve, { once: true }))
      }
      const big = new Uint8Array(64 * 1024)
      for (let i = 0; i < 48; i++) {
        if (!stream.send(big)) await new Promise(resolve => stream.addEventListener('drain', resolve, { once: true }))
      }
      await stream.close()
      const deadline = Date.now() + 30_000
      while (received.length === 0 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
      assert.equal(received[0], 2000 * 150 + 48 * 64 * 1024, 'every byte arrived')
      assert.ok(updates > 0, 'the sender was told of the window it can use again (it sent twelve windows)')
      assert.ok(updates < 200, `window updates: ${updates}, for 2,048 data frames or more`)
    } finally {
      proto.handleWindowUpdate = handleWindowUpdate
      await a.stop()
      await b.stop()
    }
  })
})
