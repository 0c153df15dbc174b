/**
 * The canonical argument hash behind `Memoize`'s default keys: a prefix-free, type-tagged byte encoding of a value,
 * hashed with SHA-256. Equal data gives equal bytes in every process (object keys sorted, `Map` and `Set` members
 * sorted by their own encodings, typed arrays by content in little-endian order), and values of distinct types never
 * share an encoding. Numbers compare as `Object.is` does: every `NaN` is one value and `-0` is not `0`. What cannot
 * be encoded faithfully (a function, a symbol, a cycle, a class instance, a boxed primitive) is reported, not guessed.
 *
 * No package on npm met these rules: `object-hash` hashes functions by their source and marks cycles instead of
 * refusing them, `safe-stable-stringify` and `fast-json-stable-stringify` turn a `Map` or a `Set` into `{}` and
 * either drop or reject `bigint`; none encodes typed arrays by content with their type.
 *
 * @internal
 */
import * as crypto from "node:crypto"
import * as os from "node:os"

/** Why a value cannot be encoded, and where in the arguments. @internal */
export interface Unencodable {
  readonly reason: string
  readonly path: ReadonlyArray<string | number>
}

class Refused {
  constructor(readonly reason: string, readonly path: Array<string | number>) {}
}

// One tag byte per kind: distinct types never share a first byte.
const T = {
  undefined: 0x75, // u
  null: 0x6e, // n
  true: 0x74, // t
  false: 0x66, // f
  number: 0x64, // d
  bigint: 0x62, // b
  string: 0x73, // s
  array: 0x61, // a
  object: 0x6f, // o
  date: 0x44, // D
  map: 0x4d, // M
  set: 0x53, // S
  typed: 0x54, // T
  arrayBuffer: 0x42 // B
} as const

const VERSION = 1

const typedArrays: ReadonlyArray<readonly [string, abstract new(...args: Array<any>) => ArrayBufferView, number]> = [
  ["Uint8Array", Uint8Array, 1],
  ["Int8Array", Int8Array, 1],
  ["Uint8ClampedArray", Uint8ClampedArray, 1],
  ["Int16Array", Int16Array, 2],
  ["Uint16Array", Uint16Array, 2],
  ["Int32Array", Int32Array, 4],
  ["Uint32Array", Uint32Array, 4],
  ["Float32Array", Float32Array, 4],
  ["Float64Array", Float64Array, 8],
  ["BigInt64Array", BigInt64Array, 8],
  ["BigUint64Array", BigUint64Array, 8]
]

const bigEndian = os.endianness() === "BE"

// One growing buffer per encoding: a call's arguments are usually a few dozen bytes.
class Writer {
  buf: Buffer = Buffer.allocUnsafe(128)
  at = 0
  private room(n: number): void {
    if (this.at + n <= this.buf.length) return
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.at + n))
    this.buf.copy(next, 0, 0, this.at)
    this.buf = next
  }
  byte(b: number): void {
    this.room(1)
    this.buf[this.at++] = b
  }
  length(n: number): void {
    this.room(6)
    this.buf.writeUIntBE(n, this.at, 6)
    this.at += 6
  }
  float(n: number): void {
    this.room(8)
    this.buf.writeDoubleBE(Number.isNaN(n) ? Number.NaN : n, this.at)
    this.at += 8
  }
  // UTF-16 code units, so lone surrogates stay distinct (UTF-8 would turn them all into U+FFFD).
  text(s: string): void {
    this.length(s.length)
    this.room(s.length * 2)
    this.at += this.buf.write(s, this.at, "utf16le")
  }
  raw(b: Uint8Array): void {
    this.room(b.byteLength)
    this.buf.set(b, this.at)
    this.at += b.byteLength
  }
  bytes(b: Uint8Array): void {
    this.length(b.byteLength)
    this.raw(b)
  }
  concat(): Buffer {
    return this.buf.subarray(0, this.at)
  }
}

const isPlain = (u: object): boolean => {
  const proto = Object.getPrototypeOf(u)
  return proto === Object.prototype || proto === null
}

const describe = (u: object): string => {
  const name = (u as { constructor?: { name?: unknown } }).constructor?.name
  return typeof name === "string" && name !== "" ? `a ${name} instance` : "an object with a custom prototype"
}

// Element bytes in little-endian order whatever the platform's order.
const littleEndian = (view: ArrayBufferView, size: number): Uint8Array => {
  const bytes = new Uint8Array(view.buffer, view.byteOffset, view.byteLength)
  if (!bigEndian || size === 1) return bytes
  const out = new Uint8Array(bytes.byteLength)
  for (let i = 0; i < bytes.byteLength; i += size) {
    for (let j = 0; j < size; j++) out[i + j] = bytes[i + size - 1 - j]!
  }
  return out
}

