import { UsageError } from '../errors.js'

export interface FlagSpec {
  /** 'number' flags must be non-negative integers unless `min`/`max` say otherwise. */
  type: 'string' | 'number' | 'boolean'
  min?: number
  max?: number
  required?: boolean
}

export type ParsedFlags = Record<string, string | number | boolean | undefined>

/**
 * Parses `--name value`, `--name=value` and boolean `--name` flags against a
 * spec. Unknown flags, missing values, non-integers and out-of-range numbers
 * are usage errors that say which flag and why.
 */
export function parseFlags (argv: readonly string[], spec: Record<string, FlagSpec>, command: string): ParsedFlags {
  const out: ParsedFlags = {}
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (!arg.startsWith('--')) throw new UsageError(`${command}: unexpected argument "${arg}"`)
    let name = arg.slice(2)
    let value: string | undefined
    const eq = name.indexOf('=')
    if (eq >= 0) { value = name.slice(eq + 1); name = name.slice(0, eq) }
    const s = spec[name]
    if (s === undefined) throw new UsageError(`${command}: unknown flag --${name} (known: ${Object.keys(spec).map(k => `--${k}`).join(', ')})`)
    if (s.type === 'boolean') {
      if (value !== undefined && value !== 'true' && value !== 'false') throw new UsageError(`${command}: --${name} takes no value`)
      out[name] = value !== 'false'
      continue
    }
    if (value === undefined) {
      value = argv[i + 1]
      if (value === undefined || value.startsWith('--')) throw new UsageError(`${command}: --${name} needs a value`)
      i++
    }
    if (s.type === 'number') {
      if (!/^\d+$/.test(value)) throw new UsageError(`${command}: --${name} must be a non-negative integer, got "${value}"`)
      const n = Number(value)
      if (s.min !== undefined && n < s.min) throw new UsageError(`${command}: --${name} must be at least ${s.min}`)
      if (s.max !== undefined && n > s.max) throw new UsageError(`${command}: --${name} must be at most ${s.max}`)
      out[name] = n
    } else {
      out[name] = value
    }
  }
  for (const [name, s] of Object.entries(spec)) {
    if (s.required === true && out[name] === undefined) throw new UsageError(`${command}: --${name} is required`)
  }
  return out
}

/**
 * A per-subnet value: `N` for every subnet, or `i=N[,j=M...]` for the subnets
 * with those indices (the others keep their default). Returns one entry per
 * subnet, undefined where the flag says nothing.
 */
export function parsePerSubnet (value: string, flag: string, subnets: number, range: { min: number, max: number }): Array<number | undefined> {
  const out = new Array<number | undefined>(subnets).fill(undefined)
  const num = (s: string): number => {
    if (!/^\d+$/.test(s)) throw new UsageError(`--${flag}: "${s}" is not a non-negative integer`)
    const n = Number(s)
    if (!Number.isSafeInteger(n) || n < range.min || n > range.max) throw new UsageError(`--${flag}: ${s} is outside [${range.min}, ${range.max}]`)
    return n
  }
  if (!value.includes('=')) return out.fill(num(value))
  for (const part of value.split(',')) {
    const m = /^(\d+)=(.+)$/.exec(part)
    if (m === null) throw new UsageError(`--${flag}: expected N or SUBNET=N[,SUBNET=N...], got "${part}"`)
    const i = Number(m[1])
    if (i >= subnets) throw new UsageError(`--${flag}: subnet index ${i}, but there are only ${subnets} subnets (0..${subnets - 1})`)
    out[i] = num(m[2]!)
  }
  return out
}
