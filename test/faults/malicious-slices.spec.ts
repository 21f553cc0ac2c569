import assert from 'node:assert/strict'
import { readFile } from 'node:fs/promises'
import type { ReplicaFaults } from '@icnet/replica'
import { assertNothingLost, metricsOf, metricValue, recordResult, runScenario } from './harness.js'

const MALICIOUS = '0-3'
/** The nodes that pull slices from the malicious node: every node of the other subnet. */
const RECEIVERS = ['1-0', '1-1', '1-2', '1-3']
/** Its honest peers, serving the same stream. */
const HONEST_SOURCES = ['0-0', '0-1', '0-2']

/**
 * The IC's xnet_malicious_slices, on a 2 x 4 testnet: one node of subnet 0
 * serves every certified slice corrupted (altered payload, altered witness
 * hash, or a signature by a key that is not the subnet's, in turn). The
 * receivers must refuse each one, take nothing from it, and stop asking it,
 * while the honest nodes of its subnet carry the stream.
 */
describe('fault scenario: a node serving malicious XNet slices', function () {
  this.timeout(300_000)

  it('refuses every corrupted slice (0 accepted, 0 bytes inducted), deprioritises the node, and loses nothing', async () => {
    const r = await runScenario({
      name: 'malicious-slices',
      basePort: 7800,
      durationS: 12,
      faults: { [MALICIOUS]: { xnetSlices: 'rotate' } satisfies ReplicaFaults },
      chaos: async ctx => {
        const node = ctx.testnet.nodes.find(n => n.name === MALICIOUS)!
        const log = await readFile(node.logPath, 'utf8')
        assert.match(log, /FAULTS INJECTED.*xnetSlices=rotate/, 'the malicious node says what it does')
      }
    })
    const m = (node: string): string => metricsOf(r, node)
    const corrupted = {
      alterHash: metricValue(m(MALICIOUS), 'icnet_replica_faults_injected_total', { fault: 'slice_alter_hash' }),
      alterPayload: metricValue(m(MALICIOUS), 'icnet_replica_faults_injected_total', { fault: 'slice_alter_payload' }),
      badSignature: metricValue(m(MALICIOUS), 'icnet_replica_faults_injected_total', { fault: 'slice_bad_signature' })
    }
    const corruptedTotal = corrupted.alterHash + corrupted.alterPayload + corrupted.badSignature
    const servedByMalicious = metricValue(m(MALICIOUS), 'xnet_endpoint_requests_total', { outcome: 'served' })
    const servedByHonest = HONEST_SOURCES.map(n => metricValue(m(n), 'xnet_endpoint_requests_total', { outcome: 'served' }))
    const sum = (f: (name: string) => number): number => RECEIVERS.reduce((s, n) => s + f(n), 0)
    const refusedCertification = sum(n => metricValue(m(n), 'xnet_slice_invalid_total', { reason: 'certification' }))
    const refusedAll = sum(n => metricValue(m(n), 'xnet_slice_invalid_total'))
    const pullsInvalid = sum(n => metricValue(m(n), 'xnet_builder_pull_attempt_count', { status: 'invalid' }))
    const pullsTimedOut = sum(n => metricValue(m(n), 'xnet_builder_pull_attempt_count', { status: 'timeout' }))
    const pullsOk = sum(n => metricValue(m(n), 'xnet_builder_pull_attempt_count', { status: 'success' }))
    r.extra = { corrupted, corruptedTotal, servedByMalicious, servedByHonest, refusedCertification, refusedAll, pullsInvalid, pullsTimedOut, pullsOk }
    await recordResult(r)
    assertNothingLost(r)

    // It misbehaved, every time it answered with a slice.
    assert.ok(corruptedTotal > 0, 'the malicious node served corrupted slices')
    assert.equal(corruptedTotal, servedByMalicious, 'every slice it served was corrupted')
    // Refused: every corrupted slice was refused as invalid by its receiver (or its pull timed out and it was dropped
    // unread). No slice of it was accepted, so none of its bytes reached a pool, a block or the induction.
    assert.ok(refusedCertification > 0, 'receivers refused slices whose certification does not verify')
    assert.ok(refusedAll + pullsTimedOut >= corruptedTotal, `${corruptedTotal} corrupted, ${refusedAll} refused, ${pullsTimedOut} timed out`)
    // Deprioritised: after a refusal the node sits out a long penalty, so it is asked far less than any honest peer.
    // (Against the honest peers' mean: RTT tiers make some honest peers busier than others.)
    const honestMean = servedByHonest.reduce((s, x) => s + x, 0) / servedByHonest.length
    assert.ok(servedByMalicious * 5 < honestMean, `malicious node served ${servedByMalicious} requests, its honest peers ${servedByHonest.join(', ')}`)
  })
})
