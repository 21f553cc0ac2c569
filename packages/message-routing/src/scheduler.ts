import { RejectCode, type Request, type Response } from '@icnet/types'
import type { CallOutcome, CallResponse, ExecutionRequest, ExecutionResult, OutgoingCall } from '@icnet/execution'
import type { CallContext, CallOrigin, CanisterState, InputRequest } from './canister.js'
import type { RoundContext } from './round-context.js'
import { rejectResponseFor, routeCanisterOutputs } from './routing.js'

/**
 * Step 5: execution. First each canister's global timer (when due) and heartbeat,
 * then a fair round-robin over canisters with input: one message per canister per
 * turn, taking its responses, requests and ingress in turn, starting at a canister
 * that rotates with the height, while the round's instruction budget lasts. Outputs
 * are routed after every message, so calls between canisters of this subnet run in
 * the same round while budget is left. At least one message runs per round. Returns
 * the instructions used.
 */
export async function executeRound (ctx: RoundContext): Promise<bigint> {
  const { state, limits } = ctx
  const canisters = state.sortedCanisters()
  let used = 0n
  for (const c of canisters) {
    // Only a running canister starts work of its own: a stopping one must wind down, a stopped one is idle.
    if (c.status !== 'running') continue
    if (c.globalTimer !== 0n && c.globalTimer <= state.timeNs) used += await runSystemTask(ctx, c, 'timer')
    if (c.hasHeartbeat !== false) used += await runSystemTask(ctx, c, 'heartbeat')
  }
  const n = canisters.length
  const start = n === 0 ? 0 : state.height % n
  // At least one message per round, so heartbeats that eat the budget cannot starve every input.
  let messages = 0
  const mayRun = (): boolean => used < limits.roundInstructions || messages === 0
  let progressed = true
  while (progressed && mayRun()) {
    progressed = false
    for (let k = 0; k < n && mayRun(); k++) {
      const c = canisters[(start + k) % n]!
      if (!c.hasInput) continue
      used += await executeNext(ctx, c)
      messages++
      progressed = true
    }
  }
  return used
}

/** Takes the canister's queues in turn (responses, requests, ingress), so none starves the others. */
async function executeNext (ctx: RoundContext, c: CanisterState): Promise<bigint> {
  for (let k = 0; k < 3; k++) {
    const q = (c.nextQueue + k) % 3
    if (q === 0 && c.inputResponses.length > 0) { c.nextQueue = 1; return await executeResponse(ctx, c, c.inputResponses.shift()!) }
    if (q === 1 && c.inputRequests.length > 0) { c.nextQueue = 2; return await executeRequest(ctx, c, { kind: 'request', request: c.inputRequests.shift()! }) }
    if (q === 2 && c.inputIngress.length > 0) { c.nextQueue = 0; return await executeRequest(ctx, c, c.inputIngress.shift()!) }
  }
  return 0n
}

function newContext (c: CanisterState, origin: CallOrigin): CallContext {
  const context: CallContext = { id: c.nextContextId++, origin, replied: false, outstanding: 0 }
  c.contexts.set(context.id, context)
  return context
}

async function executeRequest (ctx: RoundContext, c: CanisterState, item: InputRequest): Promise<bigint> {
  let context: CallContext
  let req: ExecutionRequest
  const base = { canisterId: c.id, time: ctx.state.timeNs, instructionLimit: ctx.limits.messageInstructions }
  if (item.kind === 'ingress') {
    const status = ctx.state.ingress.get(item.requestId)
    if (status !== undefined) ctx.state.ingress.set(item.requestId, { status: 'processing', expiry: status.expiry })
    context = newContext(c, { kind: 'ingress', requestId: item.requestId, caller: item.caller })
    req = { ...base, kind: 'update', method: item.method, arg: item.arg, caller: item.caller }
  } else {
    const r: Request = item.request
    context = newContext(c, { kind: 'canister', caller: r.sender, callback: r.senderReplyCallback })
    req = { ...base, kind: 'update', method: r.methodName, arg: r.methodPayload, caller: r.sender }
  }
  const result = await ctx.sandbox.execute(req)
  ctx.metrics.executed.inc(1, { kind: item.kind })
  return apply(ctx, c, context, result)
}

