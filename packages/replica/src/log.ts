/**
 * Structured logs: one JSON object per line on stdout (`{"t","level","msg",...fields}`),
 * so a supervisor, `jq` or a log shipper can read them. The libp2p-style debug
 * namespaces (`DEBUG=icnet:*`) stay available for protocol-level detail on stderr.
 */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error'

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 }

export interface StructuredLog {
  debug(msg: string, fields?: Record<string, unknown>): void
  info(msg: string, fields?: Record<string, unknown>): void
  warn(msg: string, fields?: Record<string, unknown>): void
  error(msg: string, fields?: Record<string, unknown>): void
  /** Whether lines of `level` are written (to skip building costly fields). */
  enabled(level: LogLevel): boolean
  /** A logger that adds `fields` to every line. */
  child(fields: Record<string, unknown>): StructuredLog
}

export interface StructuredLogInit {
  level?: LogLevel
  fields?: Record<string, unknown>
  /** Where lines go (default process.stdout). */
  write?: (line: string) => void
  now?: () => Date
}

function plain (v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString()
  if (v instanceof Error) return { name: v.name, message: v.message, ...('code' in v ? { code: (v as { code: unknown }).code } : {}) }
  return v
}

export function createLog (init: StructuredLogInit = {}): StructuredLog {
  const min = ORDER[init.level ?? 'info']
  const write = init.write ?? ((line: string) => { process.stdout.write(line) })
  const now = init.now ?? (() => new Date())
  const base = init.fields ?? {}
  const emit = (level: LogLevel, msg: string, fields?: Record<string, unknown>): void => {
    if (ORDER[level] < min) return
    const entry: Record<string, unknown> = { t: now().toISOString(), level, msg, ...base }
    for (const k in fields) entry[k] = plain(fields[k])
    write(`${JSON.stringify(entry)}\n`)
  }
  return {
    debug: (m, f) => { emit('debug', m, f) },
    info: (m, f) => { emit('info', m, f) },
    warn: (m, f) => { emit('warn', m, f) },
    error: (m, f) => { emit('error', m, f) },
    enabled: level => ORDER[level] >= min,
    child: (fields) => createLog({ ...init, fields: { ...base, ...fields } })
  }
}

export function isLogLevel (s: unknown): s is LogLevel {
  return typeof s === 'string' && s in ORDER
}