const encodeInto = (w: Writer, u: unknown, seen: Set<object>): void => {
  switch (typeof u) {
    case "undefined":
      return w.byte(T.undefined)
    case "boolean":
      return w.byte(u ? T.true : T.false)
    case "number":
      w.byte(T.number)
      return w.float(u)
    case "bigint":
      w.byte(T.bigint)
      return w.text(u.toString(10))
    case "string":
      w.byte(T.string)
      return w.text(u)
    case "object":
      if (u === null) return w.byte(T.null)
      if (seen.has(u)) throw new Refused("a circular reference", [])
      seen.add(u)
      try {
        encodeObject(w, u, seen)
      } finally {
        seen.delete(u)
      }
      return
    case "function":
      throw new Refused("a function", [])
    case "symbol":
      throw new Refused("a symbol", [])
  }
}

const member = (u: unknown, seen: Set<object>, at: string | number): Buffer => {
  const w = new Writer()
  within(at, () => encodeInto(w, u, seen))
  return w.concat()
}

const within = (at: string | number, f: () => void): void => {
  try {
    f()
  } catch (e) {
    if (e instanceof Refused) e.path.unshift(at)
    throw e
  }
}

const sorted = (w: Writer, tag: number, members: Array<Buffer>): void => {
  members.sort(Buffer.compare)
  w.byte(tag)
  w.length(members.length)
  for (const m of members) w.raw(m)
}

const encodeObject = (w: Writer, u: object, seen: Set<object>): void => {
  if (Array.isArray(u)) {
    w.byte(T.array)
    w.length(u.length)
    for (let i = 0; i < u.length; i++) within(i, () => encodeInto(w, u[i], seen))
    return
  }
  if (isPlain(u)) {
    if (Object.getOwnPropertySymbols(u).length > 0) throw new Refused("an object with symbol keys", [])
    const keys = Object.keys(u).sort()
    w.byte(T.object)
    w.length(keys.length)
    for (const key of keys) {
      w.text(key)
      within(key, () => encodeInto(w, (u as Record<string, unknown>)[key], seen))
    }
    return
  }
  if (u instanceof Date) {
    w.byte(T.date)
    return w.float(u.getTime())
  }
  if (u instanceof Map) {
    const members: Array<Buffer> = []
    let i = 0
    for (const [k, v] of u) {
      const entry = new Writer()
      entry.raw(member(k, seen, `<map key ${i}>`))
      entry.raw(member(v, seen, `<map value ${i}>`))
      members.push(entry.concat())
      i++
    }
    return sorted(w, T.map, members)
  }
  if (u instanceof Set) {
    const members: Array<Buffer> = []
    let i = 0
    for (const v of u) members.push(member(v, seen, `<set member ${i++}>`))
    return sorted(w, T.set, members)
  }
  if (ArrayBuffer.isView(u)) {
    // A Buffer is Node's Uint8Array and hashes as one.
    const found = typedArrays.find(([, ctor]) => u instanceof ctor)
    if (found === undefined) {
      throw new Refused(`a ${describe(u).slice(2)} (a typed array view without content type)`, [])
    }
    w.byte(T.typed)
    w.text(found[0])
    return w.bytes(littleEndian(u, found[2]))
  }
  if (u instanceof ArrayBuffer) {
    w.byte(T.arrayBuffer)
    return w.bytes(new Uint8Array(u))
  }
  throw new Refused(
    `${describe(u)} (only plain data is hashed: give a plain object, or a \`key\` function of the arguments)`,
    []
  )
}

/**
 * The canonical bytes of `value`, or why it cannot be encoded.
 *
 * @internal
 */
export const encode = (value: unknown): { readonly bytes: Buffer } | Unencodable => {
  const w = new Writer()
  w.byte(VERSION)
  try {
    encodeInto(w, value, new Set())
  } catch (e) {
    if (e instanceof Refused) return { reason: e.reason, path: e.path }
    // a getter or a proxy that throws, or nesting deeper than the stack
    return { reason: `reading it failed: ${e instanceof Error ? e.message : String(e)}`, path: [] }
  }
  return { bytes: w.concat() }
}

// The one-shot `crypto.hash` (Node 20.12+) costs about a quarter of `createHash(...).update(...).digest(...)` on the
// few dozen bytes of a call's arguments; older Node 20 releases take the stream.
const sha256: (bytes: Uint8Array) => string = typeof crypto.hash === "function"
  ? (bytes) => crypto.hash("sha256", bytes, "hex")
  : (bytes) => crypto.createHash("sha256").update(bytes).digest("hex")

/**
 * The SHA-256 of the canonical encoding of `value` in lowercase hex, or why it cannot be encoded.
 *
 * @internal
 */
export const hash = (value: unknown): { readonly hash: string } | Unencodable => {
  const encoded = encode(value)
  if (!("bytes" in encoded)) return encoded
  return { hash: sha256(encoded.bytes) }
}

/** A readable path into the arguments: `[0].user["name"]`. @internal */
export const pathText = (path: ReadonlyArray<string | number>): string =>
  path.map((p) => typeof p === "number" ? `[${p}]` : p.startsWith("<") ? ` ${p} ` : `[${JSON.stringify(p)}]`).join(
    ""
  )
