import { dealThresholdKeys, type ThresholdKeySet } from '@icnet/crypto'
import {
  canisterIdFromU64,
  subnetIdFromPublicKeyDer,
  type Request,
  type Response,
  type StreamMessage,
  type SubnetId,
  type SubnetRecord
} from '@icnet/types'
import { InMemoryCertifiedStreamStore } from '../src/certified-store.js'
import { StaticRegistryView } from '../src/static-registry.js'

export interface TestSubnet {
  id: SubnetId
  keys: ThresholdKeySet
  store: InMemoryCertifiedStreamStore
  record: (nodes: string[]) => SubnetRecord
}

let seedCounter = 1

/** A subnet with a dealt 1-of-1 (or t-of-n) key and an in-memory certified store. Deterministic seeds keep runs fast and repeatable. */
export function makeSubnet (n = 1, t = 1): TestSubnet {
  const keys = dealThresholdKeys({ n, t, seed: new TextEncoder().encode(`xnet-test-subnet-${seedCounter++}`) })
  const id = subnetIdFromPublicKeyDer(keys.publicKeyDer)
  const store = new InMemoryCertifiedStreamStore({ subnetId: id, shares: keys.shares, threshold: t })
  return {
    id,
    keys,
    store,
    record: (nodes) => ({ id, type: 'application', nodes, publicKey: keys.publicKey, publicKeyDer: keys.publicKeyDer })
  }
}

/** Three single-node subnets A, B, C and a registry that knows all three (no nodes listed). */
export function threeSubnets (): { a: TestSubnet, b: TestSubnet, c: TestSubnet, registry: StaticRegistryView } {
  const a = makeSubnet()
  const b = makeSubnet()
  const c = makeSubnet()
  return { a, b, c, registry: new StaticRegistryView({ subnets: [a.record([]), b.record([]), c.record([])] }) }
}

export function request (seq: number, payloadBytes = 32): Request {
  const methodPayload = new Uint8Array(payloadBytes)
  if (payloadBytes >= 4) new DataView(methodPayload.buffer).setUint32(0, seq)
  return {
    kind: 'request',
    receiver: canisterIdFromU64(1000 + (seq % 7)),
    sender: canisterIdFromU64(seq % 5),
    methodName: 'ping',
    methodPayload,
    senderReplyCallback: seq
  }
}

export function response (seq: number): Response {
  return {
    kind: 'response',
    originator: canisterIdFromU64(seq % 5),
    respondent: canisterIdFromU64(1000),
    originatorReplyCallback: seq,
    payload: { data: new Uint8Array([seq & 0xff]) }
  }
}

export function seqOf (m: StreamMessage): number {
  return m.kind === 'request' ? m.senderReplyCallback : m.originatorReplyCallback
}
