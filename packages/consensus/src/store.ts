import { open, type RootDatabase } from 'lmdb'
import { InvalidEncodingError } from '@icnet/types'

/** What this node signed at one height: kept durably so a restart never signs a conflicting share. */
export interface SignedRecord {
  /** Hex hashes of the blocks this node sent notarization shares for. */
  notarized: string[]
  /** Hex hash of the block this node sent a finalization share for. */
  finalized?: string
  /** Whether this node proposed a block at this height. */
  proposed?: boolean
  /**
   * The encoded proposals this node made at this height, stored with the
   * record before they are sent: after a restart the node offers the same
   * block again (and re-makes its shares for it) instead of either staying
   * silent or proposing a second, conflicting block. Written once per height.
   */
  proposals?: Uint8Array[]
}

/** One finalized height as stored: the block proposal, the beacon of that height, and the finalization if it was finalized directly. */
export interface StoredFinalized {
  height: number
  proposal: Uint8Array
  beacon: Uint8Array
  finalization?: Uint8Array
}

export interface StoredState {
  /** Encoded latest CatchUpPackage, if any beyond genesis. */
  cup?: Uint8Array
  /** The highest finalized height above the CUP, if any. */
  top?: StoredFinalized
  /** Signing records for heights above the top (the rounds in flight when the node stopped). */
  signed: Map<number, SignedRecord>
  /** Highest height handed to (and taken by) the host. */
  delivered: number
}

/**
 * Durable consensus state. Heights at or below the latest CUP are purged;
 * everything above it survives a restart. Writes resolve once committed.
 */
export interface ConsensusStore {
  load(): Promise<StoredState>
  putFinalized(entry: StoredFinalized): Promise<void>
  getFinalized(height: number): Promise<StoredFinalized | undefined>
  putSigned(height: number, record: SignedRecord): Promise<void>
  /** Records a new CUP at `height` and drops every height below it. */
  putCup(height: number, cup: Uint8Array): Promise<void>
  putDelivered(height: number): Promise<void>
  close(): Promise<void>
}

function heightKey (prefix: string, height: number): string {
  return `${prefix}:${String(height).padStart(16, '0')}`
}

function heightOf (key: string): number {
  return Number(key.slice(key.indexOf(':') + 1))
}

const enc = new TextEncoder()
const dec = new TextDecoder()

function encodeSigned (r: SignedRecord): Uint8Array {
  const { proposals: _, ...rest } = r
  return enc.encode(JSON.stringify(rest))
}
function decodeSigned (b: Uint8Array): SignedRecord {
  try {
    const v = JSON.parse(dec.decode(b))
    if (!Array.isArray(v.notarized)) throw new Error('notarized')
    return v
  } catch (err) {
    throw new InvalidEncodingError('consensus store: corrupt signing record', { cause: err })
  }
}

/** Frames a list of proposals as: (u32 length ‖ bytes)*. */
function encodeProposals (list: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(list.reduce((n, p) => n + 4 + p.length, 0))
  const dv = new DataView(out.buffer)
  let at = 0
  for (const p of list) { dv.setUint32(at, p.length); out.set(p, at + 4); at += 4 + p.length }
  return out
}

function decodeProposals (b: Uint8Array): Uint8Array[] {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength)
  const out: Uint8Array[] = []
  for (let at = 0; at < b.length;) {
    if (at + 4 > b.length) throw new InvalidEncodingError('consensus store: truncated proposal length')
    const len = dv.getUint32(at)
    if (at + 4 + len > b.length) throw new InvalidEncodingError('consensus store: truncated own proposal')
    out.push(b.slice(at + 4, at + 4 + len))
    at += 4 + len
  }
  return out
}

/** Frames a finalized entry as: u32 proposal length ‖ proposal ‖ u32 beacon length ‖ beacon ‖ finalization. */
function encodeFinalized (e: StoredFinalized): Uint8Array {
  const fin = e.finalization ?? new Uint8Array(0)
  const out = new Uint8Array(8 + e.proposal.length + e.beacon.length + fin.length)
  const dv = new DataView(out.buffer)
  dv.setUint32(0, e.proposal.length)
  out.set(e.proposal, 4)
  dv.setUint32(4 + e.proposal.length, e.beacon.length)
  out.set(e.beacon, 8 + e.proposal.length)
  out.set(fin, 8 + e.proposal.length + e.beacon.length)
  return out
}

function decodeFinalized (height: number, b: Uint8Array): StoredFinalized {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength)
  if (b.length < 8) throw new InvalidEncodingError('consensus store: truncated entry')
  const pl = dv.getUint32(0)
  if (4 + pl + 4 > b.length) throw new InvalidEncodingError('consensus store: truncated proposal')
  const bl = dv.getUint32(4 + pl)
  if (8 + pl + bl > b.length) throw new InvalidEncodingError('consensus store: truncated beacon')
  const out: StoredFinalized = { height, proposal: b.slice(4, 4 + pl), beacon: b.slice(8 + pl, 8 + pl + bl) }
  if (8 + pl + bl < b.length) out.finalization = b.slice(8 + pl + bl)
  return out
}

