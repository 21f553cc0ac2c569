import { strict as assert } from 'node:assert'
import { Certificate, lookupResultToBuffer } from '@dfinity/agent'
import { Principal } from '@dfinity/principal'
import type { Principal as IcnetPrincipal } from '@icnet/types'
import { certifyTree, createCertificate, decodeCertificate, verifyCertificate } from '../src/index.js'
import {
  APP_CANISTER, app, appCertificate, appDelegation, other, ROOT_CANISTER, root, stateTree, text
} from './certificate-fixtures.js'

/** The IC agent's own verification (@dfinity/agent Certificate), with its default time checks. */
async function agentVerifies (certificate: Uint8Array, rootKey: Uint8Array, canister: IcnetPrincipal): Promise<Certificate> {
  return await Certificate.create({ certificate, rootKey, canisterId: Principal.fromUint8Array(canister.toUint8Array()) })
}

async function bothRefuse (certificate: Uint8Array, rootKey: Uint8Array, canister: IcnetPrincipal): Promise<void> {
  await assert.rejects(agentVerifies(certificate, rootKey, canister), 'the agent accepted it')
  await assert.rejects(verifyCertificate(certificate, rootKey, { canisterId: canister.toUint8Array() }), { name: 'CertificateVerificationError' })
}

describe('certificates verified by @dfinity/agent', () => {
  it('a root subnet certificate', async () => {
    const bytes = certifyTree({ tree: stateTree(ROOT_CANISTER, 'hello'), sign: root.sign })
    const cert = await agentVerifies(bytes, root.publicKeyDer, ROOT_CANISTER)
    const data = lookupResultToBuffer(cert.lookup_path(['canister', ROOT_CANISTER.toUint8Array(), 'certified_data']))
    assert.deepEqual(data, text('hello'))
    await verifyCertificate(bytes, root.publicKeyDer, { canisterId: ROOT_CANISTER })
  })

  it('a second subnet certificate with a delegation from the root subnet', async () => {
    const bytes = appCertificate('from the app subnet')
    const cert = await agentVerifies(bytes, root.publicKeyDer, APP_CANISTER)
    assert.deepEqual(lookupResultToBuffer(cert.lookup_path(['canister', APP_CANISTER.toUint8Array(), 'certified_data'])), text('from the app subnet'))
    await verifyCertificate(bytes, root.publicKeyDer, { canisterId: APP_CANISTER })
  })

  it('tampered trees, signatures and delegations are refused by both', async () => {
    const good = decodeCertificate(appCertificate())
    await bothRefuse(createCertificate({ ...good, tree: stateTree(APP_CANISTER, 'tampered') }), root.publicKeyDer, APP_CANISTER)
    const otherSignature = decodeCertificate(appCertificate('something else')).signature
    await bothRefuse(createCertificate({ ...good, signature: otherSignature }), root.publicKeyDer, APP_CANISTER)
    await bothRefuse(createCertificate({ ...good, delegation: appDelegation({ rootSign: other.sign }) }), root.publicKeyDer, APP_CANISTER)
    await bothRefuse(createCertificate({ ...good, delegation: appDelegation({ subnetKeyDer: other.publicKeyDer }) }), root.publicKeyDer, APP_CANISTER)
    await bothRefuse(createCertificate({ ...good, delegation: { ...good.delegation!, subnet_id: other.id.toUint8Array() } }), root.publicKeyDer, APP_CANISTER)
    const inner = decodeCertificate(good.delegation!.certificate)
    await bothRefuse(createCertificate({ ...good, delegation: { ...good.delegation!, certificate: createCertificate({ ...inner, delegation: good.delegation! }) } }), root.publicKeyDer, APP_CANISTER)
    // The delegation certificate's tree altered under its signature.
    await bothRefuse(createCertificate({ ...good, delegation: { ...good.delegation!, certificate: createCertificate({ ...inner, tree: stateTree(APP_CANISTER, 'x') }) } }), root.publicKeyDer, APP_CANISTER)
    // Verified against a different root key.
    await bothRefuse(appCertificate(), other.publicKeyDer, APP_CANISTER)
    // Signed by the app subnet, presented without its delegation.
    const { delegation: _dropped, ...undelegated } = good
    await bothRefuse(createCertificate(undelegated), root.publicKeyDer, APP_CANISTER)
    assert.ok(app.publicKeyDer.length === 133)
  })

  it('a canister outside the delegated ranges is refused by both', async () => {
    await bothRefuse(appCertificate(), root.publicKeyDer, ROOT_CANISTER)
  })
})
