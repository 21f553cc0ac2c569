import { readFile } from 'node:fs/promises'
import { HttpAgent, pollForResponse } from '@dfinity/agent'
import {
  decodeCanisterIdResult, encodeInstallCodeArgs, encodeProvisionalCreateCanisterArgs
} from '@icnet/http-endpoint'
import { Principal, toHex, type RegistryView, type SubnetId } from '@icnet/types'
import { UsageError } from '../errors.js'
import { CANISTER_USAGE } from './canister-usage.js'
import { openTestnet } from '../testnet/layout.js'
import { parseFlags, type FlagSpec } from './args.js'

/** Largest module `canister install` sends (the ingress argument limit is 2 MiB, the module goes inside). */
export const MAX_MODULE_BYTES = 2 * 1024 * 1024 - 4096
const MANAGEMENT = Principal.fromText('aaaaa-aa')

type Out = { log: (s: string) => void }

/** Splits `--flag value` pairs (per `spec`) from positional arguments. */
function split (argv: readonly string[], spec: Record<string, FlagSpec>): { flags: string[], positional: string[] } {
  const flags: string[] = []
  const positional: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (!a.startsWith('--')) { positional.push(a); continue }
    flags.push(a)
    const name = a.slice(2).split('=', 1)[0]!
    if (!a.includes('=') && spec[name]?.type !== 'boolean' && i + 1 < argv.length) flags.push(argv[++i]!)
  }
  return { flags, positional }
}

/** `--arg 0x…` is hex, anything else UTF-8 text. */
export function parseArg (s: string | undefined): Uint8Array {
  if (s === undefined) return new Uint8Array(0)
  if (/^0x(?:[0-9a-fA-F]{2})*$/.test(s)) return Uint8Array.from(Buffer.from(s.slice(2), 'hex'))
  return new TextEncoder().encode(s)
}

/** A subnet named by its id, or by its index in the registry (0 is the root subnet). */
function resolveSubnet (registry: RegistryView, s: string): SubnetId {
  const ids = registry.subnetIds()
  if (/^\d+$/.test(s)) {
    const id = ids[Number(s)]
    if (id === undefined) throw new UsageError(`no subnet ${s}: the testnet has ${ids.length}`)
    return id
  }
  const found = ids.find(id => id.toText() === s)
  if (found === undefined) throw new UsageError(`no subnet ${s.slice(0, 64)} in the registry`)
  return found
}

/** The HTTP endpoint of a node of `subnet` (the first with an http_url). */
function urlOf (registry: RegistryView, subnet: SubnetId): string {
  for (const n of registry.getSubnet(subnet)?.nodes ?? []) {
    const url = registry.getNode(n)?.httpUrl
    if (url !== undefined) return url
  }
  throw new UsageError(`no node of subnet ${subnet.toText()} has an http_url`)
}

async function agentFor (url: string): Promise<HttpAgent> {
  return await HttpAgent.create({ host: url, shouldFetchRootKey: true })
}

/** An update call, its reply read from a certificate the agent verified. */
async function certifiedCall (agent: HttpAgent, canisterId: Principal, methodName: string, arg: Uint8Array, effectiveCanisterId: Principal): Promise<Uint8Array> {
  const { requestId } = await agent.call(canisterId, { methodName, arg, effectiveCanisterId, callSync: false })
  return new Uint8Array((await pollForResponse(agent, effectiveCanisterId, requestId)).reply)
}

function show (reply: Uint8Array): string {
  const text = new TextDecoder('utf-8', { fatal: false }).decode(reply)
  // biome-ignore lint/suspicious/noControlCharactersInRegex: printable means no control characters
  const printable = reply.length > 0 && !/[\u0000-\u0008\u000e-\u001f\ufffd]/.test(text)
  return printable ? `0x${toHex(reply)} (${JSON.stringify(text)})` : `0x${toHex(reply)}`
}

