import { type Metrics, noopMetrics, toHex, equalBytes } from '@icnet/types'
import { logger, type Logger } from '@libp2p/logger'
import type { Committee, NodeSigner } from './committee.js'
import {
  CATCH_UP_LAG_HEIGHTS, CATCH_UP_RETRY_MS, DEFAULT_MAX_UNCONSUMED_BATCHES, MAX_BLOCK_TIME_SKEW_MS, MAX_CATCH_UP_BLOCKS,
  MAX_CATCH_UP_RESPONSE_BYTES, MAX_CATCH_UP_ROUNDS, MAX_CERTIFICATION_HEIGHTS, MAX_CUP_BYTES, MAX_HEIGHTS_AHEAD,
  MAX_PAYLOAD_SECTIONS, MAX_PENDING_ARTIFACTS, MAX_PROPOSAL_BYTES, MAX_PROPOSAL_RESEND_PERIODS, MAX_PROPOSALS_PER_HEIGHT,
  MAX_SMALL_ARTIFACT_BYTES, MIN_RESEND_MS, PEER_JOINED_RESEND_DELAY_MS, PEER_JOINED_RESEND_MIN_INTERVAL_MS, RESEND_AFTER_DELAYS
} from './constants.js'
import { ConsensusStoppedError, InvalidSubmissionError } from './errors.js'
import { genesisBeacon, genesisCup, genesisProposal } from './genesis.js'
import {
  batchRandomness, beaconHash, beaconMessage, blockHash, cupContentHash, cupMessage, finalizationMessage,
  notarizationMessage, proposalMessage, stateRootMessage
} from './hashing.js'
import { ConsensusMetrics } from './metrics.js'
import type { Batch, PayloadBuilder, PayloadContext } from './payload.js'
import {
  BlockMultiSig, BlockProposal, BlockShare, CatchUpContent, CatchUpPackage, CatchUpRequest, CatchUpResponse,
  CatchUpShare, Certification, CertificationShare, RandomBeacon, RandomBeaconShare, type PayloadSection
} from './pb/consensus.js'
import { rankNodes } from './ranking.js'
import { MemoryConsensusStore, type ConsensusStore, type SignedRecord } from './store.js'
import type { ArtifactKindName, ArtifactTransport } from './transport.js'

export interface ConsensusParams {
  /** Δ: the block maker of rank r proposes, and notaries accept rank r, r × Δ after the round starts. */
  unitDelayMs: number
  maxBlockPayloadBytes: number
  /** A CUP is made at every height divisible by this. */
  checkpointInterval: number
}

/** Deliberate misbehaviour, for fault tests only: never set it on a real node. */
export interface ConsensusFaults {
  /** As block maker, propose two different blocks at the same height and sign notarization and finalization shares for both. */
  equivocate?: boolean
}

export interface ConsensusInit {
  committee: Committee
  signer: NodeSigner
  params: ConsensusParams
  transport: ArtifactTransport
  store?: ConsensusStore
  payloadBuilders?: PayloadBuilder[]
  metrics?: Metrics
  /** Clock in ms since the Unix epoch (default Date.now). */
  now?: () => number
  /** Finalized batches the host may leave unconsumed before consensus pauses (default 32). */
  maxUnconsumedBatches?: number
  /**
   * A height this node executed is certified. `late`: the rest of the subnet had
   * certified it before this node could (t shares of others were already here
   * when it submitted its root, or the certification came from a peer): a host
   * that tells other subnets about new certified heights may leave this one to
   * the nodes that were on time.
   */
  onCertification?: (certification: Certification, info: { late: boolean }) => void
  /** A new CUP: made by this subnet at a checkpoint, or adopted from a peer (`jumped`: this node skipped to it and must sync state). */
  onCatchUpPackage?: (cup: CatchUpPackage, info: { jumped: boolean }) => void
  faults?: ConsensusFaults
  /**
   * Make the beacon of height h+1 while round h runs (default true), so its
   * threshold signing leaves the critical path. The ranking of a height is
   * then known one round earlier than on the IC.
   */
  beaconLookahead?: boolean
  /** Log name suffix. */
  name?: string
}

interface Proposed {
  proposal: BlockProposal
  bytes: Uint8Array
  hash: Uint8Array
  key: string
  height: number
}

interface Tip {
  height: number
  hash: Uint8Array
  proposal: BlockProposal
  bytes: Uint8Array
  key: string
  beacon: RandomBeacon
  beaconBytes: Uint8Array
  beaconHash: Uint8Array
}

/** Everything known about one height above the finalized tip. */
class Round {
  readonly proposals = new Map<string, Proposed>()
  readonly pending = new Map<string, Proposed>()
  readonly notarizations = new Map<string, BlockMultiSig>()
  finalization?: BlockMultiSig
  readonly notarShares = new Map<string, Map<number, Uint8Array>>()
  readonly finalShares = new Map<string, Map<number, Uint8Array>>()
  beacon?: RandomBeacon
  beaconHash?: Uint8Array
  ranks?: number[]
  readonly beaconShares = new Map<number, RandomBeaconShare>()
  start?: number
  notarizedAt?: number
  signed: SignedRecord = { notarized: [] }
  minSignedRank = Number.POSITIVE_INFINITY
  /** Own artifacts of this height, re-sent when the subnet seems stuck. */
  readonly own: Array<{ kind: ArtifactKindName, bytes: Uint8Array }> = []
  /** Times this round's proposals were re-sent, and the liveness tick before which they are not again. */
  proposalResends = 0
  nextProposalResendTick = 0
  /** The payload builders' `prepare` for our proposal: not started, running, or done. */
  preparation: 'none' | 'running' | 'done' = 'none'
}

interface ShareSet {
  content?: CatchUpContent
  contentHash?: Uint8Array
  shares: Map<number, Uint8Array>
}

/**
 * One node's consensus: a network-free state machine driven by artifacts
 * (from its transport), timers (rank delays) and the host (state roots,
 * checkpoints, batch consumption). See docs/protocols/consensus.md.
 */
export class Consensus {
  private readonly committee: Committee
  private readonly signer: NodeSigner
  private readonly params: ConsensusParams
  private readonly transport: ArtifactTransport
  private readonly store: ConsensusStore
  private readonly builders: PayloadBuilder[]
  /** Whether any builder has a `prepare` (the builders never change). */
  private readonly builderPrepares: boolean
  private readonly m: ConsensusMetrics
  private readonly now: () => number
  private readonly maxUnconsumed: number
  private readonly init: ConsensusInit
  private readonly log: Logger
  private readonly rounds = new Map<number, Round>()
  private tip!: Tip
  private cup!: CatchUpPackage
  private cupHeight = 0
  private notarized = 0
  private delivered = 0
  private maxSeen = 0
  private readonly finalizedCache = new Map<number, { proposal: BlockProposal, beacon: RandomBeacon, hash: Uint8Array }>()
  private readonly certShares = new Map<number, Map<string, Map<number, Uint8Array>>>()
  private readonly ownStateRoots = new Map<number, Uint8Array>()
  private readonly certifications = new Map<number, Certification>()
  /** When this node last sent each height's certification to a peer that sent a share for it late. */
  private readonly certificationsAnswered = new Map<number, number>()
  private readonly cupShares = new Map<number, Map<string, ShareSet>>()
  private running = false
  private stepping = false
  private stepAgain = false
  private stepScheduled = false
  private timer?: ReturnType<typeof setTimeout>
  private timerAt = Number.POSITIVE_INFINITY
  private ticker?: ReturnType<typeof setInterval>
  private lastTick = { notarized: -1, finalized: -1, stuck: 0 }
  private ticks = 0
  private catchingUp = false
  /** A catch-up that brought nothing: share hints do not start another before this time. */
  private catchUpRetryAt = 0
  private joinResendTimer?: ReturnType<typeof setTimeout>
  private lastJoinResendAt = -Infinity
  /**
   * The highest height each member was seen sending a notarization or
   * finalization share for. Unverified, so only a hint: it starts a catch-up
   * (which verifies everything it brings) when f + 1 members are well ahead.
   */
  private readonly peerHeights = new Map<number, number>()
  private checkingCup = false
  private finalizedWaiters: Array<() => void> = []

  constructor (init: ConsensusInit) {
    this.init = init
    this.committee = init.committee
    this.signer = init.signer
    this.params = init.params
    this.transport = init.transport
    this.store = init.store ?? new MemoryConsensusStore()
    this.builders = init.payloadBuilders ?? []
    this.builderPrepares = this.builders.some(b => b.prepare !== undefined)
    this.m = new ConsensusMetrics(init.metrics ?? noopMetrics)
    this.now = init.now ?? Date.now
    this.maxUnconsumed = init.maxUnconsumedBatches ?? DEFAULT_MAX_UNCONSUMED_BATCHES
    this.log = logger(`icnet:consensus:${init.name ?? this.signer.index}`)
    const names = new Set<string>()
    for (const b of this.builders) {
      if (names.has(b.name) || b.name.length > 32) throw new RangeError(`payload builder name ${b.name} is duplicated or too long`)
      names.add(b.name)
    }
  }

