/**
 * Which read_state paths a sender may ask for, by the specification's rules
 * ("Request: Read state"). Unknown path shapes answer 400; paths the sender
 * may not read (another sender's request status, another canister's data)
 * answer 403.
 */
import { equalBytes, type Principal } from '@icnet/types'
import { HttpRequestError } from './errors.js'
import type { HttpBackend } from './backend.js'

export type ReadStateTarget =
  | { kind: 'canister', effectiveCanisterId: Principal }
  | { kind: 'subnet', effectiveSubnetId: Principal }

const utf8 = new TextDecoder('utf-8', { fatal: true })
const REQUEST_STATUS_FIELDS = new Set(['status', 'reply', 'reject_code', 'reject_message', 'error_code'])
const SUBNET_FIELDS = new Set(['public_key', 'type', 'canister_ranges', 'node', 'metrics'])
const CANISTER_FIELDS = new Set(['module_hash', 'controllers', 'metadata'])

function label (l: Uint8Array): string | undefined {
  try {
    return utf8.decode(l)
  } catch {
    return undefined
  }
}

const bad = (message: string): HttpRequestError => new HttpRequestError(400, 'forbidden-path', message)
const forbidden = (message: string): HttpRequestError => new HttpRequestError(403, 'forbidden-path', message)

export function checkReadStatePaths (paths: readonly Uint8Array[][], sender: Principal, target: ReadStateTarget, backend: Pick<HttpBackend, 'ingressOrigin' | 'routeCanister'>): void {
  let requestId: Uint8Array | undefined
  for (const path of paths) {
    if (path.length === 0) throw bad('an empty path cannot be requested')
    const head = label(path[0]!)
    switch (head) {
      case 'time':
        if (path.length !== 1) throw bad('/time has no children')
        break
      case 'api_boundary_nodes':
        if (path.length > 3) throw bad('unknown /api_boundary_nodes path')
        break
      case 'subnet': {
        if (path.length > 5) throw bad('unknown /subnet path')
        if (path.length >= 3) {
          const field = label(path[2]!)
          if (field === undefined || !SUBNET_FIELDS.has(field)) throw bad('unknown /subnet/<id> field')
          if (field === 'metrics' && !(target.kind === 'subnet' && equalBytes(path[1]!, target.effectiveSubnetId.toUint8Array()))) {
            throw forbidden('/subnet/<id>/metrics can only be read at /api/v{2,3}/subnet/<id>/read_state')
          }
          if (field !== 'node' && path.length > 3) throw bad('unknown /subnet path')
          if (field === 'node' && path.length === 5 && label(path[4]!) !== 'public_key') throw bad('unknown /subnet/<id>/node/<node> field')
        }
        break
      }
      case 'canister_ranges':
        if (target.kind !== 'subnet') throw forbidden('/canister_ranges can only be read at /api/v{2,3}/subnet/<id>/read_state')
        if (path.length > 3) throw bad('unknown /canister_ranges path')
        break
      case 'request_status': {
        if (path.length < 2 || path.length > 3) throw bad('request status paths are /request_status/<id>[/<field>]')
        if (path[1]!.length !== 32) throw bad('a request id is 32 bytes')
        if (path.length === 3) {
          const field = label(path[2]!)
          if (field === undefined || !REQUEST_STATUS_FIELDS.has(field)) throw bad('unknown /request_status/<id> field')
        }
        if (requestId !== undefined && !equalBytes(requestId, path[1]!)) throw bad('all request_status paths must name the same request')
        requestId = path[1]!
        break
      }
      case 'canister': {
        if (target.kind !== 'canister') throw forbidden('/canister paths can only be read at /api/v{2,3}/canister/<id>/read_state')
        if (path.length < 3) throw bad('canister paths are /canister/<id>/<field>')
        if (!equalBytes(path[1]!, target.effectiveCanisterId.toUint8Array())) throw forbidden('canister paths can only name the effective canister id')
        const field = label(path[2]!)
        if (field === undefined || !CANISTER_FIELDS.has(field)) throw bad('unknown /canister/<id> field')
        if (field === 'metadata' ? path.length !== 4 || label(path[3]!) === undefined : path.length !== 3) throw bad('unknown /canister/<id> path')
        break
      }
      default:
        throw bad('unknown path: paths start with time, subnet, canister_ranges, request_status, canister or api_boundary_nodes')
    }
  }
  if (requestId !== undefined) {
    const origin = backend.ingressOrigin(requestId)
    if (origin === undefined) return // a request the node does not know: its status can be read (it proves absence)
    if (!equalBytes(origin.sender.toUint8Array(), sender.toUint8Array())) throw forbidden('the request status belongs to another sender')
    if (target.kind === 'canister') {
      if (!equalBytes(origin.effectiveCanisterId.toUint8Array(), target.effectiveCanisterId.toUint8Array())) throw forbidden('the request was sent to another effective canister id')
    } else {
      const subnet = backend.routeCanister(origin.effectiveCanisterId)
      if (subnet === undefined || !equalBytes(subnet.toUint8Array(), target.effectiveSubnetId.toUint8Array())) throw forbidden('the request was sent to another subnet')
    }
  }
}
