import { InvalidModuleError } from '../errors.js'
import { ExternalKind, SectionId, ValType, functionType, parseModule, sectionRank } from './module.js'
import { WasmReader, WasmWriter } from './reader.js'
import type { ParsedModule } from './module.js'

/** Names the instrumenter adds to the export section; canisters may not use the prefix. */
export const EXPORT_PREFIX = '__icnet_'
export const BUDGET_EXPORT = '__icnet_budget'
export const MEMORY_EXPORT = '__icnet_memory'
export const TABLE_EXPORT = '__icnet_table'
export const START_EXPORT = '__icnet_start'
export const GLOBAL_EXPORT_PREFIX = '__icnet_g'

export interface InstrumentOptions {
  /** Cap on the wasm memory size in 64 KiB pages; written into the memory's maximum. */
  maxHeapPages: number
  /** Emit no metering code (the benchmark baseline). Everything else is identical. */
  meter?: boolean
}

export interface InstrumentedModule {
  bytes: Uint8Array
  parsed: ParsedModule
  /** Indices of the module's own mutable globals, exported as `__icnet_g<i>` (canister state). */
  mutableGlobals: number[]
  hasMemory: boolean
  hasTable: boolean
  hasStart: boolean
}

const Op = {
  unreachable: 0x00, block: 0x02, loop: 0x03, if: 0x04, else: 0x05, end: 0x0b, br: 0x0c, brIf: 0x0d,
  brTable: 0x0e, globalGet: 0x23, globalSet: 0x24, localGet: 0x20, localTee: 0x22, i64Const: 0x42,
  i64Sub: 0x7d, i64LtS: 0x53, i64ExtendI32U: 0xad, prefixFC: 0xfc
} as const

/** Instructions that cost nothing: they only give structure. */
const FREE = new Set<number>([0x01, Op.block, Op.loop, Op.else, Op.end])

interface Instr {
  start: number
  end: number
  op: number
  /** Sub-opcode for 0xFC instructions. */
  sub: number
}

function unsupported (what: string): InvalidModuleError {
  return new InvalidModuleError('unsupported-feature', `unsupported instruction: ${what}`)
}

/** Decodes one function body's instructions (positions only), refusing what the sandbox cannot persist. */
function decodeBody (r: WasmReader): Instr[] {
  const out: Instr[] = []
  let depth = 1
  while (depth > 0) {
    const start = r.pos
    const op = r.u8()
    let sub = -1
    switch (op) {
      case Op.block: case Op.loop: case Op.if: {
        const b = r.peek()
        if (b === 0x40 || b === ValType.i32 || b === ValType.i64 || b === ValType.f32 || b === ValType.f64 ||
            b === ValType.funcref || b === ValType.externref) r.u8()
        else if (b === ValType.v128) throw unsupported('SIMD block type')
        else r.skipSleb(33)
        depth++
        break
      }
      case Op.end: depth--; break
      case 0x00: case 0x01: case Op.else: case 0x0f: case 0x1a: case 0x1b: case 0xd1: break
      case Op.br: case Op.brIf: case 0x10: case 0x20: case 0x21: case 0x22: case 0x23: case 0x24: case 0x25: case 0xd2:
        r.u32(); break
      case Op.brTable: {
        const n = r.u32()
        for (let i = 0; i <= n; i++) r.u32()
        break
      }
      case 0x11: r.u32(); r.u32(); break
      case 0x1c: {
        const n = r.u32()
        for (let i = 0; i < n; i++) r.u8()
        break
      }
      case 0x26: throw unsupported('table.set (tables are not canister state)')
      case 0x3f: case 0x40:
        if (r.u32() !== 0) throw unsupported('multiple memories')
        break
      case 0x41: r.skipSleb(32); break
      case Op.i64Const: r.skipSleb(64); break
      case 0x43: r.skip(4); break
      case 0x44: r.skip(8); break
      case 0xd0: r.u8(); break
      case Op.prefixFC: {
        sub = r.u32()
        if (sub <= 7) break
        if (sub === 8) { r.u32(); if (r.u32() !== 0) throw unsupported('multiple memories'); break }
        if (sub === 10) { if (r.u32() !== 0 || r.u32() !== 0) throw unsupported('multiple memories'); break }
        if (sub === 11) { if (r.u32() !== 0) throw unsupported('multiple memories'); break }
        if (sub === 16) { r.u32(); break }
        if (sub === 9) throw unsupported('data.drop (segment state is not canister state)')
        if (sub >= 12 && sub <= 17) throw unsupported('table mutation (tables are not canister state)')
        throw unsupported(`0xfc ${sub}`)
      }
      case 0xfd: throw unsupported('SIMD')
      case 0xfe: throw unsupported('threads / atomics')
      case 0x06: case 0x07: case 0x08: case 0x09: case 0x18: case 0x19: case 0x1f: throw unsupported('exception handling')
      case 0x12: case 0x13: case 0x14: case 0x15: throw unsupported('tail calls / typed function references')
      default:
        if (op >= 0x28 && op <= 0x3e) {
          const align = r.u32()
          if (align >= 64) throw unsupported('multiple memories')
          r.u32()
        } else if (!(op >= 0x45 && op <= 0xc4)) {
          r.fail(`unknown opcode 0x${op.toString(16)}`)
        }
    }
    out.push({ start, end: r.pos, op, sub })
  }
  if (!r.done) r.fail('trailing bytes after function body')
  return out
}

