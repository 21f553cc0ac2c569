import { InvalidModuleError } from '../errors.js'
import { WasmReader } from './reader.js'

/** Value types by their binary encoding. */
export const ValType = { i32: 0x7f, i64: 0x7e, f32: 0x7d, f64: 0x7c, v128: 0x7b, funcref: 0x70, externref: 0x6f } as const

export const SectionId = {
  custom: 0, type: 1, import: 2, function: 3, table: 4, memory: 5, global: 6,
  export: 7, start: 8, element: 9, code: 10, data: 11, dataCount: 12
} as const

/** The order known sections must appear in (custom sections may appear anywhere). */
const SECTION_RANK: Record<number, number> = { 1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 7: 7, 8: 8, 9: 9, 12: 10, 10: 11, 11: 12 }
export function sectionRank (id: number): number { return SECTION_RANK[id] ?? 0 }

export interface FuncType { params: number[], results: number[] }
export interface Section { id: number, start: number, end: number }
export interface Import { module: string, name: string, kind: number, typeIndex: number }
export interface Export { name: string, kind: number, index: number }
export interface MemoryLimits { min: number, max: number | undefined }
export interface GlobalDecl { valType: number, mutable: boolean }
export interface FunctionBody { start: number, end: number }

export const ExternalKind = { function: 0, table: 1, memory: 2, global: 3 } as const

/**
 * The parts of a module the sandbox needs: signatures, imports, exports,
 * memory and global declarations, and where each function body lies. Bodies
 * are decoded later, by the instrumenter.
 */
export interface ParsedModule {
  bytes: Uint8Array
  sections: Section[]
  types: FuncType[]
  imports: Import[]
  importedFunctions: number
  importedGlobals: number
  functionTypes: number[]
  tableCount: number
  memories: MemoryLimits[]
  globals: GlobalDecl[]
  exports: Export[]
  start: number | undefined
  bodies: FunctionBody[]
}

function unsupported (what: string): never {
  throw new InvalidModuleError('unsupported-feature', `unsupported module feature: ${what}`)
}

function readValType (r: WasmReader): number {
  const t = r.u8()
  if (t === ValType.v128) unsupported('SIMD (v128)')
  if (t !== ValType.i32 && t !== ValType.i64 && t !== ValType.f32 && t !== ValType.f64 &&
      t !== ValType.funcref && t !== ValType.externref) r.fail(`unknown value type 0x${t.toString(16)}`)
  return t
}

function readLimits (r: WasmReader, what: string): MemoryLimits {
  const flags = r.u8()
  if (flags > 1) unsupported(`${what} with limit flags 0x${flags.toString(16)} (shared or 64-bit)`)
  const min = r.u32()
  const max = flags === 1 ? r.u32() : undefined
  return { min, max }
}

/** Skips a constant expression (global initialisers, segment offsets). */
function skipConstExpr (r: WasmReader): void {
  for (;;) {
    const op = r.u8()
    switch (op) {
      case 0x0b: return
      case 0x41: r.skipSleb(32); break
      case 0x42: r.skipSleb(64); break
      case 0x43: r.skip(4); break
      case 0x44: r.skip(8); break
      case 0x23: case 0xd2: r.u32(); break
      case 0xd0: r.u8(); break
      default: r.fail(`opcode 0x${op.toString(16)} in a constant expression`)
    }
  }
}

/**
 * Parses the module's section structure. Assumes nothing: every length is
 * checked against the section end before it is used.
 */
