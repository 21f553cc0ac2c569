/** Bounds on registry input, checked before parsing so a corrupt or hostile file cannot exhaust memory. */

/** Largest registry file accepted (a 100-subnet × 40-node registry is about 2 MiB). */
export const MAX_REGISTRY_FILE_BYTES = 32 * 1024 * 1024
/** Largest node config file accepted. */
export const MAX_NODE_CONFIG_BYTES = 64 * 1024
export const MAX_SUBNETS = 1024
export const MAX_NODES_PER_SUBNET = 256
export const MAX_ADDRESSES_PER_NODE = 16
export const MAX_ROUTING_ENTRIES = 65_536
export const MAX_MIGRATIONS = 4096
/** Default polling period of the registry watcher. */
export const DEFAULT_WATCH_INTERVAL_MS = 1000