  /** Highest finalized height. */
  get finalizedHeight (): number { return this.tip?.height ?? 0 }
  /** Highest height with a notarized block. */
  get notarizedHeight (): number { return this.notarized }
  /** Highest height taken by the host through `batches()`. */
  get deliveredHeight (): number { return this.delivered }
  /** Height of the latest CUP (0: genesis). */
  get catchUpPackageHeight (): number { return this.cupHeight }
  /** The latest CUP. */
  get latestCatchUpPackage (): CatchUpPackage { return this.cup }
  /** Hash of the finalized block at the finalized height. */
  get finalizedTipHash (): Uint8Array { return this.tip.hash }

  async start (): Promise<void> {
    if (this.running) return
    const genesis = genesisCup(this.committee.subnetId)
    this.cup = genesis
    this.setTipFromCup(genesis)
    const stored = await this.store.load()
    if (stored.cup != null) {
      const cup = CatchUpPackage.decode(stored.cup)
      this.cup = cup
      this.cupHeight = Number(cup.content!.block!.block!.height)
      this.setTipFromCup(cup)
    }
    if (stored.top != null && stored.top.height > this.tip.height) {
      const proposal = BlockProposal.decode(stored.top.proposal)
      const beacon = RandomBeacon.decode(stored.top.beacon)
      this.tip = makeTip(proposal, stored.top.proposal, beacon, stored.top.beacon)
    }
    this.notarized = this.tip.height
    this.delivered = Math.max(stored.delivered, this.cupHeight)
    // The gauges start at the stored heights: a restarted node that cannot finalize yet must not report 0.
    this.m.finalizedHeight.set(this.tip.height)
    this.m.notarizedHeight.set(this.notarized)
    for (const [h, rec] of stored.signed) {
      if (h <= this.tip.height) continue
      const r = this.round(h)
      if (r == null) continue
      r.signed = { ...rec, notarized: [...rec.notarized] }
      this.restoreOwnProposals(h, r)
    }
    this.running = true
    this.transport.onArtifact((kind, bytes) => { this.receive(kind, bytes) })
    this.transport.onCatchUpRequest(async req => await this.serveCatchUp(req))
    this.transport.onPeerJoined?.(() => { this.scheduleJoinResend() })
    this.ticker = setInterval(() => { this.tick() }, this.livenessPeriodMs())
    this.log('started at finalized height %d (CUP %d, delivered %d)', this.tip.height, this.cupHeight, this.delivered)
    void this.catchUp()
    this.scheduleStep()
  }

  /**
   * The blocks this node proposed at `h` before it stopped go back into the
   * round, to be validated like any proposal once the beacon is known; the
   * node then re-makes the shares its record says it signed for them. Without
   * them a round the node had proposed in stayed empty after a restart: the
   * record forbids a second proposal, and in a subnet whose other members
   * lost the block as well (one node, or all restarted) nobody else has it.
   * A record that says `proposed` without the block is from a node that
   * stopped before sending it (proposals are stored before they are sent), so
   * the node may propose again.
   */
  private restoreOwnProposals (h: number, r: Round): void {
    const own = r.signed.proposals ?? []
    r.signed.proposed = own.length > 0
    for (const bytes of own) {
      const proposal = BlockProposal.decode(bytes, { limits: { block: { payload: MAX_PAYLOAD_SECTIONS } } })
      if (proposal.block == null || Number(proposal.block.height) !== h || proposal.signer !== this.signer.index) continue
      const hash = blockHash(proposal.block)
      const key = toHex(hash)
      r.pending.set(key, { proposal, bytes, hash, key, height: h })
    }
  }

  async stop (): Promise<void> {
    if (!this.running) return
    this.running = false
    if (this.timer != null) clearTimeout(this.timer)
    if (this.ticker != null) clearInterval(this.ticker)
    if (this.joinResendTimer != null) clearTimeout(this.joinResendTimer)
    for (const w of this.finalizedWaiters.splice(0)) w()
    while (this.stepping) await new Promise(resolve => setTimeout(resolve, 5))
    await this.store.close()
  }

  /**
   * Finalized batches in height order, each exactly once, starting after the
   * last height the host took. A batch counts as taken when the host asks for
   * the next one (so a crash while executing re-delivers that one batch). The
   * host's pace is the backpressure: consensus pauses when it runs
   * `maxUnconsumedBatches` ahead.
   */
  async * batches (): AsyncGenerator<Batch, void, undefined> {
    while (this.running) {
      if (this.delivered >= this.tip.height) {
        await new Promise<void>(resolve => { this.finalizedWaiters.push(resolve) })
        continue
      }
      const h = this.delivered + 1
      const batch = await this.batchAt(h)
      if (batch === undefined) {
        // Skipped by a CUP jump while we were reading: resume after it.
        this.delivered = Math.max(this.delivered, this.cupHeight)
        continue
      }
      yield batch
      // Stopped while the host held the batch: the store is closed, and the batch counts as not
      // taken, so a restart delivers it again (as after a crash mid-execution).
      if (!this.running) return
      if (h > this.delivered) {
        this.delivered = h
        this.finalizedCache.delete(h)
        await this.store.putDelivered(h)
        this.scheduleStep()
      }
    }
  }

  /** The host's state root after executing `height`: signs a certification share. */
  async submitStateRoot (height: number, stateRoot: Uint8Array): Promise<void> {
    if (!this.running) throw new ConsensusStoppedError()
    if (stateRoot.length !== 32) throw new InvalidSubmissionError('state root must be 32 bytes')
    if (height > this.tip.height) throw new InvalidSubmissionError(`height ${height} is not finalized (finalized ${this.tip.height})`)
    const prev = this.ownStateRoots.get(height)
    if (prev != null) {
      if (!equalBytes(prev, stateRoot)) throw new InvalidSubmissionError(`a different state root was already submitted for height ${height}`)
      return
    }
    this.ownStateRoots.set(height, stateRoot)
    boundMap(this.ownStateRoots, MAX_CERTIFICATION_HEIGHTS)
    const known = this.certifications.get(height)
    if (known != null) {
      // Certified by the subnet before this node executed the height (it was behind): the host takes it now.
      this.init.onCertification?.(known, { late: true })
      return
    }
    // t shares of others for this root already here: the others certified the height before us.
    const late = (this.certShares.get(height)?.get(toHex(stateRoot))?.size ?? 0) >= this.committee.threshold
    const signature = this.signer.signShare(stateRootMessage(stateRoot))
    const share: CertificationShare = { height: BigInt(height), stateRoot, signer: this.signer.index, signature }
    this.addCertShare(height, stateRoot, this.signer.index, signature)
    this.send('certification-share', CertificationShare.encode(share))
    this.tryCertify(height, late)
  }

  /** The combined certification of `height`, once this node has it. */
  getCertification (height: number): Certification | undefined {
    return this.certifications.get(height)
  }

  /**
   * The host's checkpoint at a checkpoint height (a multiple of the
   * checkpoint interval, finalized): signs a CUP share over the block, beacon
   * and state hash of that height.
   */
  async submitCheckpoint (height: number, stateHash: Uint8Array): Promise<void> {
    if (!this.running) throw new ConsensusStoppedError()
    if (height % this.params.checkpointInterval !== 0 || height <= this.cupHeight) throw new InvalidSubmissionError(`height ${height} is not a pending checkpoint height`)
    if (height > this.tip.height) throw new InvalidSubmissionError(`height ${height} is not finalized`)
    if (stateHash.length !== 32) throw new InvalidSubmissionError('state hash must be 32 bytes')
    const entry = await this.finalizedAt(height)
    if (entry === undefined) throw new InvalidSubmissionError(`finalized block at ${height} is no longer available`)
    const content: CatchUpContent = { block: entry.proposal, beacon: entry.beacon, stateHash }
    const contentHash = cupContentHash(content)
    const set = this.cupShareSet(height, toHex(contentHash))
    if (set === undefined) return
    set.content = content
    set.contentHash = contentHash
    const signature = this.signer.signShare(cupMessage(contentHash))
    set.shares.set(this.signer.index, signature)
    this.send('catch-up-share', CatchUpShare.encode({ height: BigInt(height), content: contentHash, signer: this.signer.index, signature }))
    await this.tryCup(height)
  }

