import { RejectCode, RejectReason, principalEquals, rejectCodeForReason, type CanisterId, type Request, type Response } from '@icnet/types'
import type { Stream } from '@icnet/xnet-stream'
import type { CanisterState } from './canister.js'
import type { RequestRejectKind } from './metrics.js'
import type { RoundContext } from './round-context.js'

/** The reject response a request gets when it cannot be delivered or executed. */
export function rejectResponseFor (req: Request, code: RejectCode, message: string): Response {
  return {
    kind: 'response',
    originator: req.sender,
    respondent: req.receiver,
    originatorReplyCallback: req.senderReplyCallback,
    payload: { reject: { code, message } }
  }
}

/**
 * Puts a response into its local originator's input. Responses are always
 * accepted: each answers a callback that reserved its slot when the call was made.
 * False when there is no such canister or callback (a critical error for the caller).
 */
export function deliverResponseLocally (ctx: RoundContext, resp: Response): boolean {
  const c = ctx.state.canister(resp.originator)
  if (c === undefined || !c.callbacks.has(resp.originatorReplyCallback)) return false
  c.inputResponses.push(resp)
  return true
}

export type LocalPush = 'ok' | 'full' | 'not_found' | 'stopping' | 'stopped'

/** Puts a request into its local receiver's input queue, if it exists, is running and has room. */
export function pushLocalRequest (ctx: RoundContext, req: Request): LocalPush {
  const c = ctx.state.canister(req.receiver)
  if (c === undefined) return 'not_found'
  // A stopping or stopped canister takes no new calls (responses to its own calls still reach it).
  if (c.status !== 'running') return c.status
  if (c.inputRequests.length >= ctx.limits.inputQueueCapacity) return 'full'
  c.inputRequests.push(req)
  return 'ok'
}

/** Why a local request was refused: the reject reason a signal would carry, the metric label, the reject message. */
export function refusalOf (r: Exclude<LocalPush, 'ok'>, receiver: CanisterId): { reason: RejectReason, kind: RequestRejectKind, message: string } {
  switch (r) {
    case 'full': return { reason: RejectReason.QueueFull, kind: 'queue_full', message: `Canister ${receiver.toText()} input queue is full` }
    case 'not_found': return { reason: RejectReason.CanisterNotFound, kind: 'canister_not_found', message: `Canister ${receiver.toText()} not found` }
    case 'stopping': return { reason: RejectReason.CanisterStopping, kind: 'canister_stopping', message: `Canister ${receiver.toText()} is stopping` }
    case 'stopped': return { reason: RejectReason.CanisterStopped, kind: 'canister_stopped', message: `Canister ${receiver.toText()} is stopped` }
  }
}

/** A reject response generated here: delivered to the local caller, or a critical error if it cannot be. */
export function deliverReject (ctx: RoundContext, req: Request, code: RejectCode, message: string): void {
  if (!deliverResponseLocally(ctx, rejectResponseFor(req, code, message))) ctx.critical('response_not_inducted')
}

/**
 * Routes a canister's output queue, in order: local requests into the receiver's
 * input queue, local responses into the originator's, remote messages into the
 * stream towards the receiver's subnet. What finds no room waits in the output
 * queue (backpressure: nothing is dropped), and once one message towards a
 * destination waits, every later one towards it waits too, so order per
 * destination holds. At the end of the round, local requests that still found
 * no room move to the loopback stream (inducted first next round).
 */
export function routeCanisterOutputs (ctx: RoundContext, c: CanisterState, endOfRound: boolean): void {
  if (c.output.length === 0) return
  const { state } = ctx
  const keep: Array<Request | Response> = []
  const blocked = new Set<string>()
  const streams = new Map<string, Stream>()
  for (const msg of c.output) {
    const target = msg.kind === 'request' ? msg.receiver : msg.originator
    const dest = ctx.table.route(target)
    if (dest === undefined) {
      if (msg.kind === 'request') {
        c.outputRequests--
        ctx.rejected('destination_invalid', msg)
        deliverReject(ctx, msg, RejectCode.DestinationInvalid, `No subnet hosts canister ${target.toText()}`)
      } else {
        ctx.critical('receiver_subnet_mismatch')
      }
      continue
    }
    if (principalEquals(dest, state.subnetId)) {
      if (msg.kind === 'response') {
        if (!deliverResponseLocally(ctx, msg)) ctx.critical('response_not_inducted')
        continue
      }
      const key = `local:${target.toHex()}`
      if (blocked.has(key)) { keep.push(msg); continue }
      const r = pushLocalRequest(ctx, msg)
      if (r === 'ok') { c.outputRequests--; continue }
      if (r !== 'full') {
        const refusal = refusalOf(r, target)
        c.outputRequests--
        ctx.rejected(refusal.kind, msg)
        deliverReject(ctx, msg, rejectCodeForReason(refusal.reason), refusal.message)
        continue
      }
      if (endOfRound) { c.outputRequests--; state.loopback.push(msg); continue }
      blocked.add(key)
      keep.push(msg)
      continue
    }
    const key = dest.toHex()
    if (blocked.has(key)) { keep.push(msg); continue }
    let stream = streams.get(key)
    if (stream === undefined) { stream = state.stream(dest, ctx.registry, ctx.limits); streams.set(key, stream) }
    if (stream.tryPush(msg)) {
      if (msg.kind === 'request') c.outputRequests--
      continue
    }
    blocked.add(key)
    keep.push(msg)
  }
  c.output = keep
}
