/**
 * Message routing, in one process: two subnets (one node each) exchange XNet load
 * canister traffic round by round — each round a subnet takes a certified slice
 * from the other's latest certified state (encoded, decoded and fully verified:
 * merkle proof and 3-of-4 threshold signature), executes its batch (induction,
 * wasm execution, routing, incremental state tree), and certifies the root.
 * Baseline, same run: the same number of request and reply executions called on a
 * bare sandbox (no induction, routing, tree or certification).
 * Also reported: state-tree hashes per round against a full rebuild, and the
 * incremental checkpoint manifest against a full recomputation.
 *
 *   node bench/dist/run.js message-routing [--rounds 60] [--rate 200] [--payload 1024] [--sandbox wasm|js]
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { certificateMessage, dealThresholdKeys, thresholdSigner } from '@icnet/crypto'
import {
  JS_TEST_CANISTERS, JsSandbox, WasmSandbox, decodeXnetLoadMetrics, encodeXnetLoadConfig, type Sandbox, type XnetLoadMetrics
} from '@icnet/execution'
import { loadTestCanister } from '@icnet/execution/canisters'
import { hashOperationCount, reconstruct } from '@icnet/hashtree'
import { MessageRouting } from '@icnet/message-routing'
import { bundleManifest, computeManifest } from '@icnet/state-sync'
import { Principal, RoutingTable, canisterIdFromU64, subnetIdFromPublicKeyDer } from '@icnet/types'
import {
  StaticRegistryView, decodeCertifiedSlice, encodeCertifiedSlice, verifyCertifiedSlice, type CertifiedStreamSlice
} from '@icnet/xnet-stream'

function arg (name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 ? process.argv[i + 1]! : dflt
}
const ROUNDS = Number(arg('rounds', '60'))
const RATE = Number(arg('rate', '200'))
const PAYLOAD = Number(arg('payload', '1024'))
const KIND = arg('sandbox', 'wasm') as 'wasm' | 'js'
const CHECKPOINT_INTERVAL = Math.max(2, Math.floor(ROUNDS / 2))

const anonymous = Principal.anonymous()
const newSandbox = (): Sandbox => KIND === 'js' ? new JsSandbox({ canisters: JS_TEST_CANISTERS }) : new WasmSandbox()
const module = KIND === 'js' ? new TextEncoder().encode('xnet_load') : await loadTestCanister('xnet_load')

const subnets = [0, 1].map(i => {
  const keys = dealThresholdKeys({ n: 4, t: 3, seed: new TextEncoder().encode(`bench-mr-${i}`) })
  const id = subnetIdFromPublicKeyDer(keys.publicKeyDer)
  return { i, id, keys, sign: thresholdSigner({ shares: keys.shares, threshold: 3 }), canister: canisterIdFromU64(i * 1000) }
})
const registry = new StaticRegistryView({
  subnets: subnets.map(s => ({ id: s.id, type: 'application' as const, nodes: [], publicKey: s.keys.publicKey, publicKeyDer: s.keys.publicKeyDer })),
  routingTable: new RoutingTable(subnets.map(s => ({ subnetId: s.id, range: { start: canisterIdFromU64(s.i * 1000), end: canisterIdFromU64(s.i * 1000 + 999) } })))
})

const nodes: Array<{ s: typeof subnets[number], mr: MessageRouting, sandbox: Sandbox, dataDir: string }> = []
for (const s of subnets) {
  const dataDir = await mkdtemp(join(tmpdir(), 'icnet-bench-mr-'))
  const sandbox = newSandbox()
  const mr = await MessageRouting.open({ subnetId: s.id, registry, sandbox, dataDir, checkpointInterval: CHECKPOINT_INTERVAL })
  await mr.installCanister({ canisterId: s.canister, module, controllers: [anonymous] })
  nodes.push({ s, mr, sandbox, dataDir })
}

let ingressSeq = 0
let time = 1_700_000_000_000
function configure (i: number, rate: number): { requestId: Uint8Array, sender: Principal, canisterId: Principal, methodName: string, arg: Uint8Array, expiry: number } {
  const requestId = new Uint8Array(32)
  new DataView(requestId.buffer).setUint32(0, ++ingressSeq)
  const target = subnets[1 - i]!.canister
  return {
    requestId, sender: anonymous, canisterId: subnets[i]!.canister, methodName: 'configure',
    arg: encodeXnetLoadConfig({ rate, payloadSize: PAYLOAD, seed: 7n, targets: rate === 0 ? [] : [target] }), expiry: time + 600_000
  }
}

function slicesFor (i: number): Map<string, CertifiedStreamSlice> {
  const me = nodes[i]!
  const other = nodes[1 - i]!
  const out = new Map<string, CertifiedStreamSlice>()
  const expected = me.mr.expectedIndices(other.s.id)
  const s = other.mr.certifiedStreamStore.slice(me.s.id, { msgBegin: expected.message, byteLimit: 4 * 1024 * 1024 })
  if ('code' in s || (s.messages.length === 0 && s.header.signalsEnd === expected.signal)) return out
  const wire = decodeCertifiedSlice(encodeCertifiedSlice(s))
  verifyCertifiedSlice(wire, { ourSubnet: me.s.id, sourceSubnet: other.s.id, registry })
  out.set(other.s.id.toText(), wire)
  return out
}

let height = 0
const roundMs: number[] = []
const treeHashes: number[] = []
let checkpointMs = 0
async function round (ingress: Array<Array<ReturnType<typeof configure>>> = [[], []]): Promise<void> {
  height++
  time += 1000
  const t0 = performance.now()
  for (const [i, n] of nodes.entries()) {
    const batch = { height, time, ingress: ingress[i]!, xnetSlices: slicesFor(i) }
    const before = hashOperationCount()
    const t1 = performance.now()
    const r = await n.mr.executeBatch(batch)
    if (r.checkpoint !== undefined) checkpointMs += performance.now() - t1
    treeHashes.push(hashOperationCount() - before)
    n.mr.setCertification(r.height, n.s.sign(certificateMessage(r.stateRoot)))
  }
  roundMs.push(performance.now() - t0)
}

const metrics = async (i: number): Promise<XnetLoadMetrics> => {
  const o = await nodes[i]!.mr.query(subnets[i]!.canister, 'metrics', new Uint8Array(0), anonymous)
  if (o.kind !== 'reply') throw new Error('metrics query failed')
  return decodeXnetLoadMetrics(o.data)
}

// ---- traffic
const started = performance.now()
await round([[configure(0, RATE)], [configure(1, RATE)]])
for (let r = 1; r < ROUNDS; r++) await round()
// The state at its fullest: what a full rebuild of the tree would cost, instead of the incremental update.
const peak = nodes[0]!.mr.latestCertifiedState()!
const peakInStreams = nodes[0]!.mr.stats().messagesInStreams + nodes[0]!.mr.stats().outputsWaiting
const h0 = hashOperationCount()
const tr = performance.now()
reconstruct(peak.tree.toHashTree())
const rebuildMs = performance.now() - tr
const rebuildHashes = hashOperationCount() - h0
await round([[configure(0, 0)], [configure(1, 0)]])
const busy = (): boolean => nodes.some(n => { const st = n.mr.stats(); return st.messagesInStreams > 0 || st.outputsWaiting > 0 || st.canisters.some(c => c.outstandingCalls > 0) })
let drain = 0
while (busy() && drain++ < 1000) await round()
const wallS = (performance.now() - started) / 1000
const m = [await metrics(0), await metrics(1)]
const sent = m[0]!.sent + m[1]!.sent
const replied = m[0]!.replied + m[1]!.replied
const rejected = m[0]!.rejected + m[1]!.rejected
const seqErrors = m[0]!.seqErrors + m[1]!.seqErrors
const latencyRounds = Number(m[0]!.latencySumNs + m[1]!.latencySumNs) / Number(m[0]!.latencyCount + m[1]!.latencyCount) / 1e9
const sortedRound = [...roundMs].sort((a, b) => a - b)
console.log(JSON.stringify({
  phase: 'xnet-rounds', sandbox: KIND, rounds: height, rate_per_round: RATE, payload: PAYLOAD, sent: Number(sent), replied: Number(replied),
  rejected: Number(rejected), seq_errors: Number(seqErrors), wall_s: +wallS.toFixed(2),
  round_ms_p50: +sortedRound[Math.floor(sortedRound.length / 2)]!.toFixed(1), round_ms_p99: +sortedRound[Math.floor(sortedRound.length * 0.99)]!.toFixed(1),
  latency_rounds_mean: +latencyRounds.toFixed(2)
}))

// ---- state tree: hashes per batch vs a full rebuild of the state at the peak of the traffic
const meanTreeHashes = treeHashes.reduce((a, b) => a + b, 0) / treeHashes.length
console.log(JSON.stringify({ phase: 'state-tree', mean_hashes_per_batch: Math.round(meanTreeHashes), full_rebuild_hashes: rebuildHashes, full_rebuild_ms: +rebuildMs.toFixed(1), peak_messages_in_streams: peakInStreams }))

// ---- checkpoint: incremental manifest (inside the checkpoint round) vs a full recomputation
const cp = nodes[0]!.mr.latestCheckpoint!
const t2 = performance.now()
const full = bundleManifest(await computeManifest(cp.dir))
const fullManifestMs = performance.now() - t2
console.log(JSON.stringify({
  phase: 'checkpoint', checkpoints: Math.floor(height / CHECKPOINT_INTERVAL) * 2, checkpoint_round_ms_mean: +(checkpointMs / Math.max(1, Math.floor(height / CHECKPOINT_INTERVAL) * 2)).toFixed(1),
  full_manifest_ms: +fullManifestMs.toFixed(1), same_hash: Buffer.from(full.stateHash).equals(Buffer.from(cp.stateHash))
}))

// ---- baseline: the same executions on a bare sandbox
const bare = newSandbox()
const a = canisterIdFromU64(0)
const b = canisterIdFromU64(1000)
for (const id of [a, b]) await bare.install({ canisterId: id, mode: 'install', module, arg: new Uint8Array(0), caller: anonymous, time: 1n, instructionLimit: 20_000_000_000n })
await bare.execute({ kind: 'update', canisterId: a, method: 'configure', arg: encodeXnetLoadConfig({ rate: RATE, payloadSize: PAYLOAD, seed: 7n, targets: [b] }), caller: anonymous, time: 1n, instructionLimit: 2_000_000_000n })
const perSide = Number(sent) / 2
let executed = 0
const tb = performance.now()
for (let done = 0; done < perSide;) {
  const hb = await bare.execute({ kind: 'heartbeat', canisterId: a, time: 2n, instructionLimit: 2_000_000_000n })
  for (const call of hb.calls) {
    const handled = await bare.execute({ kind: 'update', canisterId: b, method: call.method, arg: call.payload, caller: a, time: 3n, instructionLimit: 2_000_000_000n })
    if (handled.outcome.kind !== 'reply') throw new Error('baseline call failed')
    await bare.execute({ kind: 'response', canisterId: a, callback: call.callback, response: { kind: 'reply', data: handled.outcome.data }, caller: a, callContextReplied: false, time: 4n, instructionLimit: 2_000_000_000n })
    executed += 2
    done++
  }
}
const bareS = (performance.now() - tb) / 1000
await bare.close()
const requestsPerS = Number(replied) / wallS
const bareRequestsPerS = (executed / 2) / bareS
console.log(JSON.stringify({ phase: 'baseline-bare-sandbox', requests: executed / 2, seconds: +bareS.toFixed(2), requests_per_s: Math.round(bareRequestsPerS) }))

for (const n of nodes) { await n.mr.close(); await n.sandbox.close(); await rm(n.dataDir, { recursive: true, force: true }) }

console.log(JSON.stringify({
  bench: 'message-routing', sandbox: KIND, rate_per_round: RATE, payload: PAYLOAD,
  requests_per_s: Math.round(requestsPerS), rounds_per_s: +(height / wallS).toFixed(1),
  sent: Number(sent), replied: Number(replied), rejected: Number(rejected), seq_errors: Number(seqErrors),
  latency_rounds_mean: +latencyRounds.toFixed(2),
  tree_hashes_per_batch: Math.round(meanTreeHashes), tree_full_rebuild_hashes: rebuildHashes,
  baseline_bare_sandbox_requests_per_s: Math.round(bareRequestsPerS), ratio_to_baseline: +(requestsPerS / bareRequestsPerS).toFixed(3)
}))