  /** Answers a peer's catch-up request (the transport calls this). */
  async serveCatchUp (requestBytes: Uint8Array): Promise<Uint8Array> {
    if (requestBytes.length > MAX_SMALL_ARTIFACT_BYTES) return CatchUpResponse.encode({ finalized: [], beacons: [], notarized: [] })
    const req = CatchUpRequest.decode(requestBytes)
    const from = Number(req.finalizedHeight)
    const resp: CatchUpResponse = { finalized: [], beacons: [], notarized: [] }
    let start = from + 1
    if (this.cupHeight > from) {
      resp.cup = this.cup
      start = this.cupHeight + 1
    }
    // Everything counts against the response limit (the CUP, the notarized blocks above the tip), plus field framing.
    let bytes = resp.cup != null ? CatchUpPackage.encode(resp.cup).length + FIELD_FRAMING_BYTES : 0
    const blocks: BlockProposal[] = []
    const beacons: RandomBeacon[] = []
    let lastWithFinalization = -1
    let finalization: BlockMultiSig | undefined
    for (let h = start; h <= this.tip.height && blocks.length < MAX_CATCH_UP_BLOCKS; h++) {
      const e = await this.store.getFinalized(h)
      if (e === undefined) break
      bytes += e.proposal.length + e.beacon.length + 2 * FIELD_FRAMING_BYTES + (e.finalization?.length ?? 0)
      if (bytes > MAX_CATCH_UP_RESPONSE_BYTES && blocks.length > 0) break
      blocks.push(BlockProposal.decode(e.proposal))
      beacons.push(RandomBeacon.decode(e.beacon))
      if (e.finalization != null) { lastWithFinalization = blocks.length - 1; finalization = BlockMultiSig.decode(e.finalization) }
    }
    if (finalization !== undefined) {
      resp.finalized = blocks.slice(0, lastWithFinalization + 1)
      resp.beacons = beacons.slice(0, lastWithFinalization + 1)
      resp.finalization = finalization
    }
    const reachedTip = resp.finalized.length === 0 ? start > this.tip.height : Number(resp.finalized[resp.finalized.length - 1]!.block!.height) === this.tip.height
    if (reachedTip) {
      // Also what is notarized above the tip, so the requester can join the current round.
      for (let h = this.tip.height + 1; h <= this.notarized; h++) {
        const r = this.rounds.get(h)
        if (r?.beacon == null) break
        const entry = [...r.notarizations].find(([k]) => r.proposals.has(k))
        if (entry === undefined) break
        const p = r.proposals.get(entry[0])!
        bytes += p.bytes.length + BlockMultiSig.encode(entry[1]).length + RandomBeacon.encode(r.beacon).length + 4 * FIELD_FRAMING_BYTES
        if (bytes > MAX_CATCH_UP_RESPONSE_BYTES) break
        resp.notarized.push({ proposal: p.proposal, notarization: entry[1] })
        resp.beacons.push(r.beacon)
      }
      const next = this.rounds.get(this.notarized + 1)?.beacon
      if (next != null) resp.beacons.push(next)
    }
    return CatchUpResponse.encode(resp)
  }

  private send (kind: ArtifactKindName, bytes: Uint8Array): void {
    this.m.sentArtifacts.inc(1, { kind })
    this.transport.broadcast(kind, bytes)
  }

  // ---------------------------------------------------------------- receiving

  /** Accepts one artifact from a peer. Invalid input is counted and dropped, never thrown. */
  receive (kind: ArtifactKindName, bytes: Uint8Array): void {
    if (!this.running) return
    try {
      this.receiveUnsafe(kind, bytes)
    } catch (err) {
      this.m.invalidArtifacts.inc(1, { kind })
      this.log.trace('dropped %s: %e', kind, err)
    }
  }

  private receiveUnsafe (kind: ArtifactKindName, bytes: Uint8Array): void {
    const max = kind === 'block-proposal' ? MAX_PROPOSAL_BYTES : kind === 'catch-up-package' ? MAX_CUP_BYTES : MAX_SMALL_ARTIFACT_BYTES
    if (bytes.length > max) { this.m.droppedArtifacts.inc(1, { reason: 'too-large' }); return }
    switch (kind) {
      case 'block-proposal': {
        const proposal = BlockProposal.decode(bytes, { limits: { block: { payload: MAX_PAYLOAD_SECTIONS } } })
        if (proposal.block == null) throw new Error('proposal without block')
        const h = Number(proposal.block.height)
        const r = this.windowRound(h)
        if (r === undefined) return
        const hash = blockHash(proposal.block)
        const key = toHex(hash)
        if (r.proposals.has(key) || r.pending.has(key)) return
        if (r.pending.size + r.proposals.size >= MAX_PROPOSALS_PER_HEIGHT || this.pendingCount() >= MAX_PENDING_ARTIFACTS) {
          this.m.droppedArtifacts.inc(1, { reason: 'full' })
          return
        }
        r.pending.set(key, { proposal, bytes, hash, key, height: h })
        break
      }
      case 'random-beacon-share': {
        const s = RandomBeaconShare.decode(bytes)
        const r = this.windowRound(Number(s.height))
        if (r === undefined || r.beacon != null || !this.committee.isMember(s.signer) || r.beaconShares.has(s.signer)) return
        r.beaconShares.set(s.signer, s)
        break
      }
      case 'random-beacon': {
        const b = RandomBeacon.decode(bytes)
        const h = Number(b.height)
        const r = this.windowRound(h)
        if (r === undefined || r.beacon != null) return
        if (!this.committee.verifyThresholdSignature(beaconMessage(b.height, b.parent), b.signature)) throw new Error('bad beacon signature')
        this.setBeacon(r, b)
        break
      }
      case 'notarization-share':
      case 'finalization-share': {
        const s = BlockShare.decode(bytes)
        this.notePeerHeight(s.signer, Number(s.height))
        const r = this.windowRound(Number(s.height))
        if (r === undefined || !this.committee.isMember(s.signer)) return
        const key = toHex(s.block)
        const map = kind === 'notarization-share' ? r.notarShares : r.finalShares
        let shares = map.get(key)
        if (shares == null) {
          if (map.size >= MAX_PROPOSALS_PER_HEIGHT) { this.m.droppedArtifacts.inc(1, { reason: 'full' }); return }
          shares = new Map()
          map.set(key, shares)
        }
        if (!shares.has(s.signer)) shares.set(s.signer, s.signature)
        break
      }
      case 'notarization':
      case 'finalization': {
        const ms = BlockMultiSig.decode(bytes)
        const h = Number(ms.height)
        const isFinal = kind === 'finalization'
        if (h <= this.tip.height) return
        const msg = isFinal ? finalizationMessage(ms.height, ms.block) : notarizationMessage(ms.height, ms.block)
        const r = this.windowRound(h)
        if (r === undefined) {
          // Beyond the window: only a valid finalization tells us we are behind.
          if (isFinal && h > this.maxSeen && this.committee.verifyQuorumSignature(msg, ms)) this.maxSeen = h
          return
        }
        const key = toHex(ms.block)
        if (isFinal ? r.finalization != null : r.notarizations.has(key)) return
        if (!isFinal && r.notarizations.size >= MAX_PROPOSALS_PER_HEIGHT) return
        if (!this.committee.verifyQuorumSignature(msg, ms)) throw new Error(`bad ${kind} signature`)
        if (isFinal) r.finalization = ms
        else r.notarizations.set(key, ms)
        this.maxSeen = Math.max(this.maxSeen, h)
        break
      }
      case 'certification-share': {
        const s = CertificationShare.decode(bytes)
        if (!this.committee.isMember(s.signer) || s.stateRoot.length !== 32) return
        const h = Number(s.height)
        if (h > this.tip.height + MAX_HEIGHTS_AHEAD) return
        if (this.certifications.has(h)) { this.answerLateCertificationShare(h); return }
        this.addCertShare(h, s.stateRoot, s.signer, s.signature)
        this.tryCertify(h)
        return
      }
      case 'certification': {
        const c = Certification.decode(bytes)
        const h = Number(c.height)
        if (this.certifications.has(h) || h > this.tip.height + MAX_HEIGHTS_AHEAD) return
        if (!this.committee.verifyThresholdSignature(stateRootMessage(c.stateRoot), c.signature)) throw new Error('bad certification')
        this.recordCertification(c, true)
        return
      }
      case 'catch-up-share': {
        const s = CatchUpShare.decode(bytes)
        const h = Number(s.height)
        if (!this.committee.isMember(s.signer) || h <= this.cupHeight || h > this.tip.height + MAX_HEIGHTS_AHEAD || h % this.params.checkpointInterval !== 0) return
        const set = this.cupShareSet(h, toHex(s.content))
        if (set === undefined || set.shares.has(s.signer)) return
        set.shares.set(s.signer, s.signature)
        void this.tryCup(h)
        return
      }
      case 'catch-up-package': {
        // One CUP check at a time: each costs a pairing, and honest nodes rarely send CUPs.
        if (this.checkingCup) { this.m.droppedArtifacts.inc(1, { reason: 'busy' }); return }
        const cup = CatchUpPackage.decode(bytes)
        this.checkingCup = true
        void this.verifyAndAdoptCup(cup).finally(() => { this.checkingCup = false })
        return
      }
    }
    this.scheduleStep()
  }

