// Installs dependencies from the lockfile when node_modules is missing or stale,
// so `npm test` and `npm start` work on a fresh clone with nothing else run first.
import { execSync } from 'node:child_process'
import { existsSync, statSync } from 'node:fs'

const lock = 'package-lock.json'
const installed = 'node_modules/.package-lock.json'
const stale = !existsSync(installed) || statSync(installed).mtimeMs < statSync(lock).mtimeMs
if (stale) {
  console.log('icnet: installing dependencies from package-lock.json (npm ci)')
  execSync('npm ci --no-audit --no-fund', { stdio: 'inherit' })
}
