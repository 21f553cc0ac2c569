import { noopMetrics, type Metrics } from '@icnet/types'
import { DEFAULT_POOL_MAX_ARTIFACTS, DEFAULT_POOL_MAX_BYTES } from './constants.js'

/**
 * Artifacts arrive `unvalidated` and move to `validated` once their signatures and
 * kind-specific checks hold; only validated artifacts are served to peers or handed on.
 */
export type PoolSection = 'unvalidated' | 'validated'

export interface PoolEntry<A> {
  /** Hex of the artifact id (SHA-256 of `bytes`). */
  id: string
  artifact: A
  /** Canonical bytes, kept to serve fetches and re-gossip. */
  bytes: Uint8Array
  height: number
  section: PoolSection
  /** The peer it came from; undefined for our own artifacts. */
  from?: string
}

export type AddResult = 'added' | 'duplicate' | 'below-purge' | 'full'

/** A store of one kind's artifacts, split into unvalidated and validated sections. */
export interface ArtifactPool<A> {
  readonly kind: string
  /** Artifacts below this height were purged and are refused. */
  readonly purgeHeight: number
  /** Number of artifacts in both sections. */
  readonly size: number
  /** Sum of artifact byte lengths in both sections. */
  readonly byteSize: number
  add(entry: Omit<PoolEntry<A>, 'section'>, section: PoolSection): AddResult
  get(id: string): PoolEntry<A> | undefined
  has(id: string): boolean
  /** Moves an unvalidated artifact to the validated section; false when absent. */
  markValidated(id: string): boolean
  remove(id: string): boolean
  validated(): IterableIterator<PoolEntry<A>>
  unvalidated(): IterableIterator<PoolEntry<A>>
  /** Removes every artifact below `height` and refuses them from now on; returns how many went. */
  purgeBelow(height: number): number
}

export interface InMemoryArtifactPoolOptions {
  maxArtifacts?: number
  maxBytes?: number
  metrics?: Metrics
}

/**
 * A bounded in-memory pool. When a new artifact does not fit, the oldest unvalidated
 * artifacts make room (they are cheap to get again and unproven); validated ones only
 * leave by purge, so a flood of junk can never push out what consensus relies on.
 */
export class InMemoryArtifactPool<A> implements ArtifactPool<A> {
  readonly kind: string
  readonly maxArtifacts: number
  readonly maxBytes: number
  private readonly sections = { unvalidated: new Map<string, PoolEntry<A>>(), validated: new Map<string, PoolEntry<A>>() }
  private bytes = 0
  private floor = 0
  private readonly metrics: {
    artifacts: ReturnType<Metrics['gauge']>
    bytes: ReturnType<Metrics['gauge']>
    evicted: ReturnType<Metrics['counter']>
    refused: ReturnType<Metrics['counter']>
  }

  constructor (kind: string, opts: InMemoryArtifactPoolOptions = {}) {
    this.kind = kind
    this.maxArtifacts = opts.maxArtifacts ?? DEFAULT_POOL_MAX_ARTIFACTS
    this.maxBytes = opts.maxBytes ?? DEFAULT_POOL_MAX_BYTES
    if (!Number.isSafeInteger(this.maxArtifacts) || this.maxArtifacts <= 0) throw new RangeError('maxArtifacts must be a positive integer')
    if (!Number.isSafeInteger(this.maxBytes) || this.maxBytes <= 0) throw new RangeError('maxBytes must be a positive integer')
    const m = opts.metrics ?? noopMetrics
    this.metrics = {
      artifacts: m.gauge({ name: 'icnet_artifact_pool_artifacts', help: 'Artifacts held per pool section', labelNames: ['kind', 'section'] }),
      bytes: m.gauge({ name: 'icnet_artifact_pool_bytes', help: 'Bytes held per pool', labelNames: ['kind'] }),
      evicted: m.counter({ name: 'icnet_artifact_pool_evicted_total', help: 'Unvalidated artifacts evicted to make room', labelNames: ['kind'] }),
      refused: m.counter({ name: 'icnet_artifact_pool_refused_total', help: 'Artifacts refused because the pool was full', labelNames: ['kind'] })
    }
  }

  get purgeHeight (): number { return this.floor }
  get size (): number { return this.sections.unvalidated.size + this.sections.validated.size }
  get byteSize (): number { return this.bytes }

  add (entry: Omit<PoolEntry<A>, 'section'>, section: PoolSection): AddResult {
    if (this.has(entry.id)) return 'duplicate'
    if (entry.height < this.floor) return 'below-purge'
    const len = entry.bytes.byteLength
    if (len > this.maxBytes) { this.metrics.refused.inc(1, { kind: this.kind }); return 'full' }
    // Evict oldest unvalidated first; never validated.
    for (const old of this.sections.unvalidated.values()) {
      if (this.size < this.maxArtifacts && this.bytes + len <= this.maxBytes) break
      this.delete(old)
      this.metrics.evicted.inc(1, { kind: this.kind })
    }
    if (this.size >= this.maxArtifacts || this.bytes + len > this.maxBytes) {
      this.metrics.refused.inc(1, { kind: this.kind })
      return 'full'
    }
    const stored: PoolEntry<A> = { ...entry, section }
    this.sections[section].set(entry.id, stored)
    this.bytes += len
    this.report()
    return 'added'
  }

  get (id: string): PoolEntry<A> | undefined {
    return this.sections.validated.get(id) ?? this.sections.unvalidated.get(id)
  }

  has (id: string): boolean {
    return this.sections.validated.has(id) || this.sections.unvalidated.has(id)
  }

  markValidated (id: string): boolean {
    const entry = this.sections.unvalidated.get(id)
    if (entry == null) return false
    this.sections.unvalidated.delete(id)
    entry.section = 'validated'
    this.sections.validated.set(id, entry)
    this.report()
    return true
  }

  remove (id: string): boolean {
    const entry = this.get(id)
    if (entry == null) return false
    this.delete(entry)
    this.report()
    return true
  }

  validated (): IterableIterator<PoolEntry<A>> { return this.sections.validated.values() }
  unvalidated (): IterableIterator<PoolEntry<A>> { return this.sections.unvalidated.values() }

  purgeBelow (height: number): number {
    if (!Number.isSafeInteger(height) || height < 0) throw new RangeError('purge height must be a non-negative integer')
    if (height <= this.floor) return 0
    this.floor = height
    let removed = 0
    for (const section of [this.sections.unvalidated, this.sections.validated]) {
      for (const entry of section.values()) {
        if (entry.height < height) { this.delete(entry); removed++ }
      }
    }
    this.report()
    return removed
  }

  private delete (entry: PoolEntry<A>): void {
    if (this.sections[entry.section].delete(entry.id)) this.bytes -= entry.bytes.byteLength
  }

  private report (): void {
    this.metrics.artifacts.set(this.sections.unvalidated.size, { kind: this.kind, section: 'unvalidated' })
    this.metrics.artifacts.set(this.sections.validated.size, { kind: this.kind, section: 'validated' })
    this.metrics.bytes.set(this.bytes, { kind: this.kind })
  }
}
