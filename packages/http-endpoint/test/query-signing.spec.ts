import { strict as assert } from 'node:assert'
import { createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto'
import { decode, encode, Tagged } from 'cborg'
import fc from 'fast-check'
import { ED25519_IMPLEMENTATION, ed25519Sign } from '../src/ed25519-sign.js'
import { ed25519NodeSigner, queryResponseMessage } from '../src/query-signature.js'
import { httpEndpoint, ReferenceNetwork, requestIdOf } from '../src/index.js'
import { Ed25519SigningThread } from '../src/signing-thread.js'
import { MAX_PENDING_SIGNATURES, MAX_SIGNING_BATCH } from '../src/constants.js'

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

  it('an endpoint signs in the signing thread while its loop is busy only if offThreadSigning allows it; the answers verify either way', async () => {
    for (const offThreadSigning of [true, false]) {
      const network = new ReferenceNetwork({ subnets: 1 })
      const backend = network.root
      const signer = backend.querySigner
      const signOffThread = signer.signOffThread!
      let offThread = 0
      signer.signOffThread = async message => { offThread++; return await signOffThread(message) }
      const endpoint = httpEndpoint({ backend, offThreadSigning })
      await endpoint.start()
      try {
        const canister = backend.range[0].toUint8Array()
        const nodeKey = createPublicKey({ key: Buffer.from(signer.publicKeyDer), format: 'der', type: 'spki' })
        const query = async (nonce: number): Promise<void> => {
          const content = { request_type: 'query', canister_id: canister, method_name: 'echo', arg: new Uint8Array(), sender: Uint8Array.of(4), ingress_expiry: BigInt(Date.now() + 60_000) * 1_000_000n, nonce: Uint8Array.of(nonce) }
          const res = await fetch(`${endpoint.url}/api/v2/canister/${backend.range[0].toText()}/query`, { method: 'POST', body: encode(new Tagged(55799, { content })), headers: { 'Content-Type': 'application/cbor' } })
          assert.equal(res.status, 200)
          const answer = decode(new Uint8Array(await res.arrayBuffer()).subarray(3)) as { status: 'rejected', reject_code: number, reject_message: string, error_code: string, signatures: Array<{ timestamp: bigint | number, signature: Uint8Array }> }
          const outcome = { status: answer.status, rejectCode: answer.reject_code, rejectMessage: answer.reject_message, errorCode: answer.error_code }
          const [{ timestamp, signature }] = answer.signatures as [{ timestamp: bigint | number, signature: Uint8Array }]
          assert.ok(verify(null, queryResponseMessage(outcome, BigInt(timestamp), requestIdOf(content as never)), nodeKey, signature))
        }
        // Starts the endpoint's load window afresh; then the loop is kept busy for a whole window before the next query.
        await new Promise(resolve => setTimeout(resolve, 60))
        await query(1)
        const busyUntil = performance.now() + 200
        while (performance.now() < busyUntil) { /* the event loop is busy */ }
        await query(2)
        if (offThreadSigning) assert.ok(offThread > 0, 'signed in the thread while busy')
        else assert.equal(offThread, 0)
      } finally {
        await endpoint.stop()
        await signer.close()
      }
    }
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
