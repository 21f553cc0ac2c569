import {
  RejectCode, RejectReason, compareBytes, principalEquals, principalFromText, rejectCodeForReason,
  type CanisterId, type StreamMessage, type SubnetId
} from '@icnet/types'
import { InvalidSignalsError, type CertifiedStreamSlice, type RejectedMessage, type Stream } from '@icnet/xnet-stream'
import type { RoundContext } from './round-context.js'
import { deliverReject, deliverResponseLocally, pushLocalRequest, refusalOf } from './routing.js'
import type { Batch, IngressMessage } from './types.js'

/** Slices of a batch in a fixed order (source subnet bytes), decoded from the map's text keys. */
export function orderedSlices (slices: Batch['xnetSlices']): Array<{ subnet: SubnetId, slice: CertifiedStreamSlice }> {
  if (slices === undefined) return []
  const list = slices instanceof Map
    ? [...(slices as ReadonlyMap<string, CertifiedStreamSlice>)].map(([key, slice]) => ({ subnet: principalFromText(key), slice }))
    : [...(slices as ReadonlyArray<{ subnet: SubnetId, slice: CertifiedStreamSlice }>)]
  return list.sort((a, b) => compareBytes(a.subnet.toUint8Array(), b.subnet.toUint8Array()))
}

/** Step 1: the loopback stream (local messages that found no room last round). */
export function inductLoopback (ctx: RoundContext): void {
  const messages = ctx.state.loopback
  ctx.state.loopback = []
  for (const msg of messages) {
    if (msg.kind === 'response') {
      if (!deliverResponseLocally(ctx, msg)) ctx.critical('response_not_inducted')
      ctx.metrics.inducted.inc(1, { source: 'loopback', outcome: 'accepted' })
      continue
    }
    const r = pushLocalRequest(ctx, msg)
    if (r === 'ok') { ctx.metrics.inducted.inc(1, { source: 'loopback', outcome: 'accepted' }); continue }
    // As on the IC, a local request that cannot be inducted gets a reject response at once.
    const refusal = refusalOf(r, msg.receiver)
    ctx.rejected(refusal.kind, msg)
    deliverReject(ctx, msg, rejectCodeForReason(refusal.reason), refusal.message)
    ctx.metrics.inducted.inc(1, { source: 'loopback', outcome: 'rejected' })
  }
}

/**
 * Step 2: garbage-collect our streams with the signals each slice's header
 * carries: accepted messages are dropped; rejected requests come back as reject
 * responses to their callers; rejected responses (only CanisterMigrating is
 * valid) go back to their respondent's output queue to be rerouted.
 */
export function collectStreams (ctx: RoundContext, slices: ReadonlyArray<{ subnet: SubnetId, slice: CertifiedStreamSlice }>): void {
  for (const { subnet, slice } of slices) {
    if (ctx.state.isLocal(subnet)) { ctx.critical('invalid_signals'); continue }
    const stream = ctx.state.stream(subnet, ctx.registry, ctx.limits)
    const h = slice.header
    let rejected: RejectedMessage[]
    try {
      rejected = stream.discardMessagesBefore(h.signalsEnd, h.rejectSignals)
    } catch (err) {
      if (!(err instanceof InvalidSignalsError)) throw err
      ctx.critical('invalid_signals')
      continue
    }
    for (const r of rejected) handleRejected(ctx, subnet, r)
    try {
      stream.discardSignalsBefore(h.begin)
    } catch (err) {
      if (!(err instanceof InvalidSignalsError)) throw err
      ctx.critical('invalid_signals')
    }
  }
}

function handleRejected (ctx: RoundContext, from: SubnetId, r: RejectedMessage): void {
  const msg = r.message
  if (msg.kind === 'request') {
    deliverReject(ctx, msg, rejectCodeForReason(r.reason), `Request to ${msg.receiver.toText()} rejected by subnet ${from.toText()}: ${RejectReason[r.reason]}`)
    return
  }
  const respondent = ctx.state.canister(msg.respondent)
  if (r.reason !== RejectReason.CanisterMigrating || respondent === undefined) { ctx.critical('rejected_response'); return }
  // Routed again with the current routing table, which points at the canister's new subnet.
  respondent.output.unshift(msg)
}

/** Step 3: the messages of each slice, each answered by an accept or reject signal in our reverse stream. */
export function inductSlices (ctx: RoundContext, slices: ReadonlyArray<{ subnet: SubnetId, slice: CertifiedStreamSlice }>): void {
  for (const { subnet, slice } of slices) {
    if (ctx.state.isLocal(subnet)) continue
    const stream = ctx.state.stream(subnet, ctx.registry, ctx.limits)
    for (const m of slice.messages) {
      if (m.index < stream.signalsEnd) continue // already inducted (a slice overlapping a past one)
      if (m.index > stream.signalsEnd) { ctx.critical('stream_gap'); break }
      inductMessage(ctx, subnet, stream, m.message)
      ctx.progress.xnetInducted++
    }
  }
}

