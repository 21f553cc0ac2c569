import assert from 'node:assert/strict'
import type { ReplicaFaults } from '@icnet/replica'
import { assertNothingLost, metricsOf, metricValue, recordResult, runScenario } from './harness.js'

const FLOODER = '0-3'
const HONEST = ['0-0', '0-1', '0-2']
const FLOOD_PER_S = 200

/**
 * A member of subnet 0 floods its subnet's consensus topics with 200 invalid
 * artifacts per second from its first certified height on. Its peers must
 * refuse them, score it down until they disconnect and ban it, and go on
 * making rounds with the 2f + 1 honest nodes left.
 */
describe('fault scenario: a gossip peer flooding invalid artifacts', function () {
  this.timeout(300_000)

  it('refuses the flood, scores the flooder out, keeps consensus going, and loses nothing', async () => {
    const r = await runScenario({
      name: 'gossip-flood',
      basePort: 8000,
      durationS: 12,
      faults: { [FLOODER]: { gossipFloodPerS: FLOOD_PER_S } satisfies ReplicaFaults }
    })
    const m = (node: string): string => metricsOf(r, node)
    const published = metricValue(m(FLOODER), 'icnet_replica_faults_injected_total', { fault: 'gossip_invalid_artifact' })
    const publishFailed = metricValue(m(FLOODER), 'icnet_replica_faults_injected_total', { fault: 'gossip_publish_failed' })
    const honest = HONEST.map(n => ({
      node: n,
      rejected: metricValue(m(n), 'icnet_artifact_validated_total', { outcome: 'reject' }),
      disconnected: metricValue(m(n), 'icnet_artifact_peers_disconnected_total'),
      height: metricValue(m(n), 'icnet_replica_executed_height')
    }))
    const flooderHeight = metricValue(m(FLOODER), 'icnet_replica_executed_height')
    const s0 = r.summary.subnets.find(x => x.subnetIndex === 0)!
    const s1 = r.summary.subnets.find(x => x.subnetIndex === 1)!
    r.extra = { floodPerS: FLOOD_PER_S, published, publishFailed, honest, flooderHeight, roundsPerSecond: r.summary.roundsPerSecond, heights: { subnet0: s0.height, subnet1: s1.height } }
    await recordResult(r)
    assertNothingLost(r)

    assert.ok(published > 0, 'the flooder published invalid artifacts')
    for (const h of honest) {
      // Refused (never accepted: the flood is not decodable), scored below the graylist, disconnected (and banned).
      assert.ok(h.rejected > 0, `${h.node} rejected flooded artifacts`)
      assert.ok(h.disconnected >= 1, `${h.node} disconnected the flooder`)
    }
    // Consensus went on without it: the flooded subnet kept pace with the other one.
    assert.ok(r.summary.roundsPerSecond > 0)
    assert.ok(s0.trafficHeights > 0 && s0.height * 2 > s1.height, `subnet 0 at ${s0.height}, subnet 1 at ${s1.height}`)
    assert.ok(flooderHeight < Math.min(...honest.map(h => h.height)), 'the flooder, cut off by its peers, fell behind')
  })
})
