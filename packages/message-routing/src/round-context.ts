import type { Sandbox } from '@icnet/execution'
import type { CanisterId, RegistryView, Request, RoutingTable, SubnetId } from '@icnet/types'
import type { CriticalErrorKind, MessageRoutingMetrics, RequestRejectKind } from './metrics.js'
import type { ReplicatedState } from './state.js'
import type { MessageRoutingLimits } from './types.js'

/** A canister range in migration, with the subnets it passes through (the registry's `migrationOf`). */
export interface MigrationTrace { trace: SubnetId[] }

/** Optional registry extension (the icnet `Registry` has it): the migration covering a canister. */
export interface MigrationSource { migrationOf?: (canister: CanisterId) => MigrationTrace | undefined }

/** Counters kept since open, for `stats()` (not replicated). */
export interface Progress {
  xnetInducted: number
  executed: number
  criticalErrors: number
}

/** What the phases of a round (induction, execution, routing) share. */
export interface RoundContext {
  readonly state: ReplicatedState
  readonly registry: RegistryView & MigrationSource
  readonly table: RoutingTable
  readonly sandbox: Sandbox
  readonly limits: MessageRoutingLimits
  readonly metrics: MessageRoutingMetrics
  readonly progress: Progress
  critical: (kind: CriticalErrorKind) => void
  /** A request refused here (counted and logged; the caller sees a reject, the receiver never sees it). */
  rejected: (kind: RequestRejectKind, req: Request) => void
}
