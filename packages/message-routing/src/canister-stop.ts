import { IDL } from '@dfinity/candid'
import { logger } from '@libp2p/logger'
import { RejectCode, RejectReason, rejectCodeForReason } from '@icnet/types'
import type { CanisterState } from './canister.js'
import { MAX_PENDING_STOP_CALLS } from './constants.js'
import type { RoundContext } from './round-context.js'
import { rejectResponseFor } from './routing.js'

/**
 * The stop lifecycle of a canister, as the interface specification has it:
 * `running` → (stop_canister) → `stopping` → (no open call context) → `stopped`.
 *
 * While stopping, a canister takes no new calls (ingress and requests are
 * rejected as they arrive, and whatever already waited in its queues is
 * rejected when the stop begins) but still executes the responses to the
 * calls it made, which may take rounds when they cross subnets. The
 * `stop_canister` calls stay open meanwhile and are all replied together
 * when it stops; `start_canister` during the stop rejects them. Everything
 * here is replicated state, changed only during a round, in canister order.
 */
const log = logger('icnet:message-routing:stop')

const EMPTY_REPLY = new Uint8Array(IDL.encode([], []))

/** What became of one stop_canister call. */
export type StopOutcome = 'stopped' | 'pending' | 'too_many'

/**
 * Handles `stop_canister` (request `requestId`) for `c`: a stopped canister
 * answers at once; a running one starts stopping; a canister without open
 * call contexts stops at once. Otherwise the call waits (`pending`).
 */
export function requestStop (ctx: RoundContext, c: CanisterState, requestId: Uint8Array): StopOutcome {
  if (c.status === 'stopped') return 'stopped'
  if (c.pendingStops.length >= MAX_PENDING_STOP_CALLS) return 'too_many'
  if (c.status === 'running') beginStopping(ctx, c)
  if (c.contexts.size === 0) {
    finishStop(ctx, c)
    return 'stopped'
  }
  c.pendingStops.push(requestId)
  return 'pending'
}

/** `start_canister`: runs again; a stop still in progress is called off and its callers told so. */
export function startCanister (ctx: RoundContext, c: CanisterState): void {
  if (c.status === 'stopping') {
    for (const id of c.pendingStops) {
      ctx.state.ingress.rejected(id, RejectCode.CanisterError, `Canister ${c.id.toText()} was started before it stopped: stop_canister cancelled`)
    }
    c.pendingStops = []
    log('canister %s started while stopping', c.id.toText())
  }
  c.status = 'running'
  ctx.state.dirtyCanisters.add(c.idHex)
}

/** End of a round: every stopping canister whose last call context closed is now stopped. */
export function completeStops (ctx: RoundContext): void {
  for (const c of ctx.state.sortedCanisters()) {
    if (c.status === 'stopping' && c.contexts.size === 0) finishStop(ctx, c)
  }
}

function beginStopping (ctx: RoundContext, c: CanisterState): void {
  c.status = 'stopping'
  ctx.state.dirtyCanisters.add(c.idHex)
  // What waited in the queues is a new call the canister no longer takes: each caller gets its reject now.
  const message = `Canister ${c.id.toText()} is stopping`
  for (const req of c.inputRequests.splice(0)) {
    ctx.rejected('canister_stopping', req)
    c.output.push(rejectResponseFor(req, rejectCodeForReason(RejectReason.CanisterStopping), message))
  }
  for (const item of c.inputIngress.splice(0)) ctx.state.ingress.rejected(item.requestId, RejectCode.CanisterError, message)
  log('canister %s stopping (%d call contexts open)', c.id.toText(), c.contexts.size)
}

function finishStop (ctx: RoundContext, c: CanisterState): void {
  c.status = 'stopped'
  for (const id of c.pendingStops) ctx.state.ingress.replied(id, EMPTY_REPLY)
  log('canister %s stopped (%d pending stop calls replied)', c.id.toText(), c.pendingStops.length)
  c.pendingStops = []
  ctx.state.dirtyCanisters.add(c.idHex)
}
