/**
 * The IC's message semantics, shared by every sandbox: which function runs
 * for a request, what a trap rolls back, when cleanup runs, and what happens
 * to the call context. A sandbox only supplies a `CanisterRunner`.
 */
import { RejectCode } from '@icnet/types'
import type { CanisterId } from '@icnet/types'
import { ExecutionState } from './system-api.js'
import type { CallOutcome, Closure, ExecutionRequest, ExecutionResult, MemoryDelta, Trap } from './sandbox.js'

export interface CanisterRunner {
  readonly canisterId: CanisterId
  committedTimer: bigint
  /** Runs `fn` under `limit` instructions; state is left as `fn` left it until commit or rollback. */
  run (exec: ExecutionState, limit: bigint, fn: () => void): { trap: Trap | undefined, used: bigint }
  commit (exec: ExecutionState): { heap: MemoryDelta, stable: MemoryDelta }
  rollback (): void
  sizeDelta (): { heap: MemoryDelta, stable: MemoryDelta, globals: Array<number | bigint> }
  readonly committedGlobalValues: Array<number | bigint>
  method (kind: 'update' | 'query', name: string): (() => unknown) | undefined
  systemTask (kind: 'heartbeat' | 'timer'): (() => unknown) | undefined
  callClosure (c: Closure): void
}

/** An update or query that neither replied nor left calls outstanding is rejected, as on the IC. */
function finalOutcome (r: CanisterRunner, exec: ExecutionState, callsOutstanding: boolean): CallOutcome {
  if (exec.outcome !== undefined) return exec.outcome
  if (callsOutstanding) return { kind: 'none' }
  return { kind: 'reject', code: RejectCode.CanisterError, message: `Canister ${r.canisterId.toText()} did not reply to the call` }
}

function base (r: CanisterRunner, outcome: CallOutcome, used: bigint, debugPrints: string[]): ExecutionResult {
  return { outcome, calls: [], instructionsUsed: used, debugPrints, ...r.sizeDelta() }
}

function committed (r: CanisterRunner, exec: ExecutionState, used: bigint, outcome: CallOutcome): ExecutionResult {
  const { heap, stable } = r.commit(exec)
  const out: ExecutionResult = {
    outcome, calls: exec.calls, instructionsUsed: used, debugPrints: exec.debugPrints, heap, stable, globals: r.committedGlobalValues
  }
  if (exec.certifiedData !== undefined) out.certifiedData = exec.certifiedData
  if (exec.globalTimer !== undefined) out.globalTimer = exec.globalTimer
  return out
}

/** Runs one message (update, query, response, heartbeat, timer) and commits or rolls back. */
export function executeMessage (r: CanisterRunner, req: ExecutionRequest): ExecutionResult {
  const caller = 'caller' in req ? req.caller.toUint8Array() : new Uint8Array(0)
  const debugPrints: string[] = []
  switch (req.kind) {
    case 'update':
    case 'query': {
      const fn = r.method(req.kind, req.method)
      if (fn === undefined) {
        return {
          ...base(r, {
            kind: 'reject', code: RejectCode.DestinationInvalid,
            message: `Canister ${r.canisterId.toText()} has no ${req.kind} method '${req.method}'`
          }, 0n, debugPrints),
          trap: { kind: 'missing-method', message: `no ${req.kind} method ${JSON.stringify(req.method)}` }
        }
      }
      const exec = new ExecutionState({
        context: req.kind, arg: req.arg, caller, method: req.method, time: req.time, canReply: true, debugPrints
      })
      const { trap, used } = r.run(exec, req.instructionLimit, () => { fn() })
      if (trap !== undefined) {
        r.rollback()
        return { ...base(r, { kind: 'reject', code: RejectCode.CanisterError, message: trap.message }, used, debugPrints), trap }
      }
      if (req.kind === 'query') {
        r.rollback()
        return base(r, finalOutcome(r, exec, false), used, debugPrints)
      }
      return committed(r, exec, used, finalOutcome(r, exec, exec.calls.length > 0))
    }
    case 'response': {
      const resp = req.response
      const exec = new ExecutionState({
        context: resp.kind === 'reply' ? 'reply' : 'reject',
        arg: resp.kind === 'reply' ? resp.data : undefined,
        caller,
        time: req.time,
        rejectCode: resp.kind === 'reject' ? resp.code : 0,
        rejectMessage: resp.kind === 'reject' ? resp.message : '',
        canReply: !req.callContextReplied,
        debugPrints
      })
      const closure = resp.kind === 'reply' ? req.callback.reply : req.callback.reject
      const { trap, used } = r.run(exec, req.instructionLimit, () => r.callClosure(closure))
      if (trap === undefined) return committed(r, exec, used, exec.outcome ?? { kind: 'none' })
      r.rollback()
      const cleanup = req.callback.cleanup
      if (cleanup === undefined) return { ...base(r, { kind: 'none' }, used, debugPrints), trap }
      // As on the IC: after a trapping callback the cleanup closure runs, with what is left of the budget.
      const cexec = new ExecutionState({ context: 'cleanup', caller, time: req.time, debugPrints })
      const c = r.run(cexec, req.instructionLimit - used, () => r.callClosure(cleanup))
      const total = used + c.used
      if (c.trap !== undefined) {
        r.rollback()
        return { ...base(r, { kind: 'none' }, total, debugPrints), trap, cleanupRan: true }
      }
      return { ...committed(r, cexec, total, { kind: 'none' }), trap, cleanupRan: true }
    }
    case 'heartbeat':
    case 'timer': {
      // The timer is one-shot: it is off once it fired, whatever the handler does.
      const timerFired = req.kind === 'timer'
      if (timerFired) r.committedTimer = 0n
      const off = timerFired ? { globalTimer: 0n } : {}
      const fn = r.systemTask(req.kind)
      if (fn === undefined) return { ...base(r, { kind: 'none' }, 0n, debugPrints), ...off }
      const exec = new ExecutionState({ context: req.kind, time: req.time, debugPrints })
      const { trap, used } = r.run(exec, req.instructionLimit, () => { fn() })
      if (trap !== undefined) {
        r.rollback()
        return { ...base(r, { kind: 'none' }, used, debugPrints), trap, ...off }
      }
      return { ...off, ...committed(r, exec, used, { kind: 'none' }) }
    }
  }
}
