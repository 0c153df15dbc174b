/**
 * Argument checks shared by every store: key shape, options objects, durations, values, tags, metadata, counters,
 * batches and names, against the documented `limits`. They run before a backend is touched, so every backend rejects
 * the same input with the same typed error and never sees a value it cannot hold; none of them throws, whatever it is
 * given (a throw from the caller's own code, such as a getter, excepted).
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import { types } from "node:util"
import { InvalidArgument, InvalidKey, ValueTooLarge } from "../KeyValueStoreError.js"
import { at } from "./faithful.js"

/** @internal */
export const encoder = new TextEncoder()

/**
 * The limits every store applies to its arguments (see `KeyValueStore.limits`, which documents each).
 *
 * @internal
 */
export const limits = {
  maxDurationMillis: 100 * 365.25 * 24 * 60 * 60 * 1000,
  maxTags: 1000,
  maxNameBytes: 1024,
  maxMetadataDepth: 32,
  maxMetadataBytes: 64 * 1024,
  maxCounterDigits: 1000,
  maxBatch: 100_000
} as const

/**
 * A short description of any value for an error message; never throws (`String(u)` does on an object without a
 * prototype, a template literal on a symbol).
 *
 * @internal
 */
export const show = (u: unknown): string => {
  switch (typeof u) {
    case "string":
      return JSON.stringify(u.length > 40 ? `${u.slice(0, 40)}...` : u)
    case "number":
    case "boolean":
    case "undefined":
      return String(u)
    case "bigint": {
      const digits = u < 0n ? -u : u
      return digits < 10n ** 40n ? `${u}n` : "a bigint of more than 40 digits"
    }
    case "symbol":
      return "a symbol"
    case "function":
      return "a function"
    default:
      return u === null ? "null" : Array.isArray(u) ? "an array" : "an object"
  }
}

/**
 * Checks an options argument: `undefined`, or an object (not `null`, not an array). Unknown fields are the caller's
 * business; the fields a store knows are checked where they are read.
 *
 * @internal
 */
export const checkOptions = (
  method: string,
  key: string | undefined,
  options: unknown,
  argument = "options"
): InvalidArgument | undefined =>
  options === undefined || (typeof options === "object" && options !== null && !Array.isArray(options))
    ? undefined
    : new InvalidArgument({ method, key, argument, reason: `expected an object or undefined, got ${show(options)}` })

/** @internal */
export const checkKey = (method: string, key: unknown, maxKeyBytes: number): InvalidKey | undefined => {
  if (typeof key !== "string") {
    return new InvalidKey({ method, reason: `expected a string, got ${typeof key}` })
  }
  if (key.length === 0) {
    return new InvalidKey({ method, key, reason: "the key is empty" })
  }
  // A UTF-16 code unit encodes to at most 3 UTF-8 bytes, so short keys skip the byte count.
  if (key.length * 3 > maxKeyBytes && Buffer.byteLength(key, "utf8") > maxKeyBytes) {
    return new InvalidKey({
      method,
      key: key.slice(0, 64),
      reason: `the key is longer than ${maxKeyBytes} UTF-8 bytes`
    })
  }
  if (!key.isWellFormed()) {
    return new InvalidKey({ method, key: key.toWellFormed(), reason: "the key contains a lone surrogate" })
  }
  return undefined
}

/**
 * Turns a ttl into an absolute expiry in epoch milliseconds; `null` means "never expires" (no ttl, or an infinite
 * one). A ttl must be positive and at most `limits.maxDurationMillis`.
 *
 * @internal
 */
export const expiryOf = (
  method: string,
  key: string | undefined,
  ttl: Duration.DurationInput | undefined,
  now: number
): number | null | InvalidArgument => {
  if (ttl === undefined) return null
  const millis = typeof ttl === "number" && ttl > 0 && ttl <= limits.maxDurationMillis
    ? ttl
    : durationOf(ttl, { zero: false, infinite: true })
  if (typeof millis === "string") return new InvalidArgument({ method, key, argument: "ttl", reason: millis })
  if (millis === Infinity) return null
  const expiresAt = now + Math.max(1, Math.ceil(millis))
  // Only a clock set past the year 287,396 gets here: every engine holds the expiry exactly up to 2^53 - 1.
  if (!Number.isSafeInteger(expiresAt)) {
    return new InvalidArgument({ method, key, argument: "ttl", reason: "the expiry would be past 2^53 - 1 ms" })
  }
  return expiresAt
}