async function executeResponse (ctx: RoundContext, c: CanisterState, resp: Response): Promise<bigint> {
  const cb = c.callbacks.get(resp.originatorReplyCallback)
  if (cb === undefined) { ctx.critical('unknown_callback'); return 0n }
  c.callbacks.delete(cb.id)
  const context = c.contexts.get(cb.contextId)!
  context.outstanding--
  const response: CallResponse = 'data' in resp.payload
    ? { kind: 'reply', data: resp.payload.data }
    : { kind: 'reject', code: resp.payload.reject.code, message: resp.payload.reject.message }
  const caller = context.origin.kind === 'system' ? c.id : context.origin.caller
  const result = await ctx.sandbox.execute({
    kind: 'response', canisterId: c.id, callback: cb.closures, response, caller, callContextReplied: context.replied,
    time: ctx.state.timeNs, instructionLimit: ctx.limits.messageInstructions
  })
  ctx.metrics.executed.inc(1, { kind: 'response' })
  return apply(ctx, c, context, result)
}

async function runSystemTask (ctx: RoundContext, c: CanisterState, kind: 'heartbeat' | 'timer'): Promise<bigint> {
  const result = await ctx.sandbox.execute({ kind, canisterId: c.id, time: ctx.state.timeNs, instructionLimit: ctx.limits.messageInstructions })
  // A module without the export costs nothing and does nothing: stop asking (deterministic on every node).
  if (kind === 'heartbeat' && c.hasHeartbeat === undefined) c.hasHeartbeat = !(result.instructionsUsed === 0n && result.trap === undefined)
  if (c.hasHeartbeat === false && kind === 'heartbeat') return 0n
  ctx.metrics.executed.inc(1, { kind })
  return apply(ctx, c, newContext(c, { kind: 'system' }), result)
}

/** Applies an execution's effects: the answer, the calls, certified data, timer, memory. */
function apply (ctx: RoundContext, c: CanisterState, context: CallContext, result: ExecutionResult): bigint {
  c.executed++
  ctx.progress.executed++
  if (result.outcome.kind !== 'none' && !context.replied) respond(ctx, c, context, result.outcome)
  for (const call of result.calls) makeCall(ctx, c, context, call)
  if (result.certifiedData !== undefined) { c.certifiedData = result.certifiedData; ctx.state.dirtyCanisters.add(c.idHex) }
  if (result.globalTimer !== undefined) c.globalTimer = result.globalTimer
  c.globals = result.globals
  c.heapWasmPages = result.heap.sizeWasmPages
  c.stableWasmPages = result.stable.sizeWasmPages
  c.markPages('heap', result.heap.reset, result.heap.pages)
  c.markPages('stable', result.stable.reset, result.stable.pages)
  if (!context.replied && context.outstanding === 0 && context.origin.kind !== 'system') {
    // Nothing left that could answer: the IC rejects the call.
    respond(ctx, c, context, { kind: 'reject', code: RejectCode.CanisterError, message: `Canister ${c.id.toText()} did not reply to the call` })
  }
  if (context.outstanding === 0) c.contexts.delete(context.id)
  routeCanisterOutputs(ctx, c, false)
  return result.instructionsUsed
}

function respond (ctx: RoundContext, c: CanisterState, context: CallContext, outcome: Exclude<CallOutcome, { kind: 'none' }>): void {
  context.replied = true
  const origin = context.origin
  if (origin.kind === 'system') return
  if (origin.kind === 'ingress') {
    if (outcome.kind === 'reply') ctx.state.ingress.replied(origin.requestId, outcome.data)
    else ctx.state.ingress.rejected(origin.requestId, outcome.code, outcome.message)
    return
  }
  c.output.push({
    kind: 'response',
    originator: origin.caller,
    respondent: c.id,
    originatorReplyCallback: origin.callback,
    payload: outcome.kind === 'reply' ? { data: outcome.data } : { reject: { code: outcome.code, message: outcome.message } }
  })
}

function makeCall (ctx: RoundContext, c: CanisterState, context: CallContext, call: OutgoingCall): void {
  const id = c.nextCallbackId++
  c.callbacks.set(id, { id, contextId: context.id, callee: call.callee, closures: call.callback })
  context.outstanding++
  const req: Request = {
    kind: 'request', receiver: call.callee, sender: c.id, methodName: call.method, methodPayload: call.payload, senderReplyCallback: id
  }
  if (c.callbacks.size > ctx.limits.maxOutstandingCalls || c.outputRequests >= ctx.limits.outputQueueCapacity) {
    // The call cannot leave. On the IC call_perform would fail synchronously; the sandbox interface
    // admits calls without asking us, so the call is answered at once with a SysTransient reject
    // instead. Its caller counts it as a rejected call, and its receiver never sees it.
    ctx.rejected('calls_in_flight', req)
    c.inputResponses.push(rejectResponseFor(req, RejectCode.SysTransient, `Canister ${c.id.toText()} has too many calls in flight or waiting`))
    return
  }
  c.output.push(req)
  c.outputRequests++
}
