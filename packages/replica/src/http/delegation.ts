import { Tagged, encode } from 'cborg'
import { verifyCertificate, type Delegation } from '@icnet/crypto'
import { lookupPath } from '@icnet/hashtree'
import { HttpRequestError, decodeBounded } from '@icnet/http-endpoint'
import { equalBytes, type RegistryView, type SubnetId } from '@icnet/types'
import type { StructuredLog } from '../log.js'

/** First retry after a failed fetch; doubled up to RETRY_MAX_MS (the root subnet may still be starting). */
export const RETRY_MIN_MS = 500
export const RETRY_MAX_MS = 10_000
/** A delegation is fetched again this often (IC agents accept old ones; a fresh one follows registry changes). */
export const REFRESH_MS = 10 * 60_000
/** Time allowed for one read_state request to a root-subnet node. */
export const FETCH_TIMEOUT_MS = 5_000
/** Largest read_state answer accepted (a certificate of two leaves is a few hundred bytes). */
export const MAX_ANSWER_BYTES = 64 * 1024

const utf8 = new TextEncoder()
const ANONYMOUS = Uint8Array.of(4)
const SELF_DESCRIBE_TAG = 55799

export interface RootDelegationInit {
  subnetId: SubnetId
  registry: () => RegistryView
  log: StructuredLog
}

/**
 * The root subnet's delegation for a non-root subnet: a certificate of the
 * root subnet revealing `/subnet/<id>/public_key` and
 * `/subnet/<id>/canister_ranges`, which IC agents need to trust this subnet's
 * certificates. Only the root subnet's threshold key signs it, so a node asks
 * a root-subnet node (its `http_url` in the registry) with an anonymous
 * read_state, verifies the answer against the root key and its own subnet
 * key in the registry, and keeps it, fetching again every REFRESH_MS.
 */
export class RootDelegation {
  readonly #init: RootDelegationInit
  #current: Delegation | undefined
  #timer: ReturnType<typeof setTimeout> | undefined
  #retryMs = RETRY_MIN_MS
  #stopped = false
  #next = 0

  constructor (init: RootDelegationInit) { this.#init = init }

  /** The latest verified delegation, if one was fetched. */
  get current (): Delegation | undefined { return this.#current }

  start (): void { this.#schedule(0) }

  stop (): void {
    this.#stopped = true
    if (this.#timer !== undefined) clearTimeout(this.#timer)
  }

  /** The delegation, or a 503 for the HTTP endpoint while none is known yet. */
  require (): Delegation {
    if (this.#current === undefined) throw new HttpRequestError(503, 'unavailable', 'this node has no delegation from the root subnet yet; retry shortly')
    return this.#current
  }

  #schedule (ms: number): void {
    if (this.#stopped) return
    this.#timer = setTimeout(() => { void this.#refresh() }, ms)
    this.#timer.unref()
  }

  async #refresh (): Promise<void> {
    try {
      this.#current = await this.fetchOnce()
      this.#retryMs = RETRY_MIN_MS
      this.#schedule(REFRESH_MS)
    } catch (err) {
      this.#init.log.debug('root delegation not fetched', { err, retryMs: this.#retryMs })
      this.#schedule(this.#retryMs)
      this.#retryMs = Math.min(RETRY_MAX_MS, this.#retryMs * 2)
    }
  }

  /** One attempt: asks the next root-subnet node in turn and verifies what it answers. */
  async fetchOnce (): Promise<Delegation> {
    const registry = this.#init.registry()
    const root = registry.rootSubnetId()
    const urls = (registry.getSubnet(root)?.nodes ?? []).map(n => registry.getNode(n)?.httpUrl).filter((u): u is string => u !== undefined)
    if (urls.length === 0) throw new Error('no root-subnet node has an http_url in the registry')
    const url = urls[this.#next++ % urls.length]!
    const own = this.#init.subnetId.toUint8Array()
    const paths = [[utf8.encode('subnet'), own, utf8.encode('public_key')], [utf8.encode('subnet'), own, utf8.encode('canister_ranges')]]
    const body = encode(new Tagged(SELF_DESCRIBE_TAG, {
      content: { request_type: 'read_state', sender: ANONYMOUS, paths, ingress_expiry: BigInt(Date.now() + 3 * 60_000) * 1_000_000n }
    }))
    const res = await fetch(`${url}/api/v2/subnet/${root.toText()}/read_state`, {
      method: 'POST', headers: { 'content-type': 'application/cbor' }, body, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS)
    })
    const bytes = new Uint8Array(await res.arrayBuffer())
    if (res.status !== 200) throw new Error(`${url}: read_state answered ${res.status}`)
    if (bytes.length > MAX_ANSWER_BYTES) throw new Error(`${url}: read_state answer of ${bytes.length} bytes`)
    const answer = decodeBounded(bytes)
    const certificate = answer instanceof Map ? answer.get('certificate') : undefined
    if (!(certificate instanceof Uint8Array)) throw new Error(`${url}: read_state answer without a certificate`)
    const rootKey = registry.getSubnet(root)?.publicKeyDer
    const ownKey = registry.getSubnet(this.#init.subnetId)?.publicKeyDer
    if (rootKey === undefined || ownKey === undefined) throw new Error('the registry lacks the root or the own subnet key')
    const verified = await verifyCertificate(certificate, rootKey)
    const key = lookupPath(verified.tree, paths[0]!)
    const ranges = lookupPath(verified.tree, paths[1]!)
    if (key.status !== 'found' || !equalBytes(key.value, ownKey) || ranges.status !== 'found') {
      throw new Error(`${url}: the root subnet does not certify this subnet's key and ranges`)
    }
    this.#init.log.info('root delegation fetched', { from: url })
    return { subnet_id: own, certificate }
  }
}