/**
 * A duration option in milliseconds (`Infinity` for an infinite duration), or `undefined` when it is not a duration or
 * is negative or NaN in any of its forms (`Duration.decode` would clamp those to zero and hide the mistake).
 *
 * @internal
 */
export const durationMillis = (input: unknown): number | undefined => {
  if (typeof input === "number") return Number.isNaN(input) || input < 0 ? undefined : input
  if (typeof input === "bigint" && input < 0n) return undefined
  if (Array.isArray(input) && input.some((part) => typeof part !== "number" || !(part >= 0))) return undefined
  if (typeof input === "string" && /^\s*-|nan/i.test(input)) return undefined
  const decoded = Duration.decodeUnknown(input)
  if (Option.isNone(decoded)) return undefined
  const duration = decoded.value
  // A forged Duration (an object carrying the Duration type id) may hold anything.
  if (!Duration.isDuration(duration) || typeof duration.value !== "object" || duration.value === null) return undefined
  return Duration.isFinite(duration) ? Duration.toMillis(duration) : Infinity
}

const maxDurationText = "100 years"

/**
 * Checks a duration argument against the one rule for durations: a `DurationInput` (in any of its forms), positive
 * (or zero where `zero` allows it), at most `limits.maxDurationMillis` (100 years) when finite, and infinite only
 * where `infinite` allows it and only when given as `Duration.infinity`, `Infinity` or `[Infinity, 0]` (a string whose
 * number overflows is over the maximum, not a way to say "forever"). Returns milliseconds, or the reason it is refused.
 *
 * @internal
 */
export const durationOf = (
  input: unknown,
  allow: { readonly zero: boolean; readonly infinite: boolean }
): number | string => {
  const expected = `expected a ${allow.zero ? "non-negative" : "positive"} duration of at most ${maxDurationText}${
    allow.infinite ? " (or Duration.infinity)" : ""
  }, got ${show(input)}`
  let millis: number | undefined
  try {
    millis = durationMillis(input)
  } catch {
    millis = undefined
  }
  if (millis === undefined || Number.isNaN(millis)) return expected
  if (millis === Infinity) {
    return allow.infinite && typeof input !== "string" ? Infinity : expected
  }
  if (millis === 0 ? !allow.zero : !(millis > 0)) return expected
  if (millis > limits.maxDurationMillis) {
    return `${show(input)} is longer than the ${maxDurationText} a duration may last${
      allow.infinite ? "; use Duration.infinity for no limit" : ""
    }`
  }
  return millis
}

// The intrinsic getter, which reads the view's own slots: a subclass cannot override it.
const byteLengthOf = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), "byteLength")!
  .get as (this: Uint8Array) => number
const bufferOf = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), "buffer")!
  .get as (this: Uint8Array) => ArrayBufferLike
const setBytes = Object.getPrototypeOf(Uint8Array.prototype).set as (this: Uint8Array, source: Uint8Array) => void

/**
 * Checks a value: a string of valid Unicode (stored as its UTF-8 bytes) or a `Uint8Array` (a `Buffer`, or one of
 * another realm) whose `ArrayBuffer` is not detached, of at most `maxValueBytes`. Returns the bytes to store: a
 * private copy unless `copy` is false (a fast path that hands the bytes to its engine before the caller can run
 * again), and always for a view of a `SharedArrayBuffer` (another thread may write it at any time: size, checksum
 * and bytes must come from one reading) or of a subclass (whose methods the store does not trust).
 *
 * @internal
 */
