import type { MessageRoutingLimits } from './types.js'

/** The registry's per-subnet parameters that message routing takes (a subset of @icnet/registry's SubnetParams). */
export interface SubnetLimitParams {
  /** Instructions per round over all canisters. */
  maxInstructionsPerRound?: number
  /** Messages an outgoing stream towards an application subnet holds. */
  streamMaxMessages?: number
}

/**
 * Message routing limits from the subnet's registry record. They shape the
 * replicated state (how much executes per round, when outputs wait), so every
 * node of a subnet must take them from the same place: the registry, never a
 * node's own config.
 */
export function limitsFromSubnetParams (p: SubnetLimitParams): Partial<MessageRoutingLimits> {
  const out: Partial<MessageRoutingLimits> = {}
  if (p.maxInstructionsPerRound !== undefined) {
    if (!Number.isSafeInteger(p.maxInstructionsPerRound) || p.maxInstructionsPerRound < 0) throw new RangeError('maxInstructionsPerRound must be a non-negative integer')
    out.roundInstructions = BigInt(p.maxInstructionsPerRound)
  }
  if (p.streamMaxMessages !== undefined) {
    if (!Number.isSafeInteger(p.streamMaxMessages) || p.streamMaxMessages < 1) throw new RangeError('streamMaxMessages must be a positive integer')
    out.streamMaxMessages = p.streamMaxMessages
  }
  return out
}