/**
 * `icnet canister install --subnet S FILE.wasm`: creates a canister on subnet
 * S through the management canister (provisional_create_canister_with_cycles)
 * and installs the module, over the public HTTP API of a node of S.
 */
export async function canisterInstall (argv: readonly string[], out: Out): Promise<void> {
  const spec: Record<string, FlagSpec> = { subnet: { type: 'string', required: true }, dir: { type: 'string' }, arg: { type: 'string' } }
  const { flags, positional } = split(argv, spec)
  const f = parseFlags(flags, spec, 'canister install')
  if (positional.length !== 1) throw new UsageError('canister install: give exactly one FILE.wasm')
  const module = new Uint8Array(await readFile(positional[0]!))
  if (module.length > MAX_MODULE_BYTES) throw new UsageError(`canister install: module of ${module.length} bytes, at most ${MAX_MODULE_BYTES}`)
  const { registry } = await openTestnet((f.dir as string | undefined) ?? '.')
  const subnet = resolveSubnet(registry, f.subnet as string)
  const range = registry.routingTable().rangesOf(subnet)[0]
  if (range === undefined) throw new UsageError(`subnet ${subnet.toText()} has no canister ids`)
  const agent = await agentFor(urlOf(registry, subnet))
  const anyOfSubnet = Principal.fromUint8Array(range.start.toUint8Array())
  const created = await certifiedCall(agent, MANAGEMENT, 'provisional_create_canister_with_cycles', encodeProvisionalCreateCanisterArgs(), anyOfSubnet)
  const canisterId = Principal.fromUint8Array(decodeCanisterIdResult(created).toUint8Array())
  await certifiedCall(agent, MANAGEMENT, 'install_code', encodeInstallCodeArgs({ mode: 'install', canisterId, wasmModule: module, arg: parseArg(f.arg as string | undefined) }), canisterId)
  out.log(canisterId.toText())
}

/**
 * `icnet canister call CANISTER METHOD`: an update call (certified reply,
 * verified) or with `--query` a query (node-signed, verified), sent to a node
 * of the subnet that hosts the canister per the registry's routing table.
 */
export async function canisterCall (argv: readonly string[], out: Out): Promise<void> {
  const spec: Record<string, FlagSpec> = { dir: { type: 'string' }, arg: { type: 'string' }, query: { type: 'boolean' } }
  const { flags, positional } = split(argv, spec)
  const f = parseFlags(flags, spec, 'canister call')
  if (positional.length !== 2) throw new UsageError('canister call: give CANISTER and METHOD')
  let canisterId: Principal
  try { canisterId = Principal.fromText(positional[0]!) } catch { throw new UsageError(`canister call: ${positional[0]!.slice(0, 64)} is not a canister id`) }
  const method = positional[1]!
  const arg = parseArg(f.arg as string | undefined)
  const { registry } = await openTestnet((f.dir as string | undefined) ?? '.')
  const subnet = registry.routingTable().route(canisterId)
  if (subnet === undefined) throw new UsageError(`canister ${canisterId.toText()} is in no subnet's range`)
  const agent = await agentFor(urlOf(registry, subnet))
  if (f.query === true) {
    const r = await agent.query(canisterId, { methodName: method, arg })
    if (r.status !== 'replied') throw new UsageError(`query rejected (${r.reject_code}): ${r.reject_message}`)
    out.log(show(new Uint8Array(r.reply.arg)))
    return
  }
  out.log(show(await certifiedCall(agent, canisterId, method, arg, canisterId)))
}

/** Dispatches `icnet canister <install|call> …`. */
export async function canisterMain (argv: readonly string[], out: Out): Promise<number> {
  const [sub, ...rest] = argv
  if (sub === 'install') { await canisterInstall(rest, out); return 0 }
  if (sub === 'call') { await canisterCall(rest, out); return 0 }
  throw new UsageError(`canister: unknown subcommand "${String(sub)}"\n${CANISTER_USAGE}`)
}