/**
 * The consensus pool's durable part in LMDB (one environment in the node's
 * data directory). Keys are `<kind>:<16-digit height>` so that heights sort
 * and purging below a CUP is one range scan.
 */
export class LmdbConsensusStore implements ConsensusStore {
  private readonly db: RootDatabase<Uint8Array, string>

  /** `noSync` skips fsync (benchmarks, tests on tmpfs); a crash may then lose the last commits. */
  constructor (path: string, opts: { noSync?: boolean } = {}) {
    this.db = open<Uint8Array, string>({ path, encoding: 'binary', noSync: opts.noSync ?? false })
  }

  async load (): Promise<StoredState> {
    const cup = this.db.get('cup')
    const state: StoredState = { signed: new Map(), delivered: 0 }
    if (cup != null) state.cup = new Uint8Array(cup)
    const d = this.db.get('delivered')
    if (d != null) state.delivered = Number(dec.decode(d))
    for (const { key, value } of this.db.getRange({ start: 'f;', end: 'f:', reverse: true, limit: 1 })) {
      state.top = decodeFinalized(heightOf(key), new Uint8Array(value))
    }
    const floor = state.top?.height ?? 0
    for (const { key, value } of this.db.getRange({ start: 's:', end: 's;' })) {
      const h = heightOf(key)
      if (h <= floor) continue
      const record = decodeSigned(new Uint8Array(value))
      const proposals = this.db.get(heightKey('p', h))
      if (proposals != null) record.proposals = decodeProposals(new Uint8Array(proposals))
      state.signed.set(h, record)
    }
    return state
  }

  async putFinalized (entry: StoredFinalized): Promise<void> {
    await this.db.put(heightKey('f', entry.height), encodeFinalized(entry))
  }

  async getFinalized (height: number): Promise<StoredFinalized | undefined> {
    const v = this.db.get(heightKey('f', height))
    return v == null ? undefined : decodeFinalized(height, new Uint8Array(v))
  }

  async putSigned (height: number, record: SignedRecord): Promise<void> {
    const proposalsKey = heightKey('p', height)
    // Proposals are large and made once per height: written with the first record that has them, in the same commit.
    const proposals = record.proposals !== undefined && record.proposals.length > 0 && !this.db.doesExist(proposalsKey) ? encodeProposals(record.proposals) : undefined
    if (proposals === undefined) {
      await this.db.put(heightKey('s', height), encodeSigned(record))
      return
    }
    await this.db.transaction(() => {
      this.db.put(proposalsKey, proposals)
      this.db.put(heightKey('s', height), encodeSigned(record))
    })
  }

  async putCup (height: number, cup: Uint8Array): Promise<void> {
    await this.db.transaction(() => {
      this.db.put('cup', cup)
      for (const prefix of ['f', 's', 'p']) {
        for (const key of this.db.getKeys({ start: `${prefix}:`, end: heightKey(prefix, height) })) this.db.remove(key)
      }
    })
  }

  async putDelivered (height: number): Promise<void> {
    await this.db.put('delivered', enc.encode(String(height)))
  }

  async close (): Promise<void> {
    await this.db.close()
  }
}

/** The same contract in memory, for tests and nodes that need no durability. */
export class MemoryConsensusStore implements ConsensusStore {
  private cup?: Uint8Array
  private readonly finalized = new Map<number, StoredFinalized>()
  private readonly signed = new Map<number, SignedRecord>()
  private delivered = 0

  async load (): Promise<StoredState> {
    let top: StoredFinalized | undefined
    for (const e of this.finalized.values()) if (top === undefined || e.height > top.height) top = e
    const floor = top?.height ?? 0
    const state: StoredState = { signed: new Map([...this.signed].filter(([h]) => h > floor)), delivered: this.delivered }
    if (this.cup !== undefined) state.cup = this.cup
    if (top !== undefined) state.top = top
    return state
  }

  async putFinalized (entry: StoredFinalized): Promise<void> { this.finalized.set(entry.height, entry) }
  async getFinalized (height: number): Promise<StoredFinalized | undefined> { return this.finalized.get(height) }
  async putSigned (height: number, record: SignedRecord): Promise<void> {
    const copy: SignedRecord = { ...record, notarized: [...record.notarized] }
    if (record.proposals !== undefined) copy.proposals = [...record.proposals]
    this.signed.set(height, copy)
  }
  async putCup (height: number, cup: Uint8Array): Promise<void> {
    this.cup = cup
    for (const h of [...this.finalized.keys()]) if (h < height) this.finalized.delete(h)
    for (const h of [...this.signed.keys()]) if (h < height) this.signed.delete(h)
  }

  async putDelivered (height: number): Promise<void> { this.delivered = height }
  async close (): Promise<void> {}
}
