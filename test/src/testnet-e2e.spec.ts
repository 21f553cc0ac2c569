import assert from 'node:assert/strict'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { cliMain, runTestnet, type TestnetSupervisor } from '@icnet/replica'

const CHECKPOINT_INTERVAL = 20
const sleep = async (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms))

/**
 * 2 subnets x 4 nodes, each node its own OS process on loopback, message
 * routing with the wasm XNet load canister on each subnet, traffic both ways.
 * One node is killed during the traffic and restarted once its subnet has
 * written two more checkpoints: consensus catches it up with a CUP above its
 * state, so it fetches that checkpoint from its peers (state sync), reopens its
 * state on it and executes on from there.
 *
 * Asserts: at least 100 heights with traffic on each subnet, every request
 * got exactly one reply or reject, no sequence errors, and the nodes of each
 * subnet (the restarted one included) report the same state root at a common
 * certified height.
 */
describe('testnet: 2 subnets x 4 nodes as processes', function () {
  this.timeout(360_000)
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'icnet-e2e-'))
    if (process.env.ICNET_KEEP_E2E !== undefined) console.log('testnet in', dir)
    await cliMain(['testnet', 'init', '--subnets', '2', '--nodes', '4', '--dir', dir, '--canisters', 'xnet-load',
      '--rate', '10', '--base-port', '7300', '--unit-delay-ms', '150', '--checkpoint-interval', String(CHECKPOINT_INTERVAL),
      // Application subnets, as in the IC's XNet SLO tests: a system subnet's streams hold at most 100 messages.
      '--system-subnets', '0'], { log: () => {} })
  })
  after(async () => { if (process.env.ICNET_KEEP_E2E === undefined) await rm(dir, { recursive: true, force: true }) })

  it('delivers every request exactly once, and a node killed during traffic catches up by state sync', async () => {
    const victim = '1-2'
    let restartedAt: number | undefined
    let killedAt: number | undefined
    let chaos: Promise<void> | undefined
    const heightOf = async (sup: TestnetSupervisor): Promise<number> => {
      const probes = await sup.probeAll()
      return Math.max(0, ...probes.filter(p => p.subnetIndex === 1 && p.name !== victim).map(p => p.health?.height ?? 0))
    }
    const summary = await runTestnet({
      dir,
      durationS: 45,
      minTrafficHeights: 110,
      drainS: 150,
      onProgress: process.env.ICNET_KEEP_E2E !== undefined ? (lines: string[]) => { console.log(lines.join('\n')) } : () => {},
      onRunning: (sup: TestnetSupervisor) => {
        chaos = (async () => {
          await sleep(8_000)
          await sup.stopNode(victim, 'SIGKILL')
          killedAt = await heightOf(sup)
          // Restart only after the subnet wrote two more checkpoints (and formed their CUPs).
          while (await heightOf(sup) < killedAt + 2 * CHECKPOINT_INTERVAL + 3) await sleep(500)
          sup.startNode(victim)
          restartedAt = await heightOf(sup)
        })()
      }
    })
    await chaos
    assert.ok(killedAt !== undefined && restartedAt !== undefined, 'the node was killed and restarted')
    assert.ok(restartedAt >= killedAt + 2 * CHECKPOINT_INTERVAL, `restarted at ${restartedAt}, killed at ${killedAt}`)
    assert.ok(summary.sent > 0, 'traffic was sent')
    assert.equal(summary.sent, summary.replied + summary.rejected, `unanswered: ${summary.problems.join('; ')}`)
    assert.equal(summary.seqErrors, 0)
    for (const s of summary.subnets) {
      assert.ok(s.sent > 0 && s.replied > 0, `subnet ${s.subnetIndex} sent and got replies`)
      assert.equal(s.nodesUp, 4, `subnet ${s.subnetIndex}: every node answers`)
      assert.equal(s.agreedRoots, 1, `subnet ${s.subnetIndex}: one state root at height ${s.agreedHeight}`)
      assert.ok(s.trafficHeights >= 100, `subnet ${s.subnetIndex} ran ${s.trafficHeights} heights with traffic`)
    }
    // The restarted node reached the common height (the agreement check includes it) by a state sync.
    const log = await readFile(join(dir, 'nodes', victim, 'replica.log'), 'utf8')
    assert.match(log, /state installed from peers/)
    assert.ok(summary.ok, summary.problems.join('; '))
  })
})