/**
 * True when the next instruction is a branch target or conditionally entered:
 * a new metered region starts there. Code after a `br_if` stays in its region
 * (charged even when the branch is taken): one charge per loop iteration
 * instead of two, at the price of a deterministic over-count on early exits.
 */
function startsRegionAfter (op: number): boolean {
  return op === Op.loop || op === Op.if || op === Op.else || op === Op.end
}

function isBulkMemory (i: Instr): boolean {
  return i.op === Op.prefixFC && (i.sub === 8 || i.sub === 10 || i.sub === 11)
}

/**
 * Rewrites one body: every region (straight-line code between branch targets)
 * is charged its instruction count at its start; function entries and loop
 * headers also check the budget, so every loop iteration is checked. Bulk memory
 * operations are charged one instruction per byte. Two locals are appended
 * after the parameters and declared locals: an i64 for the checked charge and,
 * when bulk memory is used, an i32 for the byte count.
 */
function meterBody (m: ParsedModule, bodyStart: number, bodyEnd: number, budget: number, paramCount: number): Uint8Array {
  const r = new WasmReader(m.bytes, bodyStart, bodyEnd)
  const groups = r.u32()
  const groupsStart = r.pos
  let declared = 0
  for (let i = 0; i < groups; i++) {
    declared += r.u32()
    if (declared > 50_000) throw new InvalidModuleError('malformed', 'function declares too many locals')
    r.u8()
  }
  const localsEnd = r.pos
  const instrs = decodeBody(r)
  const usesBulk = instrs.some(isBulkMemory)
  const w = new WasmWriter()
  w.u32(usesBulk ? groups + 2 : groups + 1)
  w.bytes(m.bytes.subarray(groupsStart, localsEnd))
  w.u32(1).byte(ValType.i64)
  if (usesBulk) w.u32(1).byte(ValType.i32)
  const first = paramCount + declared
  return emitMetered(w, m.bytes, instrs, budget, first, usesBulk ? first + 1 : -1)
}

function emitCharge (w: WasmWriter, budget: number, cost: number, check: boolean, tmp64: number): void {
  if (!check) {
    if (cost > 0) w.byte(Op.globalGet).u32(budget).byte(Op.i64Const).sleb64(BigInt(cost)).byte(Op.i64Sub).byte(Op.globalSet).u32(budget)
    return
  }
  // budget -= cost; if (budget < 0) unreachable. The host tells this trap apart by the negative budget.
  w.byte(Op.globalGet).u32(budget)
  if (cost > 0) {
    w.byte(Op.i64Const).sleb64(BigInt(cost)).byte(Op.i64Sub).byte(Op.localTee).u32(tmp64).byte(Op.globalSet).u32(budget).byte(Op.localGet).u32(tmp64)
  }
  w.byte(Op.i64Const).byte(0).byte(Op.i64LtS).byte(Op.if).byte(0x40).byte(Op.unreachable).byte(Op.end)
}

