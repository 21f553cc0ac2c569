import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { cliMain, runTestnet, type RunOptions, type TestnetSupervisor } from '@icnet/replica'

/** Messages the stream 0→1 may hold: small, so one-way traffic reaches it within a few rounds. */
const STREAM_LIMIT = 20
/** Requests per round from subnet 0's load canister to subnet 1's (1 KiB each way). */
const RATE = 6

type SubnetProgress = Parameters<NonNullable<RunOptions['onProgress']>>[1][number]

/**
 * Backpressure between real processes: 2 subnets x 4 nodes, traffic from subnet
 * 0 to subnet 1 only, and subnet 1 made slow by its registry parameters: a
 * round budget that executes about four load-canister requests per round, and
 * an XNet share of its blocks (`maxXNetPayloadBytes`) that inducts about as
 * many. Subnet 0 routes six per round, so its stream towards subnet 1 fills up
 * to the limit and the rest waits in the load canister's output queue. Once the
 * traffic stops, everything drains.
 *
 * Asserts: the stream 0→1 reached its limit and never held more; outputs
 * waited; every request got exactly one answer (a reply: nothing was refused
 * on the way), no sequence errors; at the end the stream and the output queue
 * are empty and the nodes of each subnet agree on the state root.
 */
describe('testnet: a slow receiver backs the sender stream up to its limit, then drains (processes)', function () {
  this.timeout(300_000)
  let dir: string
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'icnet-backpressure-'))
    if (process.env.ICNET_KEEP_E2E !== undefined) console.log('testnet in', dir)
    await cliMain(['testnet', 'init', '--subnets', '2', '--nodes', '4', '--dir', dir, '--canisters', 'xnet-load',
      '--rate', `0=${RATE},1=0`, '--base-port', '8200', '--unit-delay-ms', '150', '--system-subnets', '0',
      '--stream-max-messages', String(STREAM_LIMIT), '--round-budget', '1=30000', '--xnet-payload-bytes', '1=6144'], { log: () => {} })
  })
  after(async () => { if (process.env.ICNET_KEEP_E2E === undefined) await rm(dir, { recursive: true, force: true }) })

  it('the stream 0→1 reaches its limit, outputs wait in the output queue, and after the traffic everything drains', async () => {
    let maxStream = 0
    let maxWaiting = 0
    let limitSeen: number | undefined
    const overLimit: string[] = []
    const watch = (subnets: SubnetProgress[]): void => {
      const s0 = subnets.find(s => s.subnetIndex === 0)
      if (s0 === undefined) return
      for (const st of s0.streams) {
        limitSeen = st.maxMessages
        maxStream = Math.max(maxStream, st.messages)
        if (st.messages > st.maxMessages) overLimit.push(`${st.messages} > ${st.maxMessages} at height ${s0.height}`)
      }
      maxWaiting = Math.max(maxWaiting, s0.outputsWaiting)
    }
    let end: { streams: number[], waiting: number } | undefined
    const summary = await runTestnet({
      dir,
      durationS: 6,
      drainS: 150,
      progressEveryMs: 250,
      onProgress: (lines, subnets) => {
        watch(subnets)
        if (process.env.ICNET_KEEP_E2E !== undefined) console.log(lines.join('\n'), `stream 0→1 max ${maxStream}, outputs waiting max ${maxWaiting}`)
      },
      onDrained: async (sup: TestnetSupervisor) => {
        const lead = (await sup.probeAll()).filter(p => p.subnetIndex === 0 && p.load != null)
          .sort((a, b) => b.load!.height - a.load!.height)[0]
        if (lead?.load != null) end = { streams: lead.load.streams.map(s => s.messages), waiting: lead.load.outputsWaiting }
      }
    })
    assert.deepEqual(overLimit, [], 'the stream never held more than its limit')
    assert.equal(limitSeen, STREAM_LIMIT, 'the registry limit reached message routing')
    assert.equal(maxStream, STREAM_LIMIT, `the stream 0→1 filled up to its limit (max ${maxStream})`)
    assert.ok(maxWaiting > 0, 'outputs waited in the output queue')
    const [s0, s1] = summary.subnets
    assert.ok(s0 !== undefined && s1 !== undefined)
    assert.ok(s0.sent > maxStream + maxWaiting / 2, `subnet 0 sent ${s0.sent}`)
    assert.equal(s1.sent, 0, 'subnet 1 only answers')
    assert.equal(summary.sent, summary.replied, `every request got a reply: ${summary.problems.join('; ')}`)
    assert.equal(summary.rejected, 0, 'nothing was refused on the way')
    assert.equal(summary.seqErrors, 0)
    assert.equal(summary.seqGaps, 0)
    assert.ok(end !== undefined, 'subnet 0 answered after the drain')
    assert.deepEqual(end, { streams: end.streams.map(() => 0), waiting: 0 }, 'the stream and the output queue drained')
    for (const s of summary.subnets) {
      assert.equal(s.nodesUp, 4, `subnet ${s.subnetIndex}: every node answers`)
      assert.equal(s.agreedRoots, 1, `subnet ${s.subnetIndex}: one state root at height ${s.agreedHeight}`)
    }
    assert.ok(summary.ok, summary.problems.join('; '))
  })
})
