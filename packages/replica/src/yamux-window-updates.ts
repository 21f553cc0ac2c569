/**
 * Yamux window updates once half the receive window is used, not after every
 * data frame.
 *
 * @libp2p/yamux 8.0.3 answers every data frame it receives with a window-update
 * frame (`YamuxStream.sendWindowUpdate`, called from `handleData`): for the
 * small inline artifacts of consensus gossip that is one more noise-encrypted
 * frame and socket write back for every message, 3.6 % of a 3 x 4 testnet's
 * CPU on the sending side alone. Other yamux implementations (go-yamux) send
 * the update only once less than half of the window is left, which keeps the
 * sender from ever stalling on a full window. This applies that rule to
 * established streams in this process; streams still opening or closing
 * (SYN/ACK flags to send) and paused ones keep yamux's own logic, and so does
 * the window auto-tuning, which runs whenever an update is sent.
 *
 * Applied only to a `sendWindowUpdate` that still has the rule it replaces
 * (written against 8.0.3, the pinned version), once per process; it belongs in
 * yamux itself.
 */
import { logger } from '@libp2p/logger'
import { StreamState, YamuxStream } from '@libp2p/yamux/stream'

const log = logger('icnet:replica:yamux')

/** The rule of yamux 8.0.3 this replaces: an update whenever any of the window is used. */
const EVERY_FRAME_RULE = 'this.recvWindowCapacity >= this.recvWindow && flags === 0'

interface WindowFields {
  state: StreamState
  recvWindow: number
  recvWindowCapacity: number
}

const patched = Symbol.for('icnet.yamux.halfWindowUpdates')

/** Whether window updates wait for half the window (true once applied). */
export function halfWindowUpdatesApplied (): boolean {
  return (YamuxStream.prototype as unknown as Record<symbol, boolean>)[patched] === true
}

/** Applies the rule (idempotent); false, leaving yamux as it is, if its window update logic is not the one this replaces. */
export function applyHalfWindowUpdates (): boolean {
  if (halfWindowUpdatesApplied()) return true
  const proto = YamuxStream.prototype as unknown as { sendWindowUpdate: (this: WindowFields) => void } & Record<symbol, boolean>
  if (typeof proto.sendWindowUpdate !== 'function' || !proto.sendWindowUpdate.toString().includes(EVERY_FRAME_RULE)) {
    log('yamux window updates left as they are: not the logic this replaces')
    return false
  }
  const original = proto.sendWindowUpdate
  proto.sendWindowUpdate = function (this: WindowFields): void {
    // Established or finishing (no flags to send), more than half the window left: nothing to tell yet.
    if ((this.state === StreamState.Established || this.state === StreamState.Finished) && this.recvWindowCapacity * 2 >= this.recvWindow) return
    original.call(this)
  }
  proto[patched] = true
  return true
}