  // ---------------------------------------------------------------- the round

  private scheduleStep (): void {
    if (this.stepScheduled || !this.running) return
    this.stepScheduled = true
    setImmediate(() => {
      this.stepScheduled = false
      void this.step()
    })
  }

  private async step (): Promise<void> {
    if (this.stepping) { this.stepAgain = true; return }
    this.stepping = true
    try {
      do {
        this.stepAgain = false
        await this.stepOnce()
      } while (this.stepAgain && this.running)
    } catch (err) {
      this.log.error('consensus step failed: %e', err)
    } finally {
      this.stepping = false
    }
  }

  private async stepOnce (): Promise<void> {
    if (!this.running) return
    // 1. Validate proposals whose dependencies (beacon, parent) are now here.
    for (let h = this.tip.height + 1; h <= this.notarized + 1; h++) {
      const r = this.rounds.get(h)
      if (r == null) continue
      for (const p of [...r.pending.values()]) await this.validatePending(r, p)
    }
    // 2. Notarized height: follow notarizations whose blocks we hold.
    this.advanceNotarized()
    // 3. Finalization shares and finalizations for every height the node is done notarizing.
    for (let h = this.tip.height + 1; h <= this.notarized; h++) {
      const r = this.rounds.get(h)
      if (r == null) continue
      // Every block of a past round that has a quorum of shares is notarized too, not only the
      // first one: another node may have seen that one first and built on it. Without this the
      // next round waits for a parent this node never marks notarized (until a resend or a
      // catch-up brings the aggregate: the 12-18 s stalls under load).
      this.aggregateShares(h, r, 'notarization')
      await this.maybeSignFinalization(h, r)
      this.aggregateShares(h, r, 'finalization')
    }
    for (const [h, r] of [...this.rounds].sort((a, b) => b[0] - a[0])) {
      if (r.finalization != null && h > this.tip.height && await this.finalize(h, r)) break
    }
    // 4. The current round.
    const h = this.notarized + 1
    if (h - this.delivered > this.maxUnconsumed) return // the host is behind: wait for it
    const r = this.round(h)
    if (r == null) return
    if (r.beacon == null) {
      this.maybeSignBeacon(h, r)
      this.combineBeacon(h, r)
    }
    if (r.beacon == null) return
    // The round starts (rank delays count) when it becomes current, not when its beacon appeared.
    r.start ??= this.now()
    for (const p of [...r.pending.values()]) await this.validatePending(r, p)
    await this.maybePropose(h, r)
    await this.maybeNotarize(h, r)
    this.aggregateShares(h, r, 'notarization')
    if (this.advanceNotarized()) { this.stepAgain = true; return }
    this.scheduleRankTimer(r)
    // One round of lookahead, after this round's own work: the next beacon is
    // made while this round waits for the network, off the next round's critical path.
    const next = this.round(h + 1)
    if (this.init.beaconLookahead !== false && next != null && next.beacon == null && h + 1 - this.delivered <= this.maxUnconsumed) {
      this.maybeSignBeacon(h + 1, next)
      this.combineBeacon(h + 1, next)
    }
  }

  private round (h: number): Round | undefined {
    if (h <= this.tip.height || h > this.tip.height + MAX_HEIGHTS_AHEAD) return undefined
    let r = this.rounds.get(h)
    if (r == null) { r = new Round(); this.rounds.set(h, r) }
    return r
  }

  /** The round of an incoming artifact, or undefined when it is outside the accepted window. */
  private windowRound (h: number): Round | undefined {
    if (!Number.isSafeInteger(h) || h <= this.tip.height) { this.m.droppedArtifacts.inc(1, { reason: 'stale' }); return undefined }
    if (h > this.tip.height + MAX_HEIGHTS_AHEAD) { this.m.droppedArtifacts.inc(1, { reason: 'ahead' }); return undefined }
    return this.round(h)
  }

  private pendingCount (): number {
    let n = 0
    for (const r of this.rounds.values()) n += r.pending.size
    return n
  }

  private beaconAt (h: number): { beacon: RandomBeacon, hash: Uint8Array, ranks?: number[] } | undefined {
    if (h === this.tip.height) return { beacon: this.tip.beacon, hash: this.tip.beaconHash }
    const r = this.rounds.get(h)
    if (r?.beacon == null) return undefined
    return { beacon: r.beacon, hash: r.beaconHash!, ranks: r.ranks! }
  }

  private blockAt (h: number, key: string): { proposal: BlockProposal, key: string } | undefined {
    if (h === this.tip.height) return key === this.tip.key ? { proposal: this.tip.proposal, key } : undefined
    return this.rounds.get(h)?.proposals.get(key)
  }

  private isNotarized (h: number, key: string): boolean {
    if (h === this.tip.height) return key === this.tip.key
    const r = this.rounds.get(h)
    return r != null && r.notarizations.has(key) && r.proposals.has(key)
  }

  private setBeacon (r: Round, b: RandomBeacon): void {
    r.beacon = b
    r.beaconHash = beaconHash(b)
    r.ranks = rankNodes(r.beaconHash, this.committee.n)
    r.beaconShares.clear()
  }

  private maybeSignBeacon (h: number, r: Round): void {
    if (r.beaconShares.has(this.signer.index)) return
    const prev = this.beaconAt(h - 1)
    if (prev === undefined) return
    const share: RandomBeaconShare = { height: BigInt(h), parent: prev.hash, signer: this.signer.index, signature: this.signer.signShare(beaconMessage(BigInt(h), prev.hash)) }
    r.beaconShares.set(this.signer.index, share)
    const bytes = RandomBeaconShare.encode(share)
    r.own.push({ kind: 'random-beacon-share', bytes })
    this.send('random-beacon-share', bytes)
  }

  private combineBeacon (h: number, r: Round): void {
    const prev = this.beaconAt(h - 1)
    if (prev === undefined) return
    const usable = [...r.beaconShares.values()].filter(s => equalBytes(s.parent, prev.hash))
    if (usable.length < this.committee.threshold) return
    const message = beaconMessage(BigInt(h), prev.hash)
    // Optimistic: combine first, check the result once; only on failure check shares one by one.
    const chosen = usable.slice(0, this.committee.threshold)
    const signature = this.committee.combineVerified(message, chosen)
    if (signature !== undefined) {
      this.setBeacon(r, { height: BigInt(h), parent: prev.hash, signature })
      return
    }
    for (const s of usable) {
      if (!this.committee.verifyThresholdShare(s.signer, message, s.signature)) {
        r.beaconShares.delete(s.signer)
        this.m.invalidArtifacts.inc(1, { kind: 'random-beacon-share' })
      }
    }
  }

  /** Checks a proposal once its beacon and parent are known; drops it if invalid. */
  private async validatePending (r: Round, p: Proposed): Promise<void> {
    const block = p.proposal.block!
    const h = p.height
    const beacon = this.beaconAt(h)
    if (beacon?.ranks === undefined) return
    const parentKey = toHex(block.parent)
    const parent = this.blockAt(h - 1, parentKey)
    if (parent === undefined) {
      if (h - 1 <= this.tip.height) this.rejectPending(r, p, 'parent is not the finalized tip')
      return
    }
    r.pending.delete(p.key)
    const now = this.now()
    const time = Number(block.time)
    const reason =
      !this.committee.isMember(p.proposal.signer) ? 'signer is not a member'
        : block.rank !== beacon.ranks[p.proposal.signer] ? 'rank does not match the beacon'
          : !equalBytes(block.beacon, beacon.hash) ? 'beacon hash mismatch'
            : time < Number(parent.proposal.block!.time) ? 'time before parent'
              : time > now + MAX_BLOCK_TIME_SKEW_MS ? 'time in the future'
                : !this.committee.verifyNodeSignature(p.proposal.signer, proposalMessage(p.hash), p.proposal.signature) ? 'bad signature'
                  : await this.invalidPayload(block.payload, this.payloadContext(h, time, block.parent))
    if (this.now() - now > 1000) this.log('validating the proposal at %d (rank %d) took %d ms', h, block.rank, this.now() - now)
    if (reason !== undefined) {
      this.rejectPending(r, p, reason)
      return
    }
    r.proposals.set(p.key, p)
  }

