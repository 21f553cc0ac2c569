import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, type WriteStream } from 'node:fs'
import { fileURLToPath } from 'node:url'
import type { Health } from '../http.js'
import type { LoadReport } from '../load-monitor.js'
import { httpUrlOf, type TestnetDir } from './layout.js'

/** The CLI entry that runs one replica (`icnet replica --config FILE`). */
export const CLI_PATH = fileURLToPath(new URL('../cli/index.js', import.meta.url))
/** A node that ignores SIGTERM this long is killed. */
export const STOP_GRACE_MS = 10_000

/** What `/api/load` answers. */
export type NodeLoad = LoadReport

export interface NodeProbe {
  name: string
  subnetIndex: number
  health?: Health
  load?: NodeLoad
}

interface Child { name: string, proc: ChildProcess, log: WriteStream, exited: Promise<number | null> }

async function getJson<T> (url: string, timeoutMs = 2_000): Promise<T | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) })
    if (!res.ok && res.status !== 503) return undefined
    return await res.json() as T
  } catch {
    return undefined
  }
}

/** Polls one node's `/health` and `/api/load`. */
export async function probeNode (node: TestnetDir['nodes'][number]): Promise<NodeProbe> {
  const base = httpUrlOf(node.config)
  if (base === undefined) return { name: node.name, subnetIndex: node.subnetIndex }
  const [health, load] = await Promise.all([getJson<Health>(`${base}/health`), getJson<NodeLoad>(`${base}/api/load`)])
  return { name: node.name, subnetIndex: node.subnetIndex, ...(health != null ? { health } : {}), ...(load != null ? { load } : {}) }
}

/**
 * Runs every node of a testnet as its own OS process (`icnet replica --config`),
 * each writing its JSON log to `nodes/<s>-<i>/replica.log`, and stops them all
 * with SIGTERM (then SIGKILL after a grace period).
 */
export class TestnetSupervisor {
  readonly testnet: TestnetDir
  private readonly children = new Map<string, Child>()
  private stopping = false
  /** Nodes being stopped on purpose: their exit is not a failure. */
  private readonly stoppingNodes = new Set<string>()
  onExit?: (name: string, code: number | null) => void

  constructor (testnet: TestnetDir) {
    this.testnet = testnet
  }

  startAll (): void {
    for (const n of this.testnet.nodes) this.startNode(n.name)
  }

  startNode (name: string): void {
    const n = this.testnet.nodes.find(x => x.name === name)
    if (n == null) throw new RangeError(`no node ${name}`)
    if (this.children.has(name)) return
    const log = createWriteStream(n.logPath, { flags: 'a' })
    const proc = spawn(process.execPath, [CLI_PATH, 'replica', '--config', n.configPath], { stdio: ['ignore', 'pipe', 'pipe'] })
    proc.stdout!.pipe(log, { end: false })
    proc.stderr!.pipe(log, { end: false })
    const exited = new Promise<number | null>(resolve => {
      proc.once('exit', code => {
        this.children.delete(name)
        log.end()
        if (!this.stopping && !this.stoppingNodes.delete(name)) this.onExit?.(name, code)
        resolve(code)
      })
    })
    this.children.set(name, { name, proc, log, exited })
  }

  /** Stops one node: SIGTERM (graceful) or SIGKILL (a crash). */
  async stopNode (name: string, signal: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const c = this.children.get(name)
    if (c == null) return
    this.stoppingNodes.add(name)
    c.proc.kill(signal)
    const timer = setTimeout(() => { c.proc.kill('SIGKILL') }, STOP_GRACE_MS)
    await c.exited
    clearTimeout(timer)
  }

  running (): string[] { return [...this.children.keys()] }

  async probeAll (): Promise<NodeProbe[]> {
    return Promise.all(this.testnet.nodes.map(async n => probeNode(n)))
  }

  async stopAll (): Promise<void> {
    this.stopping = true
    await Promise.all([...this.children.keys()].map(async name => this.stopNode(name)))
  }
}
