import '@icnet/types/polyfill'
import assert from 'node:assert/strict'
import { CATCH_UP_PROTOCOL } from '@icnet/replica'
import { PROTOCOL as STATE_SYNC_PROTOCOL } from '@icnet/state-sync'
import { createTestNode } from '@icnet/test-utils'
import { XNET_ADVERT_PROTOCOL, XNET_STREAM_PROTOCOL } from '@icnet/xnet-stream'
import { multiaddr } from '@multiformats/multiaddr'
import { assertNothingLost, metricValue, recordResult, runScenario, waitNodeHealth } from './harness.js'

/** What an outsider would want from a subnet: slices, adverts, checkpoints, consensus catch-up, and the gossip mesh. */
const PROTOCOLS = [XNET_STREAM_PROTOCOL, XNET_ADVERT_PROTOCOL, STATE_SYNC_PROTOCOL, CATCH_UP_PROTOCOL, '/meshsub/1.1.0', '/meshsub/1.2.0']

/**
 * A libp2p node with a fresh key (so in no registry version) dials every node
 * of a running testnet and asks for each protocol a member or an XNet peer
 * would use. The nodes' connection gater admits only peers the registry lists
 * (members for gossip, nodes of other subnets for XNet), so the outsider never
 * gets a connection: no slice, no checkpoint chunk, no catch-up package, no
 * place in the gossip mesh. The testnet meanwhile delivers its traffic as usual.
 */
describe('fault scenario: a peer that is not in the registry', function () {
  this.timeout(300_000)

  it('gets no connection, so no slices, checkpoints or gossip, and the testnet loses nothing', async () => {
    const attempts: Record<string, Record<string, number>> = {}
    let opened = 0
    const r = await runScenario({
      name: 'non-registry-peer',
      basePort: 7700,
      durationS: 12,
      chaos: async ctx => {
        await ctx.waitHeight(0, (await ctx.heightOf(0)) + 3)
        const outsider = await createTestNode()
        try {
          for (const node of ctx.testnet.nodes) {
            const addr = multiaddr(`${node.config.listenAddresses[0]}/p2p/${node.config.nodeId}`)
            for (const protocol of ['connection', ...PROTOCOLS]) {
              let outcome: string
              try {
                if (protocol === 'connection') {
                  const conn = await outsider.dial(addr, { signal: AbortSignal.timeout(5_000) })
                  outcome = conn.status === 'open' ? 'connected' : `connection-${conn.status}`
                } else {
                  const stream = await outsider.dialProtocol(addr, protocol, { signal: AbortSignal.timeout(5_000) })
                  opened++
                  outcome = 'stream-opened'
                  stream.abort(new Error('done'))
                }
              } catch (err) {
                // libp2p rejects some dials with the connection's close Event rather than an Error.
                const e = err as { code?: unknown, name?: unknown }
                outcome = err instanceof Event
                  ? `closed (${err.type})`
                  : typeof e?.name === 'string' && e.name !== 'Error' ? e.name : typeof e?.code === 'string' ? e.code : String(err).slice(0, 40)
              }
              attempts[protocol] ??= {}
              attempts[protocol][outcome] = (attempts[protocol][outcome] ?? 0) + 1
            }
          }
          ctx.log(`outsider attempts: ${JSON.stringify(attempts)}`)
          // A connection the remote gater refuses after the handshake may look open for a moment on our side.
          await new Promise(resolve => setTimeout(resolve, 2_000))
          const stillOpen = outsider.getConnections().filter(c => c.status === 'open').map(c => c.remotePeer.toString())
          assert.deepEqual(stillOpen, [], 'no node keeps a connection with the outsider')
          // Members (3) and the nodes of the other subnet (4): the outsider is not among them.
          // A loaded node may miss one /health poll, so each is polled until it answers.
          const maxPeers = ctx.testnet.nodes.length - 1
          for (const node of ctx.testnet.nodes) {
            const { health } = await waitNodeHealth(ctx, node.name, () => true, { timeoutMs: 30_000, what: 'answer /health', describe: () => 'no answer' })
            assert.ok(health.peers <= maxPeers, `${node.name} has ${health.peers} peers`)
          }
        } finally {
          await outsider.stop()
        }
      }
    })
    assert.equal(opened, 0, `a stream was opened: ${JSON.stringify(attempts)}`)
    for (const protocol of PROTOCOLS) {
      const outcomes = attempts[protocol] ?? {}
      assert.equal(Object.values(outcomes).reduce((a, b) => a + b, 0), 8, `${protocol} was tried on every node`)
    }
    // Nothing from the outsider reached gossip validation anywhere.
    const nonMember = [...r.metricsAtEnd.values()].reduce((n, m) => n + metricValue(m, 'icnet_artifact_non_member_total'), 0)
    r.extra = { attempts, streamsOpened: opened, nonMemberGossipRefused: nonMember }
    await recordResult(r)
    assertNothingLost(r)
  })
})