function migratingBetween (ctx: RoundContext, canister: CanisterId, a: SubnetId, b: SubnetId): boolean {
  const trace = ctx.registry.migrationOf?.(canister)?.trace
  if (trace === undefined) return false
  return trace.some(s => principalEquals(s, a)) && trace.some(s => principalEquals(s, b))
}

/** The IC's `induct_message` rules (reference §4). */
function inductMessage (ctx: RoundContext, source: SubnetId, stream: Stream, msg: StreamMessage): void {
  const ours = ctx.state.subnetId
  const sender = msg.kind === 'request' ? msg.sender : msg.respondent
  const receiver = msg.kind === 'request' ? msg.receiver : msg.originator
  const senderSubnet = ctx.table.route(sender)
  if ((senderSubnet === undefined || !principalEquals(senderSubnet, source)) && !migratingBetween(ctx, sender, source, ours)) {
    // No reject: a subnet forging senders must not make us hold memory for it.
    ctx.critical('sender_subnet_mismatch')
    stream.pushAcceptSignal()
    ctx.metrics.inducted.inc(1, { source: 'xnet', outcome: 'dropped' })
    return
  }
  const receiverSubnet = ctx.table.route(receiver)
  if (receiverSubnet !== undefined && principalEquals(receiverSubnet, ours)) {
    if (msg.kind === 'response') {
      if (!deliverResponseLocally(ctx, msg)) ctx.critical('response_not_inducted')
      stream.pushAcceptSignal()
      ctx.metrics.inducted.inc(1, { source: 'xnet', outcome: 'accepted' })
      return
    }
    const r = pushLocalRequest(ctx, msg)
    if (r === 'ok') stream.pushAcceptSignal()
    else {
      // Reject signal, and the sender's subnet makes the reject response (reference §4, V19+).
      const refusal = refusalOf(r, msg.receiver)
      ctx.rejected(refusal.kind, msg)
      stream.pushRejectSignal(refusal.reason)
    }
    ctx.metrics.inducted.inc(1, { source: 'xnet', outcome: r === 'ok' ? 'accepted' : 'rejected' })
    return
  }
  if (migratingBetween(ctx, receiver, ours, source) || (receiverSubnet !== undefined && migratingBetween(ctx, receiver, ours, receiverSubnet))) {
    if (msg.kind === 'request') ctx.rejected('canister_migrating', msg)
    stream.pushRejectSignal(RejectReason.CanisterMigrating)
    ctx.metrics.inducted.inc(1, { source: 'xnet', outcome: 'rejected' })
    return
  }
  ctx.critical('receiver_subnet_mismatch')
  stream.pushAcceptSignal()
  ctx.metrics.inducted.inc(1, { source: 'xnet', outcome: 'dropped' })
}

/**
 * Step 4: ingress. Expired and duplicate messages are skipped; a message for a
 * canister we do not host, that is not running, or whose queue is full, is
 * recorded as rejected.
 */
export function inductIngress (ctx: RoundContext, ingress: readonly IngressMessage[], nowMs: number): void {
  const { state } = ctx
  for (const msg of ingress) {
    if (msg.expiry < nowMs || state.ingress.has(msg.requestId) || state.ingress.full) {
      ctx.metrics.inducted.inc(1, { source: 'ingress', outcome: 'dropped' })
      continue
    }
    const c = state.canister(msg.canisterId)
    const routed = ctx.table.route(msg.canisterId)
    if (c === undefined || routed === undefined || !principalEquals(routed, state.subnetId)) {
      state.ingress.set(msg.requestId, { status: 'rejected', code: RejectCode.DestinationInvalid, message: `Canister ${msg.canisterId.toText()} not found`, expiry: msg.expiry })
      ctx.metrics.inducted.inc(1, { source: 'ingress', outcome: 'rejected' })
      continue
    }
    if (c.status !== 'running') {
      // Also a message that came before a stop_canister in the same batch: the management canister ran first.
      state.ingress.set(msg.requestId, { status: 'rejected', code: RejectCode.CanisterError, message: `Canister ${msg.canisterId.toText()} is ${c.status}`, expiry: msg.expiry })
      ctx.metrics.inducted.inc(1, { source: 'ingress', outcome: 'rejected' })
      continue
    }
    if (c.inputIngress.length >= ctx.limits.ingressQueueCapacity) {
      state.ingress.set(msg.requestId, { status: 'rejected', code: RejectCode.SysTransient, message: `Canister ${msg.canisterId.toText()} ingress queue is full`, expiry: msg.expiry })
      ctx.metrics.inducted.inc(1, { source: 'ingress', outcome: 'rejected' })
      continue
    }
    c.inputIngress.push({ kind: 'ingress', requestId: msg.requestId, caller: msg.sender, method: msg.methodName, arg: msg.arg })
    state.ingress.set(msg.requestId, { status: 'received', expiry: msg.expiry })
    ctx.metrics.inducted.inc(1, { source: 'ingress', outcome: 'accepted' })
  }
}
