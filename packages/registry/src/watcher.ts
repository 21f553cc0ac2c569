import { DEFAULT_WATCH_INTERVAL_MS } from './limits.js'
import type { Registry } from './registry.js'
import type { FileRegistryStore } from './store.js'

export interface RegistryWatcherInit {
  /** Polling period (default 1 s). Polling, not fs.watch: it behaves the same on every filesystem. */
  intervalMs?: number
  /** Version already known to the caller; only newer versions are reported. */
  fromVersion?: number
  /** Called when a poll fails (unreadable or invalid file); the poll is retried later. */
  onError?: (err: unknown) => void
}

/**
 * Polls a `FileRegistryStore` and calls `onVersion` once per new version, in
 * version order. One poll runs at a time (no overlap, bounded work); a version
 * that fails to load is retried at the next poll and never skipped.
 */
export class RegistryWatcher {
  private readonly store: FileRegistryStore
  private readonly onVersion: (registry: Registry) => void | Promise<void>
  private readonly intervalMs: number
  private known: number
  private timer?: ReturnType<typeof setTimeout>
  private running = false
  private polling?: Promise<void>
  private readonly onError: (err: unknown) => void

  constructor (store: FileRegistryStore, onVersion: (registry: Registry) => void | Promise<void>, init: RegistryWatcherInit = {}) {
    this.store = store
    this.onVersion = onVersion
    this.intervalMs = init.intervalMs ?? DEFAULT_WATCH_INTERVAL_MS
    this.known = init.fromVersion ?? 0
    this.onError = init.onError ?? (() => {})
  }

  get knownVersion (): number { return this.known }

  start (): void {
    if (this.running) return
    this.running = true
    this.schedule(0)
  }

  async stop (): Promise<void> {
    this.running = false
    if (this.timer != null) clearTimeout(this.timer)
    await this.polling
  }

  /** Checks for new versions now; resolves after every new version was reported. */
  async poll (): Promise<void> {
    const latest = await this.store.latestVersion()
    while (this.known < latest) {
      const next = await this.store.get(this.known + 1)
      this.known = next.version
      await this.onVersion(next)
    }
  }

  private schedule (ms: number): void {
    this.timer = setTimeout(() => {
      this.polling = this.poll()
        .catch(err => { this.onError(err) })
        .finally(() => { if (this.running) this.schedule(this.intervalMs) })
    }, ms)
    this.timer.unref?.()
  }
}