export const checkValue = (
  method: string,
  key: string | undefined,
  value: unknown,
  maxValueBytes: number,
  copy = true
): Uint8Array | InvalidArgument | ValueTooLarge => {
  let bytes: Uint8Array
  if (typeof value === "string") {
    // UTF-8 cannot hold a lone surrogate: encoding would silently replace it with U+FFFD.
    if (!value.isWellFormed()) {
      return new InvalidArgument({ method, key, argument: "value", reason: "a string value must be valid Unicode" })
    }
    // A UTF-16 code unit is at least one UTF-8 byte: a string this long is too large before it is encoded.
    if (value.length > maxValueBytes) {
      return new ValueTooLarge({ method, key, size: Buffer.byteLength(value, "utf8"), limit: maxValueBytes })
    }
    // From Node's buffer pool, like the copies below: a small value is not an ArrayBuffer of its own.
    bytes = Buffer.from(value, "utf8")
  } else if (types.isUint8Array(value)) {
    const size = byteLengthOf.call(value)
    // A view of a detached buffer reads as empty: storing it would silently store nothing.
    if (size === 0 && isDetached(value)) {
      return new InvalidArgument({
        method,
        key,
        argument: "value",
        reason: "the value's ArrayBuffer is detached (transferred or closed)"
      })
    }
    if (size > maxValueBytes) return new ValueTooLarge({ method, key, size, limit: maxValueBytes })
    const proto = Object.getPrototypeOf(value)
    const shared = types.isSharedArrayBuffer(bufferOf.call(value))
    bytes = shared
      ? new Uint8Array(value)
      : copy || (proto !== Uint8Array.prototype && proto !== Buffer.prototype)
      ? pooledCopy(value, size)
      : value
  } else {
    return new InvalidArgument({
      method,
      key,
      argument: "value",
      reason: `expected a Uint8Array or a string, got ${show(value)}`
    })
  }
  if (bytes.byteLength > maxValueBytes) {
    return new ValueTooLarge({ method, key, size: bytes.byteLength, limit: maxValueBytes })
  }
  return bytes
}

// A private copy from Node's buffer pool (a small value is a view of a shared slab, not an ArrayBuffer of its own),
// through the intrinsic `set` (a subclass's own methods are not trusted). `size` was read just before, on this thread:
// only a view of a `SharedArrayBuffer` can change meanwhile, and it is copied with `new Uint8Array` instead.
const pooledCopy = (value: Uint8Array, size: number): Uint8Array => {
  const out = Buffer.allocUnsafe(size)
  setBytes.call(out, value)
  return out
}

const isDetached = (view: Uint8Array): boolean => {
  try {
    new Uint8Array(view)
    return false
  } catch {
    return true
  }
}

/**
 * Why `name` cannot name a tag or a lock (a non-empty string of valid Unicode of at most `limits.maxNameBytes` UTF-8
 * bytes, NUL included like any other character), or `undefined` when it can.
 *
 * @internal
 */
export const nameProblem = (name: unknown): string | undefined => {
  if (typeof name !== "string") return `expected a string, got ${show(name)}`
  if (name.length === 0) return "expected a non-empty string"
  if (!name.isWellFormed()) return "expected a string of valid Unicode (it contains a lone surrogate)"
  if (name.length * 3 > limits.maxNameBytes && Buffer.byteLength(name, "utf8") > limits.maxNameBytes) {
    return `longer than ${limits.maxNameBytes} UTF-8 bytes`
  }
  return undefined
}

/**
 * Checks the tags of a write: an iterable (not a string) of at most `limits.maxTags` names (duplicates count, and
 * are then merged). Returns them sorted, without duplicates.
 *
 * @internal
 */
export const checkTags = (
  method: string,
  key: string,
  tags: unknown
): ReadonlyArray<string> | InvalidArgument => {
  if (tags === undefined) return []
  const invalid = (reason: string) => new InvalidArgument({ method, key, argument: "tags", reason })
  if (!isIterable(tags)) return invalid(`expected an iterable of tag strings, got ${show(tags)}`)
  const out = new Set<string>()
  let count = 0
  for (const tag of tags) {
    if (++count > limits.maxTags) return invalid(`an entry carries at most ${limits.maxTags} tags`)
    const problem = nameProblem(tag)
    if (problem !== undefined) return invalid(`a tag must be a non-empty Unicode string: ${problem}`)
    out.add(tag as string)
  }
  return Object.freeze(Array.from(out).sort())
}

/**
 * Checks the tag of `removeTag`.
 *
 * @internal
 */
export const checkTag = (method: string, tag: unknown): InvalidArgument | undefined => {
  const problem = nameProblem(tag)
  return problem === undefined ? undefined : new InvalidArgument({ method, argument: "tag", reason: problem })
}

const isIterable = (u: unknown): u is Iterable<unknown> =>
  typeof u === "object" && u !== null && typeof (u as { readonly [Symbol.iterator]?: unknown })[Symbol.iterator] ===
    "function"

/**
 * Reads a batch argument (`getMany`, `setMany`, `removeMany`): an iterable (not a string) of at most `limits.maxBatch`
 * items, read once, into an array of its own (an endless iterable is refused after `limits.maxBatch` items).
 *
 * @internal
 */