export function parseModule (bytes: Uint8Array): ParsedModule {
  const r = new WasmReader(bytes)
  const magic = r.take(4)
  if (magic[0] !== 0 || magic[1] !== 0x61 || magic[2] !== 0x73 || magic[3] !== 0x6d) r.fail('bad magic')
  const version = r.take(4)
  if (version[0] !== 1 || version[1] !== 0 || version[2] !== 0 || version[3] !== 0) r.fail('unsupported binary version')

  const m: ParsedModule = {
    bytes, sections: [], types: [], imports: [], importedFunctions: 0, importedGlobals: 0,
    functionTypes: [], tableCount: 0, memories: [], globals: [], exports: [], start: undefined, bodies: []
  }
  let lastRank = 0
  while (!r.done) {
    const id = r.u8()
    const size = r.u32()
    const start = r.pos
    r.skip(size)
    const end = r.pos
    if (id > 12) r.fail(`unknown section id ${id}`)
    const rank = sectionRank(id)
    if (rank !== 0) {
      if (rank <= lastRank) r.fail(`section ${id} out of order`)
      lastRank = rank
    }
    m.sections.push({ id, start, end })
    const s = new WasmReader(bytes, start, end)
    switch (id) {
      case SectionId.type: {
        const n = s.u32()
        for (let i = 0; i < n; i++) {
          if (s.u8() !== 0x60) s.fail('expected a function type')
          const params: number[] = []
          const np = s.u32()
          for (let j = 0; j < np; j++) params.push(readValType(s))
          const results: number[] = []
          const nr = s.u32()
          for (let j = 0; j < nr; j++) results.push(readValType(s))
          m.types.push({ params, results })
        }
        break
      }
      case SectionId.import: {
        const n = s.u32()
        for (let i = 0; i < n; i++) {
          const module = s.name()
          const name = s.name()
          const kind = s.u8()
          let typeIndex = -1
          if (kind === ExternalKind.function) {
            typeIndex = s.u32()
            m.importedFunctions++
          } else if (kind === ExternalKind.table) {
            readValType(s); readLimits(s, 'table')
          } else if (kind === ExternalKind.memory) {
            readLimits(s, 'memory')
          } else if (kind === ExternalKind.global) {
            readValType(s); s.u8()
            m.importedGlobals++
          } else {
            s.fail(`unknown import kind ${kind}`)
          }
          m.imports.push({ module, name, kind, typeIndex })
        }
        break
      }
      case SectionId.function: {
        const n = s.u32()
        for (let i = 0; i < n; i++) m.functionTypes.push(s.u32())
        break
      }
      case SectionId.table: {
        const n = s.u32()
        for (let i = 0; i < n; i++) { readValType(s); readLimits(s, 'table') }
        m.tableCount = n
        break
      }
      case SectionId.memory: {
        const n = s.u32()
        for (let i = 0; i < n; i++) m.memories.push(readLimits(s, 'memory'))
        break
      }
      case SectionId.global: {
        const n = s.u32()
        for (let i = 0; i < n; i++) {
          const valType = readValType(s)
          const mut = s.u8()
          if (mut > 1) s.fail('bad global mutability')
          skipConstExpr(s)
          m.globals.push({ valType, mutable: mut === 1 })
        }
        break
      }
      case SectionId.export: {
        const n = s.u32()
        for (let i = 0; i < n; i++) {
          const name = s.name()
          const kind = s.u8()
          const index = s.u32()
          m.exports.push({ name, kind, index })
        }
        break
      }
      case SectionId.start:
        m.start = s.u32()
        break
      case SectionId.code: {
        const n = s.u32()
        for (let i = 0; i < n; i++) {
          const len = s.u32()
          const bodyStart = s.pos
          s.skip(len)
          m.bodies.push({ start: bodyStart, end: s.pos })
        }
        break
      }
      default:
        // element, data, data count and custom sections are copied through untouched.
        s.pos = end
    }
    if (id !== SectionId.custom && id !== SectionId.element && id !== SectionId.data &&
        id !== SectionId.dataCount && s.pos !== end) {
      s.fail(`section ${id} has trailing bytes`)
    }
  }
  if (m.bodies.length !== m.functionTypes.length) r.fail('function and code section counts differ')
  for (const t of m.functionTypes) if (t >= m.types.length) r.fail('function type index out of range')
  return m
}

/** The signature of any function (imported or defined) by function index. */
export function functionType (m: ParsedModule, index: number): FuncType | undefined {
  if (index < m.importedFunctions) {
    let seen = 0
    for (const imp of m.imports) {
      if (imp.kind !== ExternalKind.function) continue
      if (seen === index) return m.types[imp.typeIndex]
      seen++
    }
    return undefined
  }
  const t = m.functionTypes[index - m.importedFunctions]
  return t === undefined ? undefined : m.types[t]
}
