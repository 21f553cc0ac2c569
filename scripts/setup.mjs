// Installs dependencies when node_modules is missing or older than the lockfile, so
// `npm test` and `npm start` work on a fresh clone with nothing else run first.
//
// `npm install` (not `npm ci`): Biome's wrapper lists prebuilt binaries for every
// platform as optional dependencies, and the registry icnet builds from serves only the
// Linux ones, so npm leaves the others out of package-lock.json and `npm ci` then
// refuses the lockfile as incomplete. `npm install` with the committed lockfile installs
// exactly the pinned versions all the same (docs/decisions.md).
import { execSync } from 'node:child_process'
import { existsSync, statSync } from 'node:fs'

const lock = 'package-lock.json'
const installed = 'node_modules/.package-lock.json'
const stale = !existsSync(installed) || statSync(installed).mtimeMs < statSync(lock).mtimeMs
if (stale) {
  console.log('icnet: installing dependencies pinned by package-lock.json')
  execSync('npm install --no-audit --no-fund', { stdio: 'inherit' })
}
