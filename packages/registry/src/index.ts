/**
 * @packageDocumentation
 *
 * The icnet registry: versioned records of subnets (type, nodes, threshold
 * public key, parameters), nodes (peer id, addresses, BLS key), the routing
 * table and canister migrations; a file-backed store with atomic writes, a
 * watcher for new versions, and testnet genesis that deals every key.
 */
export * from './records.js'
export { validateRecords, encodeRecords, decodeRecords } from './codec.js'
export { Registry, type CanisterMigration, type SubnetRecordWithParams } from './registry.js'
export { FileRegistryStore, RegistryVersionConflictError } from './store.js'
export { RegistryWatcher, type RegistryWatcherInit } from './watcher.js'
export { writeFileAtomic, type AtomicWriteOptions } from './atomic-file.js'
export { type NodeConfig, readNodeConfig, writeNodeConfig } from './node-config.js'
export { initTestnet, type InitTestnetOptions, type TestnetLayout, CANISTER_IDS_PER_SUBNET } from './genesis.js'
export * from './limits.js'