  private rejectPending (r: Round, p: Proposed, reason: string): void {
    r.pending.delete(p.key)
    this.m.invalidArtifacts.inc(1, { kind: 'block-proposal' })
    this.log('rejected proposal at %d from %d: %s', p.height, p.proposal.signer, reason)
  }

  private async invalidPayload (sections: PayloadSection[], ctx: Omit<PayloadContext, 'pastPayloads'> & { pastPayloads: (name: string) => Uint8Array[] }): Promise<string | undefined> {
    let total = 0
    const seen = new Set<string>()
    for (const s of sections) {
      total += s.data.length
      if (seen.has(s.name)) return `duplicate payload section ${s.name}`
      seen.add(s.name)
      const builder = this.builders.find(b => b.name === s.name)
      if (builder === undefined) return `unknown payload section ${s.name}`
      try {
        if (!await builder.validate(s.data, { ...ctx, pastPayloads: ctx.pastPayloads(s.name) })) return `payload section ${s.name} is invalid`
      } catch (err: any) {
        return `payload section ${s.name} is invalid: ${err?.message}`
      }
    }
    if (total > this.params.maxBlockPayloadBytes) return 'payload too large'
    return undefined
  }

  private payloadContext (height: number, time: number, parentHash: Uint8Array): Omit<PayloadContext, 'pastPayloads'> & { pastPayloads: (name: string) => Uint8Array[] } {
    return {
      height,
      time,
      parentHash,
      finalizedHeight: this.tip.height,
      pastPayloads: (name: string) => {
        const out: Uint8Array[] = []
        let key = toHex(parentHash)
        for (let h = height - 1; h > this.tip.height; h--) {
          const p = this.rounds.get(h)?.proposals.get(key)
          if (p == null) break
          const s = p.proposal.block!.payload.find(x => x.name === name)
          if (s != null) out.push(s.data)
          key = toHex(p.proposal.block!.parent)
        }
        return out
      }
    }
  }

  private advanceNotarized (): boolean {
    let moved = false
    for (;;) {
      const r = this.rounds.get(this.notarized + 1)
      if (r == null) break
      const k = [...r.notarizations.keys()].find(key => r.proposals.has(key))
      if (k === undefined) break
      this.notarized++
      moved = true
      r.notarizedAt ??= this.now()
      if (r.start != null) this.m.notarizationLatency.observe((r.notarizedAt - r.start) / 1000)
    }
    if (moved) this.m.notarizedHeight.set(this.notarized)
    return moved
  }

  private parentOf (h: number): { key: string, hash: Uint8Array, proposal: BlockProposal } | undefined {
    if (h - 1 === this.tip.height) return { key: this.tip.key, hash: this.tip.hash, proposal: this.tip.proposal }
    const prev = this.rounds.get(h - 1)
    if (prev == null) return undefined
    // Among notarized blocks at h-1 take the best ranked, then the smallest hash: any choice is safe.
    let best: Proposed | undefined
    for (const key of prev.notarizations.keys()) {
      const p = prev.proposals.get(key)
      if (p == null) continue
      if (best === undefined || p.proposal.block!.rank < best.proposal.block!.rank || (p.proposal.block!.rank === best.proposal.block!.rank && p.key < best.key)) best = p
    }
    return best
  }

  private async maybePropose (h: number, r: Round): Promise<void> {
    if (r.signed.proposed === true || r.notarizations.size > 0) return
    const myRank = r.ranks![this.signer.index]!
    if (this.now() - r.start! < myRank * this.params.unitDelayMs) return
    for (const p of r.proposals.values()) if (p.proposal.block!.rank < myRank) return
    // A better-ranked proposal still waiting for validation (a busy node) also holds us back, if its
    // claimed rank is its signer's: otherwise every rank would propose on a loaded machine.
    for (const p of r.pending.values()) {
      const rank = p.proposal.block!.rank
      if (rank < myRank && r.ranks![p.proposal.signer] === rank) return
    }
    const parent = this.parentOf(h)
    if (parent === undefined) return
    // Builders that wait for data on its way do so off the step loop: artifacts of
    // this and earlier heights are handled meanwhile, and a step proposes once they are done.
    // Only the rank-0 block maker waits: a later rank proposes because the better ones are late.
    if (myRank === 0 && r.preparation !== 'done' && this.builderPrepares) {
      if (r.preparation === 'none') {
        r.preparation = 'running'
        void this.prepareBuilders(h).finally(() => { r.preparation = 'done'; void this.step() })
      }
      return
    }
    r.signed.proposed = true
    const time = Math.max(this.now(), Number(parent.proposal.block!.time))
    const ctx = this.payloadContext(h, time, parent.hash)
    const payload: PayloadSection[] = []
    let left = this.params.maxBlockPayloadBytes
    for (const b of this.builders) {
      try {
        const data = await b.build(h, { ...ctx, pastPayloads: ctx.pastPayloads(b.name) }, left)
        if (data.length > left) { this.log.error('payload builder %s exceeded its byte limit', b.name); continue }
        if (data.length > 0) { payload.push({ name: b.name, data }); left -= data.length }
      } catch (err) {
        this.log.error('payload builder %s failed: %e', b.name, err)
      }
    }
    const variants = this.init.faults?.equivocate === true ? 2 : 1
    const made: Proposed[] = []
    for (let v = 0; v < variants; v++) {
      const block = { parent: parent.hash, height: BigInt(h), rank: myRank, time: BigInt(time + v), beacon: r.beaconHash!, payload }
      const hash = blockHash(block)
      const proposal: BlockProposal = { block, signer: this.signer.index, signature: this.signer.sign(proposalMessage(hash)) }
      made.push({ proposal, bytes: BlockProposal.encode(proposal), hash, key: toHex(hash), height: h })
    }
    // Durable before anyone sees it: a restarted node offers this same block again, never a second one.
    r.signed.proposals = made.map(p => p.bytes)
    await this.store.putSigned(h, r.signed)
    for (const p of made) {
      r.proposals.set(p.key, p)
      r.own.push({ kind: 'block-proposal', bytes: p.bytes })
      this.send('block-proposal', p.bytes)
    }
  }

  /** Lets each payload builder wait (bounded by itself) for data on its way; a failing one is logged, not fatal. */
  private async prepareBuilders (h: number): Promise<void> {
    await Promise.all(this.builders.map(async b => {
      if (b.prepare === undefined) return
      try {
        await b.prepare(h)
      } catch (err) {
        this.log.error('payload builder %s failed to prepare: %e', b.name, err)
      }
    }))
  }

  private async maybeNotarize (h: number, r: Round): Promise<void> {
    if ([...r.notarizations.keys()].some(k => r.proposals.has(k))) return
    const elapsed = this.now() - r.start!
    let minRank = Number.POSITIVE_INFINITY
    const due: Proposed[] = []
    for (const p of r.proposals.values()) {
      const rank = p.proposal.block!.rank
      if (elapsed < rank * this.params.unitDelayMs) continue
      if (!this.isNotarized(h - 1, toHex(p.proposal.block!.parent))) continue
      due.push(p)
      minRank = Math.min(minRank, rank)
    }
    // Notaries back only the best rank they have seen, never a worse one than they already backed.
    if (minRank > r.minSignedRank) return
    for (const p of due) {
      if (p.proposal.block!.rank !== minRank || r.notarShares.get(p.key)?.has(this.signer.index) === true) continue
      // Signed before a restart (the record says so) but the share was lost with the process: the same share again.
      if (!r.signed.notarized.includes(p.key)) {
        r.signed.notarized.push(p.key)
        await this.store.putSigned(h, r.signed)
      }
      r.minSignedRank = minRank
      const signature = this.signer.sign(notarizationMessage(BigInt(h), p.hash))
      this.addOwnShare(r, 'notarization', p.key, signature)
      const bytes = BlockShare.encode({ height: BigInt(h), block: p.hash, signer: this.signer.index, signature })
      r.own.push({ kind: 'notarization-share', bytes })
      this.send('notarization-share', bytes)
    }
  }

