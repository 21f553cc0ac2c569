import { InvalidEncodingError, LimitExceededError, principalFromText } from '@icnet/types'
import { MAX_ADDRESSES_PER_NODE, MAX_MIGRATIONS, MAX_NODES_PER_SUBNET, MAX_REGISTRY_FILE_BYTES, MAX_ROUTING_ENTRIES, MAX_SUBNETS } from './limits.js'
import { DEFAULT_SUBNET_PARAMS, type CanisterMigrationJson, type NodeRecordJson, type RegistryRecords, type RoutingTableEntryJson, type SubnetParams, type SubnetRecordJson } from './records.js'

const HEX = /^[0-9a-f]*$/

function fail (what: string): never {
  throw new InvalidEncodingError(`registry: ${what}`)
}

function obj (v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(`${what} is not an object`)
  return v as Record<string, unknown>
}

function str (v: unknown, what: string, max = 1024): string {
  if (typeof v !== 'string' || v.length > max) fail(`${what} is not a string of at most ${max} chars`)
  return v
}

function hex (v: unknown, what: string, bytes?: number): string {
  const s = str(v, what, 4096)
  if (!HEX.test(s) || s.length % 2 !== 0) fail(`${what} is not lowercase hex`)
  if (bytes !== undefined && s.length !== bytes * 2) fail(`${what} must be ${bytes} bytes`)
  return s
}

function principal (v: unknown, what: string): string {
  const s = str(v, what, 128)
  principalFromText(s)
  return s
}

function arr (v: unknown, what: string, max: number): unknown[] {
  if (!Array.isArray(v)) fail(`${what} is not an array`)
  if (v.length > max) throw new LimitExceededError(`registry: ${what} has ${v.length} entries (max ${max})`)
  return v
}

function posInt (v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail(`${what} is not a non-negative integer`)
  return v
}

function params (v: unknown, what: string): SubnetParams {
  const o = v === undefined ? {} : obj(v, what)
  const out = { ...DEFAULT_SUBNET_PARAMS }
  for (const key of Object.keys(DEFAULT_SUBNET_PARAMS) as Array<keyof SubnetParams>) {
    if (o[key] !== undefined) out[key] = posInt(o[key], `${what}.${key}`)
  }
  if (out.checkpointInterval < 1) fail(`${what}.checkpointInterval must be at least 1`)
  if (out.streamMaxMessages < 1) fail(`${what}.streamMaxMessages must be at least 1`)
  if (out.maxXNetPayloadBytes < 1) fail(`${what}.maxXNetPayloadBytes must be at least 1`)
  return out
}

function subnet (v: unknown, i: number): SubnetRecordJson {
  const o = obj(v, `subnets[${i}]`)
  const type = o.type
  if (type !== 'application' && type !== 'system') fail(`subnets[${i}].type must be 'application' or 'system'`)
  const nodes = arr(o.nodes, `subnets[${i}].nodes`, MAX_NODES_PER_SUBNET).map((n, j) => str(n, `subnets[${i}].nodes[${j}]`, 128))
  const shares = arr(o.thresholdShares, `subnets[${i}].thresholdShares`, MAX_NODES_PER_SUBNET).map((v, j) => {
    const so = obj(v, `subnets[${i}].thresholdShares[${j}]`)
    return { index: posInt(so.index, `subnets[${i}].thresholdShares[${j}].index`), publicKey: hex(so.publicKey, `subnets[${i}].thresholdShares[${j}].publicKey`, 96) }
  })
  if (shares.length !== nodes.length) fail(`subnets[${i}].thresholdShares must have one entry per node`)
  const threshold = posInt(o.threshold, `subnets[${i}].threshold`)
  if (threshold < 1 || threshold > nodes.length) fail(`subnets[${i}].threshold must be in [1, ${nodes.length}]`)
  return {
    id: principal(o.id, `subnets[${i}].id`),
    type,
    nodes,
    publicKey: hex(o.publicKey, `subnets[${i}].publicKey`, 96),
    publicKeyDer: hex(o.publicKeyDer, `subnets[${i}].publicKeyDer`),
    threshold,
    thresholdShares: shares,
    params: params(o.params, `subnets[${i}].params`)
  }
}

function node (v: unknown, i: number): NodeRecordJson {
  const o = obj(v, `nodes[${i}]`)
  const out: NodeRecordJson = {
    id: str(o.id, `nodes[${i}].id`, 128),
    subnetId: principal(o.subnetId, `nodes[${i}].subnetId`),
    p2pAddresses: arr(o.p2pAddresses, `nodes[${i}].p2pAddresses`, MAX_ADDRESSES_PER_NODE).map((a, j) => str(a, `nodes[${i}].p2pAddresses[${j}]`, 512)),
    blsPublicKey: hex(o.blsPublicKey, `nodes[${i}].blsPublicKey`, 48),
    blsPossessionProof: hex(o.blsPossessionProof, `nodes[${i}].blsPossessionProof`, 96)
  }
  if (o.httpUrl !== undefined) out.httpUrl = str(o.httpUrl, `nodes[${i}].httpUrl`, 512)
  return out
}

function route (v: unknown, i: number): RoutingTableEntryJson {
  const o = obj(v, `routingTable[${i}]`)
  return { start: principal(o.start, `routingTable[${i}].start`), end: principal(o.end, `routingTable[${i}].end`), subnetId: principal(o.subnetId, `routingTable[${i}].subnetId`) }
}

function migration (v: unknown, i: number): CanisterMigrationJson {
  const o = obj(v, `canisterMigrations[${i}]`)
  return {
    start: principal(o.start, `canisterMigrations[${i}].start`),
    end: principal(o.end, `canisterMigrations[${i}].end`),
    trace: arr(o.trace, `canisterMigrations[${i}].trace`, 16).map((s, j) => principal(s, `canisterMigrations[${i}].trace[${j}]`))
  }
}

/** Checks the shape and bounds of parsed registry JSON and fills in parameter defaults. */
export function validateRecords (value: unknown): RegistryRecords {
  const o = obj(value, 'registry')
  const version = posInt(o.version, 'version')
  if (version < 1) fail('version must be at least 1')
  return {
    version,
    rootSubnetId: principal(o.rootSubnetId, 'rootSubnetId'),
    subnets: arr(o.subnets, 'subnets', MAX_SUBNETS).map(subnet),
    nodes: arr(o.nodes, 'nodes', MAX_SUBNETS * MAX_NODES_PER_SUBNET).map(node),
    routingTable: arr(o.routingTable ?? [], 'routingTable', MAX_ROUTING_ENTRIES).map(route),
    canisterMigrations: arr(o.canisterMigrations ?? [], 'canisterMigrations', MAX_MIGRATIONS).map(migration)
  }
}

export function encodeRecords (records: RegistryRecords): Uint8Array {
  return new TextEncoder().encode(`${JSON.stringify(records, null, 2)}\n`)
}

/** Decodes a registry file, bounding its size before parsing. */
export function decodeRecords (bytes: Uint8Array): RegistryRecords {
  if (bytes.byteLength > MAX_REGISTRY_FILE_BYTES) throw new LimitExceededError(`registry file of ${bytes.byteLength} bytes exceeds ${MAX_REGISTRY_FILE_BYTES}`)
  let parsed: unknown
  try {
    parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch (err) {
    throw new InvalidEncodingError('registry: not UTF-8 JSON', { cause: err })
  }
  return validateRecords(parsed)
}
