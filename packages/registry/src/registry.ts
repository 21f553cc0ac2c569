import { type CanisterIdRange, type NodeId, type NodeRecord, NotFoundError, type RegistryView, RoutingTable, type SubnetId, type SubnetRecord, fromHex, principalFromText, principalText, type CanisterId, rangeContains } from '@icnet/types'
import { validateRecords } from './codec.js'
import type { RegistryRecords, SubnetParams } from './records.js'

export interface CanisterMigration {
  range: CanisterIdRange
  /** Subnets the range passes through, source first. */
  trace: SubnetId[]
}

/** A subnet record plus its protocol parameters. */
export interface SubnetRecordWithParams extends SubnetRecord {
  params: SubnetParams
  /** Shares needed for a threshold signature. */
  threshold: number
  /** Public threshold key shares, parallel to `nodes`. */
  thresholdShares: Array<{ index: number, publicKey: Uint8Array }>
}

/**
 * The typed, indexed view of one registry version. Immutable: a new version
 * is a new `Registry`. Implements `RegistryView` so protocol packages can take it.
 */
export class Registry implements RegistryView {
  readonly version: number
  readonly records: Readonly<RegistryRecords>
  private readonly subnets = new Map<string, SubnetRecordWithParams>()
  private readonly nodes = new Map<NodeId, NodeRecord>()
  private readonly table: RoutingTable
  private readonly migrations: CanisterMigration[]
  private readonly root: SubnetId

  constructor (records: RegistryRecords) {
    records = validateRecords(records)
    this.version = records.version
    this.records = records
    for (const s of records.subnets) {
      const id = principalFromText(s.id)
      this.subnets.set(id.toText(), {
        id,
        type: s.type,
        nodes: [...s.nodes],
        publicKey: fromHex(s.publicKey),
        publicKeyDer: fromHex(s.publicKeyDer),
        params: { ...s.params },
        threshold: s.threshold,
        thresholdShares: s.thresholdShares.map(t => ({ index: t.index, publicKey: fromHex(t.publicKey) }))
      })
    }
    for (const n of records.nodes) {
      const rec: NodeRecord = { id: n.id, subnetId: principalFromText(n.subnetId), p2pAddresses: [...n.p2pAddresses], blsPublicKey: fromHex(n.blsPublicKey) }
      if (n.httpUrl !== undefined) rec.httpUrl = n.httpUrl
      this.nodes.set(n.id, rec)
    }
    this.table = new RoutingTable(records.routingTable.map(e => ({
      range: { start: principalFromText(e.start), end: principalFromText(e.end) },
      subnetId: principalFromText(e.subnetId)
    })))
    this.migrations = records.canisterMigrations.map(m => ({
      range: { start: principalFromText(m.start), end: principalFromText(m.end) },
      trace: m.trace.map(principalFromText)
    }))
    this.root = principalFromText(records.rootSubnetId)
    if (!this.subnets.has(this.root.toText())) throw new NotFoundError(`registry: root subnet ${records.rootSubnetId} is not a subnet`)
  }

  subnetIds (): SubnetId[] {
    return [...this.subnets.values()].map(s => s.id)
  }

  getSubnet (id: SubnetId): SubnetRecordWithParams | undefined {
    return this.subnets.get(principalText(id))
  }

  /** Like `getSubnet`, but throws `NotFoundError` for an unknown subnet. */
  requireSubnet (id: SubnetId): SubnetRecordWithParams {
    const s = this.getSubnet(id)
    if (s == null) throw new NotFoundError(`subnet ${id.toText()} is not in registry version ${this.version}`)
    return s
  }

  getNode (id: NodeId): NodeRecord | undefined {
    return this.nodes.get(id)
  }

  subnetOfNode (id: NodeId): SubnetId | undefined {
    return this.nodes.get(id)?.subnetId
  }

  /** The subnet's member node records, in registry (bitmap) order. */
  subnetNodes (id: SubnetId): NodeRecord[] {
    return this.requireSubnet(id).nodes.map(n => {
      const rec = this.nodes.get(n)
      if (rec == null) throw new NotFoundError(`node ${n} of subnet ${id.toText()} has no node record`)
      return rec
    })
  }

  routingTable (): RoutingTable {
    return this.table
  }

  rootSubnetId (): SubnetId {
    return this.root
  }

  canisterMigrations (): CanisterMigration[] {
    return this.migrations
  }

  /** The migration trace covering `canister`, if the canister is moving. */
  migrationOf (canister: CanisterId): CanisterMigration | undefined {
    return this.migrations.find(m => rangeContains(m.range, canister))
  }
}