  /**
   * The finalization rule: a node sends a finalization share for block b at
   * height h only once its round h is over (some block at h is notarized) and
   * it sent no notarization share for any block at h other than b.
   */
  private async maybeSignFinalization (h: number, r: Round): Promise<void> {
    const notarized = [...r.notarizations.keys()].filter(k => r.proposals.has(k))
    if (notarized.length === 0) return
    let targets: string[]
    if (this.init.faults?.equivocate === true) {
      targets = notarized.filter(k => r.finalShares.get(k)?.has(this.signer.index) !== true)
    } else if (r.signed.finalized !== undefined) {
      // Signed before a restart: the share went with the process; the same one again once that block is notarized here.
      const key = r.signed.finalized
      if (r.finalShares.get(key)?.has(this.signer.index) === true || !notarized.includes(key)) return
      targets = [key]
    } else {
      const mine = r.signed.notarized
      if (mine.length > 1) return
      const target = mine.length === 1 ? mine[0]! : notarized.sort()[0]!
      if (!notarized.includes(target)) return
      targets = [target]
    }
    for (const key of targets) {
      if (r.signed.finalized !== key) {
        r.signed.finalized = key
        await this.store.putSigned(h, r.signed)
      }
      const p = r.proposals.get(key)!
      const signature = this.signer.sign(finalizationMessage(BigInt(h), p.hash))
      this.addOwnShare(r, 'finalization', key, signature)
      const bytes = BlockShare.encode({ height: BigInt(h), block: p.hash, signer: this.signer.index, signature })
      r.own.push({ kind: 'finalization-share', bytes })
      this.send('finalization-share', bytes)
    }
  }

  private addOwnShare (r: Round, which: 'notarization' | 'finalization', key: string, signature: Uint8Array): void {
    const map = which === 'notarization' ? r.notarShares : r.finalShares
    let shares = map.get(key)
    if (shares == null) { shares = new Map(); map.set(key, shares) }
    shares.set(this.signer.index, signature)
  }

  /** Turns a quorum of shares for a block into a notarization or finalization. */
  private aggregateShares (h: number, r: Round, which: 'notarization' | 'finalization'): void {
    const map = which === 'notarization' ? r.notarShares : r.finalShares
    for (const [key, shares] of map) {
      if (shares.size < this.committee.quorum) continue
      const p = r.proposals.get(key)
      if (p == null) continue
      if (which === 'notarization' ? r.notarizations.has(key) : r.finalization != null) continue
      const message = which === 'notarization' ? notarizationMessage(BigInt(h), p.hash) : finalizationMessage(BigInt(h), p.hash)
      const chosen = [...shares].slice(0, this.committee.quorum).map(([signer, signature]) => ({ signer, signature }))
      let multi: { signature: Uint8Array, signers: Uint8Array } | undefined
      try { multi = this.committee.aggregate(chosen) } catch {}
      if (multi !== undefined && this.committee.verifyQuorumSignature(message, multi)) {
        const ms: BlockMultiSig = { height: BigInt(h), block: p.hash, signers: multi.signers, signature: multi.signature }
        if (which === 'notarization') r.notarizations.set(key, ms)
        else r.finalization = ms
        continue
      }
      for (const [signer, signature] of shares) {
        if (!this.committee.verifyNodeSignature(signer, message, signature)) {
          shares.delete(signer)
          this.m.invalidArtifacts.inc(1, { kind: `${which}-share` })
        }
      }
    }
  }

  /** Finalizes the block of `r.finalization` and its ancestors, if the chain down to the tip is complete. */
  private async finalize (h: number, r: Round): Promise<boolean> {
    const fin = r.finalization!
    const key = toHex(fin.block)
    let cur = r.proposals.get(key)
    if (cur == null) return false
    const chain: Proposed[] = []
    for (let j = h; j > this.tip.height + 1; j--) {
      chain.push(cur)
      const prev: Proposed | undefined = this.rounds.get(j - 1)?.proposals.get(toHex(cur.proposal.block!.parent))
      if (prev == null) return false
      cur = prev
    }
    if (toHex(cur.proposal.block!.parent) !== this.tip.key) {
      this.log.error('finalized block at %d does not extend our finalized tip', h)
      return false
    }
    chain.push(cur)
    chain.reverse()
    const now = this.now()
    for (const p of chain) {
      const round = this.rounds.get(p.height)!
      const beacon = round.beacon!
      const beaconBytes = RandomBeacon.encode(beacon)
      await this.store.putFinalized({ height: p.height, proposal: p.bytes, beacon: beaconBytes, ...(p.height === h ? { finalization: BlockMultiSig.encode(fin) } : {}) })
      this.finalizedCache.set(p.height, { proposal: p.proposal, beacon, hash: p.hash })
      this.tip = makeTip(p.proposal, p.bytes, beacon, beaconBytes, p.hash, round.beaconHash)
      if (round.start != null) this.m.finalizationLatency.observe((now - round.start) / 1000)
      this.m.finalizedRound(now)
    }
    for (const k of [...this.rounds.keys()]) if (k <= this.tip.height) this.rounds.delete(k)
    this.notarized = Math.max(this.notarized, this.tip.height)
    this.m.finalizedHeight.set(this.tip.height)
    this.transport.finalized?.(this.tip.height, this.cupHeight)
    this.updatePoolGauges()
    for (const w of this.finalizedWaiters.splice(0)) w()
    return true
  }

  private updatePoolGauges (): void {
    let validated = 0
    let pending = 0
    let shares = 0
    for (const r of this.rounds.values()) {
      validated += r.proposals.size + r.notarizations.size + (r.finalization != null ? 1 : 0) + (r.beacon != null ? 1 : 0)
      pending += r.pending.size
      shares += r.beaconShares.size
      for (const s of r.notarShares.values()) shares += s.size
      for (const s of r.finalShares.values()) shares += s.size
    }
    this.m.poolArtifacts.set(validated, { section: 'validated' })
    this.m.poolArtifacts.set(pending, { section: 'pending' })
    this.m.poolArtifacts.set(shares, { section: 'shares' })
  }

  /** Wakes the step loop when the next rank delay of the current round expires. */
  private scheduleRankTimer (r: Round): void {
    const elapsed = this.now() - r.start!
    const next = Math.floor(elapsed / this.params.unitDelayMs) + 1
    if (next >= this.committee.n) return
    const at = r.start! + next * this.params.unitDelayMs
    if (this.timer != null && this.timerAt <= at && this.timerAt > this.now()) return
    if (this.timer != null) clearTimeout(this.timer)
    this.timerAt = at
    this.timer = setTimeout(() => { this.timer = undefined; this.scheduleStep() }, Math.max(0, at - this.now()))
  }

  // ------------------------------------------------------------ batches, certification, CUPs

  private async finalizedAt (h: number): Promise<{ proposal: BlockProposal, beacon: RandomBeacon, hash: Uint8Array } | undefined> {
    const cached = this.finalizedCache.get(h)
    if (cached != null) return cached
    if (h === this.tip.height) return { proposal: this.tip.proposal, beacon: this.tip.beacon, hash: this.tip.hash }
    const e = await this.store.getFinalized(h)
    if (e === undefined) return undefined
    const proposal = BlockProposal.decode(e.proposal)
    return { proposal, beacon: RandomBeacon.decode(e.beacon), hash: blockHashOf(proposal) }
  }

  private async batchAt (h: number): Promise<Batch | undefined> {
    const e = await this.finalizedAt(h)
    if (e === undefined) return undefined
    const block = e.proposal.block!
    return {
      height: h,
      time: Number(block.time),
      randomness: batchRandomness(e.beacon),
      payload: new Map(block.payload.map(s => [s.name, s.data])),
      blockHash: e.hash
    }
  }

  private addCertShare (h: number, root: Uint8Array, signer: number, signature: Uint8Array): void {
    let byRoot = this.certShares.get(h)
    if (byRoot == null) {
      byRoot = new Map()
      this.certShares.set(h, byRoot)
      boundMap(this.certShares, MAX_CERTIFICATION_HEIGHTS)
    }
    const key = toHex(root)
    let shares = byRoot.get(key)
    if (shares == null) {
      if (byRoot.size >= MAX_PROPOSALS_PER_HEIGHT) return
      shares = new Map()
      byRoot.set(key, shares)
    }
    if (!shares.has(signer)) shares.set(signer, signature)
  }

  private tryCertify (h: number, late = false): void {
    if (this.certifications.has(h)) return
    const root = this.ownStateRoots.get(h)
    // Combine only what this node computed itself: it never certifies a root it did not reach.
    if (root == null) return
    const shares = this.certShares.get(h)?.get(toHex(root))
    if (shares == null || shares.size < this.committee.threshold) return
    const message = stateRootMessage(root)
    const chosen = [...shares].slice(0, this.committee.threshold).map(([signer, signature]) => ({ signer, signature }))
    const signature = this.committee.combineVerified(message, chosen)
    if (signature !== undefined) {
      this.recordCertification({ height: BigInt(h), stateRoot: root, signature }, late)
      return
    }
    for (const [signer, sig] of shares) {
      if (!this.committee.verifyThresholdShare(signer, message, sig)) { shares.delete(signer); this.m.invalidArtifacts.inc(1, { kind: 'certification-share' }) }
    }
  }

