import { strict as assert } from 'node:assert'
import { createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto'
import fc from 'fast-check'
import { ED25519_IMPLEMENTATION, ed25519Sign } from '../src/ed25519-sign.js'
import { ed25519NodeSigner } from '../src/query-signature.js'
import { Ed25519SigningThread } from '../src/signing-thread.js'
import { MAX_PENDING_SIGNATURES, MAX_SIGNING_BATCH } from '../src/constants.js'
import { encode, Tagged } from 'cborg'
import { Principal } from '@icnet/types'
import type { QueryOutcome } from '../src/backend.js'
import { encodeQueryAnswer, queryAnswer, queryResponseMessage, type QueryAnswerJob } from '../src/query-answer.js'
import { decodeSigningJobs, encodeSigningJobs, type SigningJob } from '../src/signing-jobs.js'
import { requestIdOf } from '../src/request-id.js'

const outcomeArb: fc.Arbitrary<QueryOutcome> = fc.oneof(
  fc.record({ status: fc.constant('replied' as const), reply: fc.uint8Array({ maxLength: 200 }) }),
  fc.record({
    status: fc.constant('rejected' as const),
    rejectCode: fc.integer({ min: 1, max: 6 }),
    rejectMessage: fc.string({ unit: 'binary', maxLength: 60 }),
    errorCode: fc.option(fc.string({ maxLength: 8 }), { nil: undefined })
  }).map(r => r.errorCode === undefined ? { status: r.status, rejectCode: r.rejectCode, rejectMessage: r.rejectMessage } : r)
)

/** A query body (anonymous, its own nonce) and the id of its content. */
function queryBody (nonce: number): { body: Uint8Array, requestId: Uint8Array } {
  const content = { request_type: 'query', canister_id: new Uint8Array(10).fill(1), method_name: 'echo', arg: Uint8Array.of(nonce & 0xff), sender: Uint8Array.of(4), ingress_expiry: 1_800_000_000_000_000_000n, nonce: Uint8Array.of(nonce >> 8, nonce & 0xff) }
  return { body: encode(new Tagged(55799, { content })), requestId: requestIdOf(content) }
}

describe('query answer signatures', function () {
  this.timeout(60_000)
  const { privateKey } = generateKeyPairSync('ed25519')
  const publicKey = createPublicKey(privateKey)

  it(`ed25519Sign (${ED25519_IMPLEMENTATION}) gives node:crypto's signature, byte for byte`, () => {
    const signWith = ed25519Sign(privateKey)
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), message => {
      const signature = signWith(message)
      assert.equal(signature.length, 64)
      assert.deepEqual(Buffer.from(signature), sign(null, message, privateKey))
    }), { numRuns: 200 })
  })

  it('the signing thread answers each message of a batch with its own signature, in order', async () => {
    const thread = new Ed25519SigningThread(privateKey, ed25519Sign(privateKey))
    try {
      // More than one batch in one turn (MAX_SIGNING_BATCH flushes early), of different lengths.
      const messages = Array.from({ length: MAX_SIGNING_BATCH * 2 + 7 }, (_, i) => new Uint8Array(i % 90).fill(i & 0xff))
      const signatures = await Promise.all(messages.map(async m => await thread.sign(m)))
      signatures.forEach((s, i) => {
        assert.deepEqual(Buffer.from(s), sign(null, messages[i]!, privateKey), `message ${i}`)
      })
      assert.equal(thread.pending, 0)
      // A later turn starts a new batch on the same thread.
      assert.ok(verify(null, Uint8Array.of(1, 2, 3), publicKey, await thread.sign(Uint8Array.of(1, 2, 3))))
    } finally {
      await thread.close()
    }
  })

  it('jobs survive the trip between threads: what decodes is what was encoded', () => {
    const job: fc.Arbitrary<SigningJob> = fc.oneof(
      fc.record({ kind: fc.constant('sign' as const), message: fc.uint8Array({ maxLength: 100 }) }),
      fc.record({ outcome: outcomeArb, timestampNs: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), id: fc.uint8Array({ minLength: 32, maxLength: 32 }), byBody: fc.boolean() })
        .map(({ outcome, timestampNs, id, byBody }): SigningJob => ({ kind: 'answer', job: byBody ? { envelope: id, outcome, timestampNs } : { requestId: id, outcome, timestampNs } }))
    )
    fc.assert(fc.property(fc.array(job, { maxLength: 10 }), jobs => {
      const plain = (x: unknown): unknown => JSON.parse(JSON.stringify(x, (_, v: unknown) => typeof v === 'bigint' ? `${v}n` : v instanceof Uint8Array ? [...v] : v))
      assert.deepEqual(plain(decodeSigningJobs(encodeSigningJobs(jobs))), plain(jobs))
    }), { numRuns: 200 })
  })

  it('query answers made in the signing thread are byte for byte those made inline, with the request id given or read from the body', async () => {
    const signHere = ed25519Sign(privateKey)
    const thread = new Ed25519SigningThread(privateKey, signHere)
    const nodeId = Principal.selfAuthenticating(new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }))).toUint8Array()
    try {
      const outcomes = fc.sample(outcomeArb, { numRuns: 60, seed: 9 })
      // All sent in one turn: one batch (or a few), answered in order.
      const jobs: QueryAnswerJob[] = outcomes.map((outcome, i) => {
        const { body, requestId } = queryBody(i)
        return i % 2 === 0 ? { envelope: body, outcome, timestampNs: 1_700_000_000_000_000_000n + BigInt(i) } : { requestId, outcome, timestampNs: 1_700_000_000_000_000_000n + BigInt(i) }
      })
      const answers = await Promise.all(jobs.map(async j => await thread.answerQuery(j)))
      answers.forEach((answer, i) => {
        const { requestId } = queryBody(i)
        const signature = sign(null, queryResponseMessage(outcomes[i]!, jobs[i]!.timestampNs, requestId), privateKey)
        const inline = encodeQueryAnswer(outcomes[i]!, { timestamp: jobs[i]!.timestampNs, signature, identity: nodeId })
        assert.deepEqual(Buffer.from(answer), inline, `job ${i}`)
        assert.deepEqual(Buffer.from(answer), Buffer.from(queryAnswer(jobs[i]!, signHere, nodeId)), `job ${i}`)
      })
      // A job the thread cannot do (no envelope in the body) fails alone; the rest of its batch is answered.
      const outcome: QueryOutcome = { status: 'replied', reply: Uint8Array.of(1) }
      const [bad, good] = await Promise.allSettled([
        thread.answerQuery({ envelope: encode({ not_content: 1 }), outcome, timestampNs: 1n }),
        thread.answerQuery({ requestId: new Uint8Array(32), outcome, timestampNs: 1n })
      ])
      assert.equal(bad.status, 'rejected')
      assert.equal(good.status, 'fulfilled')
      assert.equal(thread.pending, 0)
    } finally {
      await thread.close()
    }
  })

  it('past the pending bound a signature is computed on the caller\'s thread, and nothing is queued beyond it', async () => {
    let here = 0
    const signHere = ed25519Sign(privateKey)
    const thread = new Ed25519SigningThread(privateKey, m => { here++; return signHere(m) })
    try {
      const message = Uint8Array.of(7)
      const all = Array.from({ length: MAX_PENDING_SIGNATURES + 10 }, async () => await thread.sign(message))
      assert.ok(thread.pending <= MAX_PENDING_SIGNATURES)
      assert.equal(here, 10)
      for (const s of await Promise.all(all)) assert.ok(verify(null, message, publicKey, s))
    } finally {
      await thread.close()
    }
  })

  it('close refuses what is pending; signatures after it are computed on the caller\'s thread', async () => {
    const thread = new Ed25519SigningThread(privateKey, ed25519Sign(privateKey))
    await thread.sign(Uint8Array.of(1))
    const refused = assert.rejects(thread.sign(Uint8Array.of(2)))
    await thread.close()
    await refused
    assert.ok(verify(null, Uint8Array.of(3), publicKey, await thread.sign(Uint8Array.of(3))))
  })

  it('a node signer signs the same on and off the event loop, and closes its thread', async () => {
    const signer = ed25519NodeSigner(new Uint8Array(32).fill(9))
    const message = new TextEncoder().encode('\x0Bic-response and a hash')
    const inline = await signer.sign(message)
    const offThread = await signer.signOffThread!(message)
    assert.deepEqual(offThread, inline)
    await signer.close()
  })

  it('a process waiting only for the signing thread stays up until the signature arrives, then may exit', async () => {
    const { fork } = await import('node:child_process')
    const child = fork(new URL('./fixtures/sign-and-exit.js', import.meta.url), { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] })
    let out = ''
    child.stdout!.on('data', (c: Buffer) => { out += c.toString() })
    const code = await new Promise<number | null>(resolve => { child.on('exit', resolve) })
    assert.equal(code, 0)
    assert.equal(out.trim(), 'signed 64')
  })
})
