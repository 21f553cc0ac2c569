import { QueueFullError } from './errors.js'

/**
 * A FIFO queue with a hard length limit. `push` refuses (returns false) when full:
 * the caller decides whether to drop, back off, or report, and nothing is lost silently.
 */
export class BoundedQueue<T> {
  private items: T[] = []
  private head = 0
  readonly limit: number

  constructor (limit: number) {
    if (!Number.isInteger(limit) || limit <= 0) throw new RangeError('queue limit must be a positive integer')
    this.limit = limit
  }

  get length (): number { return this.items.length - this.head }
  get full (): boolean { return this.length >= this.limit }

  push (item: T): boolean {
    if (this.full) return false
    this.items.push(item)
    return true
  }

  /** Like `push`, but throws `QueueFullError` when full. */
  pushOrThrow (item: T): void {
    if (!this.push(item)) throw new QueueFullError(`queue is full (${this.limit})`)
  }

  shift (): T | undefined {
    if (this.head >= this.items.length) return undefined
    const item = this.items[this.head]
    this.items[this.head] = undefined as T
    this.head++
    // Compact once the dead prefix dominates, so memory follows the live length.
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
    return item
  }

  peek (): T | undefined {
    return this.head < this.items.length ? this.items[this.head] : undefined
  }

  clear (): void { this.items = []; this.head = 0 }

  * [Symbol.iterator] (): IterableIterator<T> {
    for (let i = this.head; i < this.items.length; i++) yield this.items[i]!
  }
}

/** A map with a size limit that evicts the least recently used entry. */
export class LruMap<K, V> {
  private readonly map = new Map<K, V>()
  readonly limit: number
  evictions = 0

  constructor (limit: number) {
    if (!Number.isInteger(limit) || limit <= 0) throw new RangeError('map limit must be a positive integer')
    this.limit = limit
  }

  get size (): number { return this.map.size }

  get (key: K): V | undefined {
    const v = this.map.get(key)
    if (v !== undefined) { this.map.delete(key); this.map.set(key, v) }
    return v
  }

  has (key: K): boolean { return this.map.has(key) }

  set (key: K, value: V): this {
    if (this.map.has(key)) this.map.delete(key)
    else if (this.map.size >= this.limit) {
      const oldest = this.map.keys().next().value as K
      this.map.delete(oldest)
      this.evictions++
    }
    this.map.set(key, value)
    return this
  }

  delete (key: K): boolean { return this.map.delete(key) }
  clear (): void { this.map.clear() }
  keys (): IterableIterator<K> { return this.map.keys() }
  values (): IterableIterator<V> { return this.map.values() }
  entries (): IterableIterator<[K, V]> { return this.map.entries() }
}