  private recordCertification (c: Certification, late: boolean): void {
    const h = Number(c.height)
    this.certifications.set(h, c)
    boundMap(this.certifications, MAX_CERTIFICATION_HEIGHTS)
    this.certShares.delete(h)
    this.m.certifications.inc()
    // The host takes a certification for a height it executed; one that came first waits for its submitStateRoot.
    if (this.ownStateRoots.has(h)) this.init.onCertification?.(c, { late })
  }

  /**
   * A peer sent a certification share for a height this node has certified:
   * it is executing behind the subnet (restarted, or just state-synced) and
   * the shares of that height went by while it could not use them. It gets
   * the certification itself, at most once per liveness period per height
   * from each node, so it certifies each height as soon as it executes it.
   */
  private answerLateCertificationShare (h: number): void {
    const c = this.certifications.get(h)
    const last = this.certificationsAnswered.get(h)
    if (c == null || (last !== undefined && this.now() - last < this.livenessPeriodMs())) return
    this.certificationsAnswered.set(h, this.now())
    boundMap(this.certificationsAnswered, MAX_CERTIFICATION_HEIGHTS)
    this.send('certification', Certification.encode(c))
  }

  private cupShareSet (h: number, key: string): ShareSet | undefined {
    let byHash = this.cupShares.get(h)
    if (byHash == null) {
      byHash = new Map()
      this.cupShares.set(h, byHash)
      boundMap(this.cupShares, 4)
    }
    let set = byHash.get(key)
    if (set == null) {
      if (byHash.size >= MAX_PROPOSALS_PER_HEIGHT) return undefined
      set = { shares: new Map() }
      byHash.set(key, set)
    }
    return set
  }

  private async tryCup (h: number): Promise<void> {
    const byHash = this.cupShares.get(h)
    if (byHash == null || h <= this.cupHeight) return
    for (const set of byHash.values()) {
      if (set.content == null || set.shares.size < this.committee.threshold) continue
      const message = cupMessage(set.contentHash!)
      const chosen = [...set.shares].slice(0, this.committee.threshold).map(([signer, signature]) => ({ signer, signature }))
      const signature = this.committee.combineVerified(message, chosen)
      if (signature !== undefined) {
        await this.adoptCup({ content: set.content, signature })
        return
      }
      for (const [signer, sig] of set.shares) {
        if (!this.committee.verifyThresholdShare(signer, message, sig)) { set.shares.delete(signer); this.m.invalidArtifacts.inc(1, { kind: 'catch-up-share' }) }
      }
    }
  }

  private verifyCup (cup: CatchUpPackage): boolean {
    const c = cup.content
    const block = c?.block?.block
    if (c?.beacon == null || block == null || c.stateHash.length !== 32) return false
    if (!equalBytes(block.beacon, beaconHash(c.beacon)) || c.beacon.height !== block.height) return false
    return this.committee.verifyThresholdSignature(cupMessage(cupContentHash(c)), cup.signature)
  }

  private async verifyAndAdoptCup (cup: CatchUpPackage): Promise<void> {
    const h = Number(cup.content?.block?.block?.height ?? 0n)
    if (h <= this.cupHeight) return
    if (!this.verifyCup(cup)) { this.m.invalidArtifacts.inc(1, { kind: 'catch-up-package' }); return }
    await this.adoptCup(cup)
    this.scheduleStep()
  }

  private async adoptCup (cup: CatchUpPackage): Promise<void> {
    const h = Number(cup.content!.block!.block!.height)
    if (h <= this.cupHeight) return
    this.cup = cup
    this.cupHeight = h
    this.cupShares.delete(h)
    await this.store.putCup(h, CatchUpPackage.encode(cup))
    this.m.cups.inc()
    const jumped = h > this.tip.height
    if (jumped) {
      this.setTipFromCup(cup)
      for (const k of [...this.rounds.keys()]) if (k <= h) this.rounds.delete(k)
      this.notarized = Math.max(this.notarized, h)
      this.delivered = Math.max(this.delivered, h)
      for (const k of [...this.finalizedCache.keys()]) if (k <= h) this.finalizedCache.delete(k)
      await this.store.putDelivered(this.delivered)
      this.m.finalizedHeight.set(h)
      for (const w of this.finalizedWaiters.splice(0)) w()
      this.log('jumped to CUP at height %d', h)
    }
    this.init.onCatchUpPackage?.(cup, { jumped })
  }

  private setTipFromCup (cup: CatchUpPackage): void {
    const proposal = cup.content!.block!
    const beacon = cup.content!.beacon!
    this.tip = makeTip(proposal, BlockProposal.encode(proposal), beacon, RandomBeacon.encode(beacon))
  }

  // ---------------------------------------------------------------- liveness helpers

  private livenessPeriodMs (): number {
    return Math.max(MIN_RESEND_MS, RESEND_AFTER_DELAYS * this.params.unitDelayMs)
  }

  /** Periodic: re-send own artifacts when the subnet makes no progress, and catch up when behind. */
  private tick (): void {
    if (!this.running) return
    this.ticks++
    const stuck = this.notarized === this.lastTick.notarized && this.tip.height === this.lastTick.finalized
    this.lastTick = { notarized: this.notarized, finalized: this.tip.height, stuck: stuck ? this.lastTick.stuck + 1 : 0 }
    if (stuck && this.log.enabled) this.log('no progress for %d periods: %s', this.lastTick.stuck, this.describeRounds())
    if (this.lastTick.stuck >= 2) {
      this.m.resends.inc(1, { reason: 'stall' })
      this.resend()
    }
    if (this.isBehind() || this.lastTick.stuck >= 3) void this.catchUp()
  }

  /** Records a member's share height; starts a catch-up at once when f + 1 members are well ahead. */
  private notePeerHeight (signer: number, h: number): void {
    if (!this.committee.isMember(signer) || signer === this.signer.index || !Number.isSafeInteger(h)) return
    if (h <= (this.peerHeights.get(signer) ?? 0)) return
    this.peerHeights.set(signer, h)
    if (!this.catchingUp && this.now() >= this.catchUpRetryAt && this.isBehind()) void this.catchUp()
  }

  /** The height at least f + 1 members sent shares for (so at least one honest node is there). */
  private peersHeight (): number {
    const hs = [...this.peerHeights.values()].sort((a, b) => b - a)
    return hs[this.committee.f] ?? 0
  }

  /** Whether this node knows it is behind: a valid finalization above its round, or f + 1 members well ahead. */
  private isBehind (): boolean {
    return this.maxSeen > this.notarized + 1 || this.peersHeight() > this.notarized + CATCH_UP_LAG_HEIGHTS
  }

  /** What each open round holds (a line for stall diagnosis). */
  private describeRounds (): string {
    const parts = [`tip ${this.tip.height} notarized ${this.notarized} delivered ${this.delivered} stepping ${this.stepping}`]
    for (let h = this.tip.height + 1; h <= this.notarized + 1; h++) {
      const r = this.rounds.get(h)
      if (r == null) { parts.push(`${h}: -`); continue }
      const blocks = [...new Set([...r.proposals.keys(), ...r.pending.keys(), ...r.notarShares.keys(), ...r.finalShares.keys()])].map(k => {
        const p = r.proposals.get(k) ?? r.pending.get(k)
        return `${k.slice(0, 6)}(rank ${p?.proposal.block?.rank ?? '?'}${r.proposals.has(k) ? '' : r.pending.has(k) ? ' pending' : ' missing'} n${r.notarShares.get(k)?.size ?? 0}${r.notarizations.has(k) ? '*' : ''} f${r.finalShares.get(k)?.size ?? 0})`
      })
      parts.push(`${h}: beacon ${r.beacon != null} signed n[${r.signed.notarized.map(k => k.slice(0, 6)).join(',')}] f[${r.signed.finalized?.slice(0, 6) ?? ''}] final ${r.finalization != null} ${blocks.join(' ')}`)
    }
    return parts.join('; ')
  }

  /**
   * A member became reachable: what this node broadcast for its open rounds
   * before did not reach it (at start-up, the first shares go out before any
   * peer has subscribed), so they go again shortly, coalesced and rate-limited.
   */
  private scheduleJoinResend (): void {
    if (!this.running || this.joinResendTimer != null) return
    const wait = Math.max(PEER_JOINED_RESEND_DELAY_MS, this.lastJoinResendAt + PEER_JOINED_RESEND_MIN_INTERVAL_MS - this.now())
    this.joinResendTimer = setTimeout(() => {
      this.joinResendTimer = undefined
      if (!this.running) return
      this.lastJoinResendAt = this.now()
      this.m.resends.inc(1, { reason: 'peer-joined' })
      this.log('a member joined: re-sending the open rounds (%s)', this.describeRounds())
      this.resend()
    }, wait)
  }

