import { mkdir, readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { verifyNodeKeyPossession } from '@icnet/crypto'
import { IcnetError, LimitExceededError, NotFoundError, VerificationError, fromHex } from '@icnet/types'
import { writeFileAtomic } from './atomic-file.js'
import { decodeRecords, encodeRecords, validateRecords } from './codec.js'
import { MAX_REGISTRY_FILE_BYTES } from './limits.js'
import type { RegistryRecords } from './records.js'
import { Registry } from './registry.js'

/** A write would not create the next version (someone else wrote it first, or the version skips). */
export class RegistryVersionConflictError extends IcnetError {
  constructor (message: string) { super(message, 'ERR_REGISTRY_VERSION_CONFLICT') }
}

const FILE_RE = /^registry-(\d{10})\.json$/

function fileName (version: number): string {
  return `registry-${String(version).padStart(10, '0')}.json`
}

/**
 * Registry versions as one JSON file per version in a directory
 * (`registry-0000000001.json`, ...). Each file is written atomically and never
 * changed afterwards, so readers (other processes, the watcher) need no lock.
 */
export class FileRegistryStore {
  readonly dir: string

  constructor (dir: string) {
    this.dir = dir
  }

  /** Versions present, ascending. */
  async versions (): Promise<number[]> {
    let names: string[]
    try {
      names = await readdir(this.dir)
    } catch (err: any) {
      if (err.code === 'ENOENT') return []
      throw err
    }
    const out: number[] = []
    for (const n of names) {
      const m = FILE_RE.exec(n)
      if (m != null) out.push(Number(m[1]))
    }
    return out.sort((a, b) => a - b)
  }

  async latestVersion (): Promise<number> {
    const v = await this.versions()
    return v.length === 0 ? 0 : v[v.length - 1]!
  }

  /** The registry at `version`; throws `NotFoundError` when absent. */
  async get (version: number): Promise<Registry> {
    const path = join(this.dir, fileName(version))
    let size: number
    try {
      size = (await stat(path)).size
    } catch (err: any) {
      if (err.code === 'ENOENT') throw new NotFoundError(`registry version ${version} is not in ${this.dir}`)
      throw err
    }
    if (size > MAX_REGISTRY_FILE_BYTES) throw new LimitExceededError(`registry file ${path} has ${size} bytes (max ${MAX_REGISTRY_FILE_BYTES})`)
    const records = decodeRecords(await readFile(path))
    if (records.version !== version) throw new RegistryVersionConflictError(`${path} holds version ${records.version}`)
    return new Registry(records)
  }

  /** The newest registry; throws `NotFoundError` when the store is empty. */
  async latest (): Promise<Registry> {
    const v = await this.latestVersion()
    if (v === 0) throw new NotFoundError(`no registry in ${this.dir}`)
    return await this.get(v)
  }

  /**
   * Writes `records` as a new version. Its version must be exactly one more than
   * the latest; the file is created exclusively, so two writers never both win.
   * Every node's BLS key must come with a valid proof of possession.
   */
  async put (records: RegistryRecords): Promise<Registry> {
    const checked = validateRecords(records)
    const registry = new Registry(checked)
    // Keys are checked once, when they enter the registry; readers trust the store.
    for (const n of checked.nodes) {
      if (!verifyNodeKeyPossession(fromHex(n.blsPublicKey), fromHex(n.blsPossessionProof))) {
        throw new VerificationError(`node ${n.id}: BLS proof of possession does not verify`)
      }
    }
    const latest = await this.latestVersion()
    if (checked.version !== latest + 1) throw new RegistryVersionConflictError(`cannot write version ${checked.version} after ${latest}`)
    await mkdir(this.dir, { recursive: true })
    try {
      await writeFileAtomic(join(this.dir, fileName(checked.version)), encodeRecords(checked), { exclusive: true })
    } catch (err: any) {
      if (err.code === 'EEXIST') throw new RegistryVersionConflictError(`version ${checked.version} was written concurrently`)
      throw err
    }
    return registry
  }

  /** Applies `change` to a copy of the latest records and writes the result as the next version. */
  async update (change: (records: RegistryRecords) => RegistryRecords | undefined): Promise<Registry> {
    const latest = await this.latest()
    const copy = structuredClone(latest.records) as RegistryRecords
    const next = change(copy) ?? copy
    next.version = latest.version + 1
    return await this.put(next)
  }
}