function emitMetered (w: WasmWriter, bytes: Uint8Array, instrs: Instr[], budget: number, tmp64: number, tmp: number): Uint8Array {
  // Cost of the region starting at each region-start index.
  const regionCost = new Map<number, number>()
  let regionStart = 0
  let cost = 0
  for (let i = 0; i < instrs.length; i++) {
    const ins = instrs[i]!
    if (!FREE.has(ins.op)) cost++
    if (startsRegionAfter(ins.op) || i === instrs.length - 1) {
      regionCost.set(regionStart, cost)
      regionStart = i + 1
      cost = 0
    }
  }
  const body = new WasmWriter()
  body.bytes(w.finish())
  for (let i = 0; i < instrs.length; i++) {
    const c = regionCost.get(i)
    if (c !== undefined) {
      const check = i === 0 || instrs[i - 1]!.op === Op.loop
      emitCharge(body, budget, c, check, tmp64)
    }
    const ins = instrs[i]!
    if (tmp >= 0 && isBulkMemory(ins)) {
      // The byte count is on top of the stack: charge it without consuming it.
      body.byte(Op.localTee).u32(tmp)
        .byte(Op.globalGet).u32(budget).byte(Op.localGet).u32(tmp).byte(Op.i64ExtendI32U).byte(Op.i64Sub)
        .byte(Op.globalSet).u32(budget)
    }
    body.bytes(bytes.subarray(ins.start, ins.end))
  }
  return body.finish()
}

function section (out: WasmWriter, id: number, content: Uint8Array): void {
  out.byte(id).u32(content.length).bytes(content)
}

/**
 * Validates and instruments a canister module: adds the instruction budget
 * global and the metering code, caps the memory maximum, exports the memory,
 * table and mutable globals (they are canister state the host must persist),
 * and turns the start function into an export so it runs only at install.
 */
