/**
 * Argument checks shared by every store: key shape, ttl ranges, value sizes, metadata. They run before a backend is
 * touched, so every backend rejects the same input with the same typed error.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import { InvalidArgument, InvalidKey, ValueTooLarge } from "../KeyValueStoreError.js"
import { at, problemOf } from "./faithful.js"

/** @internal */
export const encoder = new TextEncoder()

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
 * Turns a ttl into an absolute expiry in epoch milliseconds; `null` means "never expires".
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
  if (typeof ttl === "number" && !(ttl > 0)) {
    return new InvalidArgument({ method, key, argument: "ttl", reason: `expected a positive duration, got ${ttl}` })
  }
  const decoded = Duration.decodeUnknown(ttl)
  if (Option.isNone(decoded)) {
    return new InvalidArgument({ method, key, argument: "ttl", reason: `not a duration: ${String(ttl)}` })
  }
  const duration = decoded.value
  if (!Duration.isFinite(duration)) return null
  const millis = Duration.toMillis(duration)
  if (!(millis > 0)) {
    return new InvalidArgument({
      method,
      key,
      argument: "ttl",
      reason: `expected a positive duration, got ${Duration.format(duration)}`
    })
  }
  return now + Math.max(1, Math.ceil(millis))
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
  return Duration.isFinite(decoded.value) ? Duration.toMillis(decoded.value) : Infinity
}

/** @internal */
export const checkValue = (
  method: string,
  key: string,
  value: unknown,
  maxValueBytes: number
): Uint8Array | InvalidArgument | ValueTooLarge => {
  let bytes: Uint8Array
  if (typeof value === "string") {
    // UTF-8 cannot hold a lone surrogate: encoding would silently replace it with U+FFFD.
    if (!value.isWellFormed()) {
      return new InvalidArgument({ method, key, argument: "value", reason: "a string value must be valid Unicode" })
    }
    bytes = encoder.encode(value)
  } else if (value instanceof Uint8Array) bytes = value
  else {
    return new InvalidArgument({ method, key, argument: "value", reason: "expected a Uint8Array or a string" })
  }
  if (bytes.byteLength > maxValueBytes) {
    return new ValueTooLarge({ method, key, size: bytes.byteLength, limit: maxValueBytes })
  }
  return bytes
}

/** @internal */
export const checkTags = (
  method: string,
  key: string,
  tags: Iterable<string> | undefined
): ReadonlyArray<string> | InvalidArgument => {
  if (tags === undefined) return []
  if (
    typeof tags === "string" ||
    typeof (tags as { readonly [Symbol.iterator]?: unknown } | null)?.[Symbol.iterator] !== "function"
  ) {
    return new InvalidArgument({ method, key, argument: "tags", reason: "expected an iterable of tag strings" })
  }
  const out = new Set<string>()
  for (const tag of tags) {
    if (typeof tag !== "string" || tag.length === 0 || !tag.isWellFormed()) {
      return new InvalidArgument({ method, key, argument: "tags", reason: "a tag must be a non-empty Unicode string" })
    }
    out.add(tag)
  }
  return Object.freeze(Array.from(out).sort())
}

/** @internal */
export const checkMetadata = (
  method: string,
  key: string,
  metadata: unknown
): { readonly [key: string]: unknown } | null | InvalidArgument => {
  if (metadata === undefined || metadata === null) return null
  if (typeof metadata !== "object" || Array.isArray(metadata)) {
    return new InvalidArgument({ method, key, argument: "metadata", reason: "expected a plain JSON object" })
  }
  const problem = problemOf(metadata, true)
  if (problem !== undefined) {
    return new InvalidArgument({
      method,
      key,
      argument: "metadata",
      reason: `JSON cannot represent ${problem[0]}${at(problem[1])}`
    })
  }
  return deepFreeze(JSON.parse(JSON.stringify(metadata)))
}

// Stored metadata is a private frozen copy, so an entry handed out cannot be used to change the store.
const deepFreeze = <A>(value: A): A => {
  if (typeof value === "object" && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child)
    Object.freeze(value)
  }
  return value
}

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