  private resend (): void {
    for (let h = this.tip.height + 1; h <= this.notarized + 1; h++) {
      const r = this.rounds.get(h)
      if (r == null) continue
      for (const a of r.own) if (a.kind !== 'block-proposal') this.send(a.kind, a.bytes)
      for (const ms of r.notarizations.values()) this.send('notarization', BlockMultiSig.encode(ms))
      if (r.finalization != null) this.send('finalization', BlockMultiSig.encode(r.finalization))
      if (r.beacon != null) this.send('random-beacon', RandomBeacon.encode(r.beacon))
      this.resendProposals(r)
    }
  }

  /**
   * The proposals of an open round stay available: the ones this node made,
   * backed or holds notarized are re-sent as well, on a backoff since they are
   * large (after 1, 2, 4, then every MAX_PROPOSAL_RESEND_PERIODS periods of a
   * stall). Later ranks cannot stand in for a proposal a peer never got:
   * notaries never back a worse rank than one they backed. So without this, a
   * subnet split without a quorum never resumes: each half backed a block the
   * other half never received, and no block reaches 2f + 1 shares after the heal.
   */
  private resendProposals (r: Round): void {
    if (this.ticks < r.nextProposalResendTick) return
    const keys = new Set<string>([...r.signed.notarized, ...r.notarizations.keys()])
    for (const p of r.proposals.values()) if (p.proposal.signer === this.signer.index) keys.add(p.key)
    let sent = 0
    for (const key of keys) {
      const p = r.proposals.get(key)
      if (p == null) continue
      this.send('block-proposal', p.bytes)
      sent++
    }
    if (sent === 0) return
    r.proposalResends++
    r.nextProposalResendTick = this.ticks + Math.min(2 ** (r.proposalResends - 1), MAX_PROPOSAL_RESEND_PERIODS)
  }

  /**
   * Asks a peer for what this node misses: a CUP, finalized blocks, and the
   * notarized blocks above them; and asks again at once while each answer
   * brings blocks and the node is still behind (an answer holds at most
   * MAX_CATCH_UP_BLOCKS blocks).
   */
  async catchUp (): Promise<void> {
    if (this.catchingUp || !this.running) return
    this.catchingUp = true
    try {
      for (let i = 0; i < MAX_CATCH_UP_ROUNDS && this.running; i++) {
        const progressed = await this.catchUpOnce()
        if (!progressed) { this.catchUpRetryAt = this.now() + CATCH_UP_RETRY_MS; break }
        if (!this.isBehind()) break
      }
    } finally {
      this.catchingUp = false
    }
  }

  /** One catch-up exchange; true when it moved the finalized or notarized height (or brought a beacon). */
  private async catchUpOnce (): Promise<boolean> {
    try {
      const raw = await this.transport.requestCatchUp(CatchUpRequest.encode({ finalizedHeight: BigInt(this.tip.height) }))
      if (raw === undefined || !this.running) { this.m.catchUps.inc(1, { result: 'no-answer' }); return false }
      if (raw.length > MAX_CATCH_UP_RESPONSE_BYTES + MAX_CUP_BYTES) throw new Error('catch-up response too large')
      const resp = CatchUpResponse.decode(raw)
      return await this.applyCatchUp(resp)
    } catch (err) {
      this.m.catchUps.inc(1, { result: 'invalid' })
      this.log('catch-up failed: %e', err)
      return false
    }
  }

  private async applyCatchUp (resp: CatchUpResponse): Promise<boolean> {
    const tipBefore = this.tip.height
    if (resp.cup != null) {
      const h = Number(resp.cup.content?.block?.block?.height ?? 0n)
      if (h > this.cupHeight) {
        if (!this.verifyCup(resp.cup)) throw new Error('invalid CUP')
        await this.adoptCup(resp.cup)
      }
    }
    const beacons = new Map<number, RandomBeacon>()
    for (const b of resp.beacons) beacons.set(Number(b.height), b)
    let progressed = false
    // Finalized segment: one finalization authenticates the whole chain through parent hashes.
    if (resp.finalization != null && resp.finalized.length > 0) {
      const last = resp.finalized[resp.finalized.length - 1]!
      const lastHash = blockHashOf(last)
      const h = Number(last.block!.height)
      if (h > this.tip.height && equalBytes(lastHash, resp.finalization.block) && resp.finalization.height === last.block!.height &&
        this.committee.verifyQuorumSignature(finalizationMessage(last.block!.height, lastHash), resp.finalization)) {
        const segment = resp.finalized.filter(p => Number(p.block!.height) > this.tip.height)
        if (this.installChain(segment, beacons)) {
          const r = this.rounds.get(h)!
          r.finalization = resp.finalization
          progressed = await this.finalize(h, r)
        }
      }
    }
    // Notarized blocks above the finalized tip, each authenticated by its notarization.
    for (const nb of resp.notarized) {
      const p = nb.proposal
      const ms = nb.notarization
      if (p?.block == null || ms == null) break
      const h = Number(p.block.height)
      const r = this.round(h)
      if (r == null) continue
      const hash = blockHashOf(p)
      if (!equalBytes(hash, ms.block) || ms.height !== p.block.height) break
      if (this.blockAt(h - 1, toHex(p.block.parent)) === undefined) break
      const b = beacons.get(h)
      if (b == null || !equalBytes(beaconHash(b), p.block.beacon)) break
      if (!r.notarizations.has(toHex(hash)) && !this.committee.verifyQuorumSignature(notarizationMessage(p.block.height, hash), ms)) break
      if (r.beacon == null) this.setBeacon(r, b)
      r.proposals.set(toHex(hash), { proposal: p, bytes: BlockProposal.encode(p), hash, key: toHex(hash), height: h })
      r.notarizations.set(toHex(hash), ms)
      progressed = true
    }
    this.advanceNotarized()
    // The beacon of the current round, if the peer had it.
    const next = beacons.get(this.notarized + 1)
    const r = this.round(this.notarized + 1)
    if (next != null && r != null && r.beacon == null && this.committee.verifyThresholdSignature(beaconMessage(next.height, next.parent), next.signature)) {
      this.setBeacon(r, next)
      progressed = true
    }
    progressed ||= this.tip.height > tipBefore
    this.m.catchUps.inc(1, { result: progressed ? 'progress' : 'nothing-new' })
    if (progressed) this.scheduleStep()
    return progressed
  }

  /** Places a finalized segment (ascending, starting right above the tip) into the rounds; checks parents and beacons by hash. */
  private installChain (segment: BlockProposal[], beacons: Map<number, RandomBeacon>): boolean {
    let parentKey = this.tip.key
    let parentBeaconHash = this.tip.beaconHash
    let expected = this.tip.height + 1
    for (const p of segment) {
      const block = p.block!
      const h = Number(block.height)
      const b = beacons.get(h)
      if (h !== expected || toHex(block.parent) !== parentKey || b == null || !equalBytes(beaconHash(b), block.beacon) || !equalBytes(b.parent, parentBeaconHash)) return false
      if (h > this.tip.height + MAX_HEIGHTS_AHEAD) return false
      const r = this.round(h)!
      if (r.beacon == null) this.setBeacon(r, b)
      const hash = blockHashOf(p)
      r.proposals.set(toHex(hash), { proposal: p, bytes: BlockProposal.encode(p), hash, key: toHex(hash), height: h })
      parentKey = toHex(hash)
      parentBeaconHash = r.beaconHash!
      expected++
    }
    return segment.length > 0
  }
}

/** Tag and length prefix of one protobuf field, at most (a length below 2^35). */
const FIELD_FRAMING_BYTES = 6

function blockHashOf (p: BlockProposal): Uint8Array {
  return blockHash(p.block!)
}

function makeTip (proposal: BlockProposal, bytes: Uint8Array, beacon: RandomBeacon, beaconBytes: Uint8Array, hash?: Uint8Array, bHash?: Uint8Array): Tip {
  const h = hash ?? blockHashOf(proposal)
  return { height: Number(proposal.block!.height), hash: h, proposal, bytes, key: toHex(h), beacon, beaconBytes, beaconHash: bHash ?? beaconHash(beacon) }
}

/** Drops the smallest keys until the map fits. */
function boundMap<V> (map: Map<number, V>, limit: number): void {
  if (map.size <= limit) return
  const keys = [...map.keys()].sort((a, b) => a - b)
  for (const k of keys.slice(0, map.size - limit)) map.delete(k)
}

export { genesisBeacon, genesisProposal }