export function instrumentModule (bytes: Uint8Array, options: InstrumentOptions): InstrumentedModule {
  if (!WebAssembly.validate(bytes as Uint8Array<ArrayBuffer>)) {
    let detail = ''
    try { new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>) } catch (err: any) { detail = `: ${String(err?.message ?? err)}` }
    throw new InvalidModuleError('malformed', `module fails WebAssembly validation${detail}`)
  }
  const m = parseModule(bytes)
  const meter = options.meter !== false

  for (const imp of m.imports) {
    if (imp.kind !== ExternalKind.function) {
      throw new InvalidModuleError('bad-import', `import ${imp.module}.${imp.name}: only function imports are allowed (memory, tables and globals are the canister's own)`)
    }
    if (imp.module !== 'ic0') {
      throw new InvalidModuleError('bad-import', `import ${imp.module}.${imp.name}: only the "ic0" system API can be imported`)
    }
  }
  for (const e of m.exports) {
    if (e.name.startsWith(EXPORT_PREFIX)) throw new InvalidModuleError('bad-export', `export name ${e.name} uses the reserved prefix ${EXPORT_PREFIX}`)
    if (e.name.startsWith('canister_')) {
      const t = e.kind === ExternalKind.function ? functionType(m, e.index) : undefined
      if (t === undefined || t.params.length !== 0 || t.results.length !== 0) {
        throw new InvalidModuleError('bad-export', `export ${JSON.stringify(e.name)} must be a function of type () -> ()`)
      }
    }
  }
  if (m.memories.length > 1) throw new InvalidModuleError('unsupported-feature', 'more than one memory')
  const mem = m.memories[0]
  if (mem !== undefined && mem.min > options.maxHeapPages) {
    throw new InvalidModuleError('memory-limit', `module needs ${mem.min} wasm pages of memory, the limit is ${options.maxHeapPages}`)
  }
  if (m.tableCount > 1) throw new InvalidModuleError('unsupported-feature', 'more than one table')

  const budgetGlobal = m.importedGlobals + m.globals.length
  const mutableGlobals = m.globals.flatMap((g, i) => g.mutable ? [m.importedGlobals + i] : [])
  const newExports: Array<{ name: string, kind: number, index: number }> = [
    { name: BUDGET_EXPORT, kind: ExternalKind.global, index: budgetGlobal },
    ...mutableGlobals.map(index => ({ name: `${GLOBAL_EXPORT_PREFIX}${index}`, kind: ExternalKind.global, index }))
  ]
  if (mem !== undefined) newExports.push({ name: MEMORY_EXPORT, kind: ExternalKind.memory, index: 0 })
  if (m.tableCount === 1) newExports.push({ name: TABLE_EXPORT, kind: ExternalKind.table, index: 0 })
  if (m.start !== undefined) newExports.push({ name: START_EXPORT, kind: ExternalKind.function, index: m.start })

  const synthesized = new Map<number, Uint8Array>()
  const replace = new Map<number, Uint8Array>()

  // Globals: append the budget counter (mutable i64, initially 0).
  {
    const w = new WasmWriter().u32(m.globals.length + 1)
    const s = m.sections.find(x => x.id === SectionId.global)
    if (s !== undefined) {
      const r = new WasmReader(bytes, s.start, s.end)
      r.u32()
      w.bytes(bytes.subarray(r.pos, s.end))
    }
    w.byte(ValType.i64).byte(1).byte(Op.i64Const).byte(0).byte(Op.end)
    ;(s !== undefined ? replace : synthesized).set(SectionId.global, w.finish())
  }
  // Exports.
  {
    const w = new WasmWriter().u32(m.exports.length + newExports.length)
    const s = m.sections.find(x => x.id === SectionId.export)
    if (s !== undefined) {
      const r = new WasmReader(bytes, s.start, s.end)
      r.u32()
      w.bytes(bytes.subarray(r.pos, s.end))
    }
    for (const e of newExports) w.name(e.name).byte(e.kind).u32(e.index)
    ;(s !== undefined ? replace : synthesized).set(SectionId.export, w.finish())
  }
  // Memory: cap the maximum so `memory.grow` fails (returns -1) past the limit.
  if (mem !== undefined) {
    const max = Math.min(mem.max ?? options.maxHeapPages, options.maxHeapPages)
    replace.set(SectionId.memory, new WasmWriter().u32(1).byte(1).u32(mem.min).u32(max).finish())
  }
  // Start: removed; it runs once, at install, through its export.
  if (m.start !== undefined) replace.set(SectionId.start, new Uint8Array(0))
  // Code.
  {
    const s = m.sections.find(x => x.id === SectionId.code)
    if (s !== undefined) {
      const w = new WasmWriter().u32(m.bodies.length)
      m.bodies.forEach((b, i) => {
        const t = m.types[m.functionTypes[i]!]!
        const body = meter ? meterBody(m, b.start, b.end, budgetGlobal, t.params.length) : checkedCopy(m, b.start, b.end)
        w.u32(body.length).bytes(body)
      })
      replace.set(SectionId.code, w.finish())
    }
  }

  const out = new WasmWriter().bytes(bytes.subarray(0, 8))
  const pending = [...synthesized.entries()].sort((a, b) => sectionRank(a[0]) - sectionRank(b[0]))
  const flushBefore = (rank: number): void => {
    while (pending.length > 0 && sectionRank(pending[0]![0]) < rank) {
      const [id, content] = pending.shift()!
      section(out, id, content)
    }
  }
  for (const s of m.sections) {
    const rank = sectionRank(s.id)
    if (rank !== 0) flushBefore(rank)
    const r = replace.get(s.id)
    if (s.id === SectionId.start && r !== undefined) continue
    section(out, s.id, r ?? bytes.subarray(s.start, s.end))
  }
  flushBefore(Number.MAX_SAFE_INTEGER)
  const result = out.finish()
  if (!WebAssembly.validate(result as Uint8Array<ArrayBuffer>)) {
    throw new InvalidModuleError('unsupported-feature', 'the instrumented module does not validate (please report this module)')
  }
  return { bytes: result, parsed: m, mutableGlobals, hasMemory: mem !== undefined, hasTable: m.tableCount === 1, hasStart: m.start !== undefined }
}

/** The uninstrumented path still decodes every body, so the same modules are refused. */
function checkedCopy (m: ParsedModule, start: number, end: number): Uint8Array {
  const r = new WasmReader(m.bytes, start, end)
  const groups = r.u32()
  for (let i = 0; i < groups; i++) { r.u32(); r.u8() }
  decodeBody(r)
  return m.bytes.subarray(start, end)
}