export const checkBatch = (method: string, argument: string, items: unknown): Array<unknown> | InvalidArgument => {
  const invalid = (reason: string) => new InvalidArgument({ method, argument, reason })
  if (!isIterable(items)) return invalid(`expected an iterable, got ${show(items)}`)
  if (Array.isArray(items) && items.length > limits.maxBatch) {
    return invalid(`a batch holds at most ${limits.maxBatch} items, got ${items.length}`)
  }
  const out: Array<unknown> = []
  for (const item of items) {
    if (out.length === limits.maxBatch) return invalid(`a batch holds at most ${limits.maxBatch} items`)
    out.push(item)
  }
  return out
}

/**
 * Checks metadata: a plain JSON object (its prototype `Object.prototype` or `null`) that JSON gives back unchanged
 * (no bigint, NaN, Date, Map, function, cycle...), nested at most `limits.maxMetadataDepth` deep and at most
 * `limits.maxMetadataBytes` as JSON text. `undefined` means none where `optional`. Returns a frozen private copy,
 * built while it is checked (each property read once), so an entry handed out cannot be used to change the store.
 *
 * @internal
 */
export const checkMetadata = (
  method: string,
  key: string,
  metadata: unknown,
  optional = true
): { readonly [key: string]: unknown } | null | InvalidArgument => {
  if (metadata === undefined && optional) return null
  const invalid = (reason: string) => new InvalidArgument({ method, key, argument: "metadata", reason })
  if (typeof metadata !== "object" || metadata === null || Array.isArray(metadata)) {
    return invalid(`expected a plain JSON object, got ${show(metadata)}`)
  }
  const walk = { budget: limits.maxMetadataBytes, path: [] as Array<string | number>, seen: new Set<object>() }
  const copied = jsonCopy(metadata, 1, walk)
  if (copied instanceof Refusal) return invalid(`${copied.reason}${at(walk.path)}`)
  if (Buffer.byteLength(JSON.stringify(copied), "utf8") > limits.maxMetadataBytes) {
    return invalid(`larger than ${limits.maxMetadataBytes} bytes as JSON`)
  }
  return copied as { readonly [key: string]: unknown }
}

class Refusal {
  constructor(readonly reason: string) {}
}

const isPlainObject = (u: object): boolean => {
  const proto = Object.getPrototypeOf(u)
  return proto === Object.prototype || proto === null
}

const kindOf = (u: unknown): string => {
  if (typeof u === "number") return `the number ${u}`
  if (typeof u !== "object" || u === null) return typeof u === "undefined" ? "undefined" : `a ${typeof u}`
  const name = (u as { constructor?: { name?: unknown } }).constructor?.name
  return typeof name === "string" && name !== "" ? `a ${name}` : "an object with a custom prototype"
}

// A frozen JSON copy of `u`, or the reason it cannot be one; `walk.path` is then where. Recursion is bounded by
// `limits.maxMetadataDepth` and work by the byte budget (each value costs at least its JSON text's length).
const jsonCopy = (
  u: unknown,
  depth: number,
  walk: { budget: number; readonly path: Array<string | number>; readonly seen: Set<object> }
): unknown => {
  switch (typeof u) {
    case "string":
      walk.budget -= u.length + 2
      break
    case "boolean":
      walk.budget -= 5
      break
    case "number":
      if (!Number.isFinite(u)) return new Refusal(`JSON cannot represent ${kindOf(u)}`)
      walk.budget -= 1
      break
    case "object":
      break
    default:
      return new Refusal(`JSON cannot represent ${kindOf(u)}`)
  }
  if (walk.budget < 0) return new Refusal(`larger than ${limits.maxMetadataBytes} bytes as JSON`)
  if (typeof u !== "object") return u === 0 ? 0 : u
  if (u === null) {
    walk.budget -= 4
    return null
  }
  if (walk.seen.has(u)) return new Refusal("JSON cannot represent a circular reference")
  if (depth > limits.maxMetadataDepth) {
    return new Refusal(`nested deeper than ${limits.maxMetadataDepth} levels`)
  }
  walk.seen.add(u)
  let out: unknown
  if (Array.isArray(u)) {
    const array: Array<unknown> = []
    walk.budget -= 2
    for (let i = 0; i < u.length; i++) {
      walk.path.push(i)
      const item = jsonCopy(u[i], depth + 1, walk)
      if (item instanceof Refusal) return item
      walk.path.pop()
      array.push(item)
      walk.budget -= 1
    }
    out = array
  } else if (isPlainObject(u)) {
    const object: Record<string, unknown> = {}
    walk.budget -= 2
    for (const name of Object.keys(u)) {
      const value = (u as Record<string, unknown>)[name]
      // JSON leaves an undefined property out.
      if (value === undefined) continue
      walk.budget -= name.length + 4
      walk.path.push(name)
      const item = jsonCopy(value, depth + 1, walk)
      if (item instanceof Refusal) return item
      walk.path.pop()
      // `__proto__` is an ordinary key in JSON; an assignment would set the copy's prototype instead.
      Object.defineProperty(object, name, { value: item, enumerable: true, writable: true, configurable: true })
    }
    out = object
  } else {
    return new Refusal(`JSON cannot represent ${kindOf(u)}`)
  }
  walk.seen.delete(u)
  return Object.freeze(out)
}

