import { open } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'

interface Entry {
  handle: Promise<FileHandle>
  users: number
}

/**
 * A bounded cache of open file handles, so reading or writing 1 MiB at a time does not
 * pay an open and a close per chunk. Handles in use are never closed; idle ones are
 * closed least recently used first once more than `limit` are open.
 */
export class FdCache {
  // Map iteration order is insertion order: re-inserting on use keeps it LRU.
  private readonly entries = new Map<string, Entry>()
  private closed = false

  /** `flags`: as `fs.open` takes them (a string, or numeric flags such as O_WRONLY | O_DIRECT). */
  constructor (private readonly flags: 'r' | 'r+' | number, private readonly limit: number) {}

  get size (): number { return this.entries.size }

  /** Runs `fn` with an open handle for `path`; the handle stays cached afterwards. */
  async use<T> (path: string, fn: (fh: FileHandle) => Promise<T>): Promise<T> {
    if (this.closed) throw new Error('file handle cache closed')
    let e = this.entries.get(path)
    if (e === undefined) {
      const handle = open(path, this.flags)
      e = { handle, users: 0 }
      // A failed open is not cached: the next use tries again.
      handle.catch(() => { if (this.entries.get(path) === e) this.entries.delete(path) })
      this.evictIdle()
    } else {
      this.entries.delete(path)
    }
    this.entries.set(path, e)
    e.users++
    try {
      return await fn(await e.handle)
    } finally {
      e.users--
      if (this.entries.size > this.limit) this.evictIdle()
    }
  }

  private evictIdle (): void {
    for (const [path, e] of this.entries) {
      if (this.entries.size < this.limit) return
      if (e.users > 0) continue
      this.entries.delete(path)
      e.handle.then(fh => fh.close()).catch(() => {})
    }
  }

  /** Closes the handle of one file if it is idle (before the file is replaced); false when it is in use. */
  async forget (path: string): Promise<boolean> {
    const e = this.entries.get(path)
    if (e === undefined) return true
    if (e.users > 0) return false
    this.entries.delete(path)
    await e.handle.then(async fh => { await fh.close() }).catch(() => {})
    return true
  }

  /** Closes the idle handles of files under `dir` (before it is deleted); busy ones close after use. */
  async closeUnder (dir: string): Promise<void> {
    const prefix = dir.endsWith('/') ? dir : `${dir}/`
    const closing: Array<Promise<void>> = []
    for (const [path, e] of this.entries) {
      if (!path.startsWith(prefix) || e.users > 0) continue
      this.entries.delete(path)
      closing.push(e.handle.then(async fh => { await fh.close() }).catch(() => {}))
    }
    await Promise.all(closing)
  }

  /** Closes every handle (waiting for the ones in use is the caller's job). */
  async close (): Promise<void> {
    this.closed = true
    const all = [...this.entries.values()]
    this.entries.clear()
    await Promise.all(all.map(async e => { await (await e.handle.catch(() => undefined))?.close() }))
  }
}
