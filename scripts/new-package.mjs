// Scaffolds packages/<dir> with the house layout: src/, test/, tsconfig with references.
// usage: node scripts/new-package.mjs <dir> "<description>" [dep@ver ...] [--ref <icnet-dir> ...]
import { mkdirSync, writeFileSync, existsSync } from 'node:fs'
const [dir, description, ...rest] = process.argv.slice(2)
const deps = {}
const refs = []
for (let i = 0; i < rest.length; i++) {
  if (rest[i] === '--ref') { refs.push(rest[++i]); continue }
  const at = rest[i].lastIndexOf('@')
  deps[rest[i].slice(0, at)] = rest[i].slice(at + 1)
}
for (const r of refs) deps[`@icnet/${r}`] = '0.1.0'
const root = `packages/${dir}`
mkdirSync(`${root}/src`, { recursive: true })
mkdirSync(`${root}/test`, { recursive: true })
const pkg = {
  name: `@icnet/${dir}`,
  version: '0.1.0',
  description,
  license: 'Apache-2.0',
  type: 'module',
  main: './dist/src/index.js',
  types: './dist/src/index.d.ts',
  exports: { '.': { types: './dist/src/index.d.ts', import: './dist/src/index.js' } },
  files: ['dist/src', 'src'],
  scripts: { build: 'tsc -b', test: "mocha --timeout 60000 'dist/test/**/*.spec.js'" },
  dependencies: Object.fromEntries(Object.entries(deps).sort())
}
if (!existsSync(`${root}/package.json`)) writeFileSync(`${root}/package.json`, JSON.stringify(pkg, null, 2) + '\n')
const tsconfig = {
  extends: '../../tsconfig.base.json',
  compilerOptions: { outDir: 'dist', rootDir: '.' },
  include: ['src', 'test'],
  references: refs.map(r => ({ path: `../${r}` }))
}
if (!existsSync(`${root}/tsconfig.json`)) writeFileSync(`${root}/tsconfig.json`, JSON.stringify(tsconfig, null, 2) + '\n')
