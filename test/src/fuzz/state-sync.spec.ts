import assert from 'node:assert/strict'
import fc from 'fast-check'
import {
  BlockKind, bundleManifest, comparePaths, decodeCatchUpPackage, decodeManifest, decodeMessage, decodeMetaManifest,
  encodeCatchUpPackage, encodeManifest, encodeMessage, fileHash, manifestFromSubManifests, MANIFEST_VERSION, type Manifest
} from '@icnet/state-sync'
import { expectDecoderContract, fuzz, targetTimeoutMs } from './harness.js'
import { fuzzInput } from './mutate.js'

const hash = fc.uint8Array({ minLength: 32, maxLength: 32 })
const kind = fc.constantFrom(BlockKind.CHUNK, BlockKind.SUB_MANIFEST, BlockKind.META_MANIFEST)

const arbMessage = fc.record({
  wantlist: fc.array(fc.record({ hash, kind, type: fc.constantFrom(0, 1, 2) as fc.Arbitrary<never> }), { maxLength: 4 }),
  presences: fc.array(fc.record({ hash, kind, type: fc.constantFrom(0, 1) as fc.Arbitrary<never> }), { maxLength: 4 }),
  blocks: fc.array(fc.record({ hash, kind, data: fc.uint8Array({ maxLength: 300 }) }), { maxLength: 2 }),
  wantCheckpoints: fc.boolean(),
  checkpoints: fc.array(fc.record({ height: fc.bigInt({ min: 0n, max: 1n << 40n }), stateHash: hash }), { maxLength: 3 }),
  hasCheckpoints: fc.boolean()
}).map(m => encodeMessage(m as never))

/** A well-formed manifest: sorted safe paths, contiguous chunks per file, file hashes that match. */
const arbManifest: fc.Arbitrary<Manifest> = fc.uniqueArray(
  fc.tuple(fc.array(fc.stringMatching(/^[a-z0-9_]{1,8}$/), { minLength: 1, maxLength: 3 }).map(parts => parts.join('/')),
    fc.array(fc.tuple(fc.integer({ min: 1, max: 1 << 20 }), hash), { maxLength: 3 })),
  { maxLength: 5, selector: ([path]) => path }
).map(files => {
  files.sort((a, b) => comparePaths(a[0], b[0]))
  // A path that is a prefix directory of another is fine for the manifest (it only orders them).
  const fileTable: Manifest['fileTable'] = []
  const chunkTable: Manifest['chunkTable'] = []
  files.forEach(([relativePath, chunks], fileIndex) => {
    let offset = 0
    const refs = chunks.map(([sizeBytes, h]) => { const c = { fileIndex, sizeBytes, offset, hash: h }; offset += sizeBytes; return c })
    chunkTable.push(...refs)
    fileTable.push({ relativePath, sizeBytes: offset, hash: fileHash(refs) })
  })
  return { version: MANIFEST_VERSION, fileTable, chunkTable }
})

describe('fuzz: @icnet/state-sync', function () {
  this.timeout(targetTimeoutMs())

  it('decodeMessage throws only typed errors', async () => {
    await fuzz('state-sync/decodeMessage', fuzzInput(arbMessage), input => {
      expectDecoderContract(input, decodeMessage)
    }, 1500)
  })

  it('decodeManifest throws only typed errors, and what it accepts passes validation again', async () => {
    await fuzz('state-sync/decodeManifest', fuzzInput(arbManifest.map(encodeManifest)), input => {
      const r = expectDecoderContract(input, decodeManifest)
      if (r.ok) assert.deepEqual(decodeManifest(encodeManifest(r.value)), r.value)
    }, 1000)
  })

  it('meta-manifests and sub-manifests from a peer: typed errors, and only the certified manifest is accepted', async () => {
    const arb = fc.tuple(arbManifest, fc.integer({ min: 1, max: 64 }), fc.boolean())
      .chain(([manifest, subManifestSize, mutateMeta]) => {
        const bundle = bundleManifest(manifest, { subManifestSize })
        const target = mutateMeta ? fc.constant(bundle.metaBytes) : fc.constantFrom(...bundle.subManifests)
        return fc.tuple(fc.constant(bundle), fc.constant(mutateMeta), fuzzInput(target), fc.nat())
      })
    await fuzz('state-sync/manifest-bundle', arb, ([bundle, mutateMeta, input, which]) => {
      if (mutateMeta) {
        const r = expectDecoderContract(input, bytes => decodeMetaManifest(bytes, bundle.stateHash))
        if (r.ok) assert.deepEqual(r.value, bundle.meta)
        return
      }
      const subs = bundle.subManifests.slice()
      subs[which % subs.length] = input
      const r = expectDecoderContract(input, () => manifestFromSubManifests(bundle.meta, subs, bundle.stateHash))
      if (r.ok) assert.deepEqual(r.value.manifest, bundle.manifest)
    }, 600)
  })

  it('decodeCatchUpPackage throws only typed errors', async () => {
    const cups = fc.record({ height: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), stateHash: hash, signature: fc.uint8Array({ minLength: 48, maxLength: 48 }) }).map(encodeCatchUpPackage)
    await fuzz('state-sync/decodeCatchUpPackage', fuzzInput(cups), input => {
      expectDecoderContract(input, decodeCatchUpPackage)
    }, 800)
  })
})
