/**
 * Generators of structurally valid inputs: the seeds the mutators start from.
 * A fuzzer that only feeds random bytes never gets past a decoder's first
 * check; valid encodings with a few mutations reach every branch.
 */
import fc from 'fast-check'
import { canisterIdFromU64, encodeStreamMessage, type RejectCode, type StreamMessage } from '@icnet/types'
import { buildHashTree, encodeHashTree, type HashTree, type LabeledTree } from '@icnet/hashtree'

export const arbCanisterId = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }).map(canisterIdFromU64)

export const arbStreamMessage: fc.Arbitrary<StreamMessage> = fc.oneof(
  fc.record({
    kind: fc.constant('request' as const),
    receiver: arbCanisterId,
    sender: arbCanisterId,
    methodName: fc.string({ maxLength: 24 }),
    methodPayload: fc.uint8Array({ maxLength: 256 }),
    senderReplyCallback: fc.nat(),
    deadline: fc.option(fc.nat(), { nil: undefined })
  }, { requiredKeys: ['kind', 'receiver', 'sender', 'methodName', 'methodPayload', 'senderReplyCallback'] }),
  fc.record({
    kind: fc.constant('response' as const),
    originator: arbCanisterId,
    respondent: arbCanisterId,
    originatorReplyCallback: fc.nat(),
    payload: fc.oneof(
      fc.uint8Array({ maxLength: 256 }).map(data => ({ data })),
      fc.record({ code: fc.constantFrom(1, 2, 3, 4, 5) as fc.Arbitrary<RejectCode>, message: fc.string({ maxLength: 64 }) }).map(reject => ({ reject }))
    )
  })
)

export const arbStreamMessageBytes = arbStreamMessage.map(encodeStreamMessage)

/** Short labels over a small alphabet, so that lookups often hit and often fall between labels. */
export const arbLabel = fc.uint8Array({ minLength: 0, maxLength: 4, max: 7 })

/** A labeled tree of bounded depth and fan-out. */
export const arbLabeledTree: fc.Arbitrary<LabeledTree> = fc.letrec<{ tree: LabeledTree, subtree: LabeledTree }>(tie => ({
  tree: fc.oneof({ depthSize: 'small' }, fc.uint8Array({ maxLength: 16 }), tie('subtree')),
  subtree: fc.uniqueArray(fc.tuple(arbLabel, tie('tree')), { maxLength: 6, selector: ([label]) => Buffer.from(label).toString('hex') }) as fc.Arbitrary<LabeledTree>
})).subtree

export const arbHashTree: fc.Arbitrary<HashTree> = arbLabeledTree.map(buildHashTree)
export const arbHashTreeBytes = arbHashTree.map(encodeHashTree)
export const arbPath = fc.array(arbLabel, { maxLength: 5 })