/**
 * Checks a counter argument (`delta`, `initial`): a safe integer, or a bigint of at most `limits.maxCounterDigits`
 * digits.
 *
 * @internal
 */
export const checkCounterArgument = (
  method: string,
  key: string,
  argument: string,
  n: unknown
): bigint | InvalidArgument => {
  if (typeof n === "bigint" && n > -counterBound && n < counterBound) return n
  if (typeof n === "number" && Number.isSafeInteger(n)) return BigInt(n)
  return new InvalidArgument({
    method,
    key,
    argument,
    reason: typeof n === "bigint"
      ? `a counter has at most ${limits.maxCounterDigits} digits`
      : `expected a safe integer or a bigint, got ${show(n)}`
  })
}

/**
 * Every counter is strictly between `-counterBound` and `counterBound`: at most `limits.maxCounterDigits` digits.
 *
 * @internal
 */
export const counterBound = 10n ** BigInt(limits.maxCounterDigits)

/**
 * Checks the options every backend accepts (`StoreOptions`): limits must be positive integers, the separator a
 * non-empty string. Backends call it before opening anything.
 *
 * @internal
 */
export const checkStoreOptions = (options: {
  readonly separator?: string | undefined
  readonly maxKeyBytes?: number | undefined
  readonly maxValueBytes?: number | undefined
}): InvalidArgument | undefined => {
  const invalid = (argument: string, reason: string) => new InvalidArgument({ method: "open", argument, reason })
  if (typeof options !== "object" || options === null) {
    return invalid("options", `expected an object, got ${show(options)}`)
  }
  for (const name of ["maxKeyBytes", "maxValueBytes"] as const) {
    const n = options[name]
    if (n !== undefined && !(Number.isSafeInteger(n) && n > 0)) {
      return invalid(name, `expected a positive integer, got ${n}`)
    }
  }
  const separator = options.separator
  if (separator !== undefined) {
    if (typeof separator !== "string" || [...separator].length !== 1 || !separator.isWellFormed()) {
      return invalid("separator", `expected a single character, got ${JSON.stringify(separator)}`)
    }
    if ("*?[]{}\\,".includes(separator)) {
      return invalid("separator", `${JSON.stringify(separator)} is a pattern character`)
    }
  }
  return undefined
}

/**
 * Size limits as a backend applies them: `policy` is `"lru"` unless given; an absent limit is `undefined`.
 *
 * @internal
 */
export interface Limits {
  readonly maxEntries: number | undefined
  readonly maxSize: number | undefined
  readonly policy: "lru" | "lfu" | "lrs" | "none"
}

const policies = ["lru", "lfu", "lrs", "none"] as const

/**
 * Checks `LimitOptions` (positive integers, a known policy) before a backend opens anything.
 *
 * @internal
 */
export const checkLimits = (options: {
  readonly maxEntries?: number | undefined
  readonly maxSize?: number | undefined
  readonly eviction?: string | undefined
}): Limits | InvalidArgument => {
  const invalid = (argument: string, reason: string) => new InvalidArgument({ method: "open", argument, reason })
  for (const name of ["maxEntries", "maxSize"] as const) {
    const n = options[name]
    if (n !== undefined && !(Number.isSafeInteger(n) && n > 0)) {
      return invalid(name, `expected a positive integer, got ${n}`)
    }
  }
  const policy = options.eviction ?? "lru"
  if (!(policies as ReadonlyArray<string>).includes(policy)) {
    return invalid("eviction", `expected one of ${policies.join(", ")}, got ${JSON.stringify(policy)}`)
  }
  return { maxEntries: options.maxEntries, maxSize: options.maxSize, policy: policy as Limits["policy"] }
}
