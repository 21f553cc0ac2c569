// Enforces DESIGN §1: a package may import only the @icnet packages its row allows.
// Protocol packages must stay reusable in any libp2p node, so they never reach up
// into consensus, message-routing or the replica.
import { readFileSync, readdirSync, existsSync } from 'node:fs'
import { join } from 'node:path'

const allowed = {
  types: [],
  hashtree: ['types'],
  crypto: ['types', 'hashtree'],
  registry: ['types', 'crypto', 'hashtree'],
  'xnet-stream': ['types', 'hashtree', 'crypto', 'registry'],
  'state-sync': ['types', 'hashtree', 'crypto'],
  'artifact-gossip': ['types', 'crypto', 'registry'],
  consensus: ['types', 'crypto', 'registry', 'artifact-gossip', 'hashtree'],
  execution: ['types'],
  'message-routing': ['types', 'hashtree', 'crypto', 'registry', 'xnet-stream', 'execution', 'state-sync'],
  'http-endpoint': ['types', 'hashtree', 'crypto'],
  replica: null, // composition root: everything
  'test-utils': ['types']
}

const problems = []
for (const dir of readdirSync('packages')) {
  const pkgFile = join('packages', dir, 'package.json')
  if (!existsSync(pkgFile)) continue
  const pkg = JSON.parse(readFileSync(pkgFile, 'utf8'))
  const rule = allowed[dir]
  if (rule === undefined) { problems.push(`packages/${dir}: not in the boundary table of scripts/check-boundaries.mjs`); continue }
  if (rule === null) continue
  for (const dep of Object.keys(pkg.dependencies ?? {})) {
    if (!dep.startsWith('@icnet/')) continue
    const name = dep.slice('@icnet/'.length)
    if (!rule.includes(name)) problems.push(`packages/${dir} depends on ${dep}, which DESIGN §1 does not allow`)
  }
}
if (problems.length > 0) {
  console.error(problems.join('\n'))
  process.exit(1)
}
console.log('package boundaries: ok')
