/**
 * `npm run bench -- <name> [args...]` runs bench/src/<name>.ts (compiled).
 * Each benchmark prints JSON lines; its last line is one JSON object with the
 * headline figures and the baseline measured in the same run.
 */
import { readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const available = readdirSync(here)
  .filter(f => f.endsWith('.js') && f !== 'run.js' && !f.startsWith('_'))
  .map(f => f.slice(0, -3))
  .sort()

const [name, ...args] = process.argv.slice(2)
if (name === undefined || !available.includes(name)) {
  console.error(`usage: npm run bench -- <name> [args]\navailable: ${available.join(', ')}`)
  process.exit(name === undefined ? 0 : 2)
}
process.argv = [process.argv[0]!, join(here, `${name}.js`), ...args]
await import(join(here, `${name}.js`))
