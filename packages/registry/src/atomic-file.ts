import { randomBytes } from 'node:crypto'
import { link, open, rename, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'

export interface AtomicWriteOptions {
  /** File mode of the new file (default 0o644; node configs use 0o600). */
  mode?: number
  /** Fail with EEXIST instead of replacing an existing file. */
  exclusive?: boolean
}

/**
 * Writes `bytes` to `path` so that readers see either the old file or the
 * complete new one: write a temporary sibling, fsync it, move it into place
 * (rename, or link when `exclusive` so that an existing file is never
 * replaced), then fsync the directory so the move itself survives a crash.
 */
export async function writeFileAtomic (path: string, bytes: Uint8Array, opts: AtomicWriteOptions = {}): Promise<void> {
  const dir = dirname(path)
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
  const fh = await open(tmp, 'wx', opts.mode ?? 0o644)
  try {
    await fh.writeFile(bytes)
    await fh.sync()
  } finally {
    await fh.close()
  }
  try {
    if (opts.exclusive === true) {
      await link(tmp, path)
      await unlink(tmp)
    } else {
      await rename(tmp, path)
    }
  } catch (err) {
    await unlink(tmp).catch(() => {})
    throw err
  }
  const dh = await open(dir, 'r')
  try { await dh.sync() } catch { /* some filesystems refuse fsync on a directory */ } finally { await dh.close() }
}
