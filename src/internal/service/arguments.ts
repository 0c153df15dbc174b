/**
 * The argument checks and ttl arithmetic of `make` that depend on the store (its limits and capabilities): the
 * checked write of `set` and friends, expiries from ttls, fences from locks, lock arguments of a store without locks,
 * the options of `check`, and the renaming of a backend's errors after the public operation that was called. The
 * store-independent checks are in `internal/validate.ts`.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { CheckOptions, Entry, Fence, Lock, LockOptions, Mutation, SetOptions, Write } from "../../KeyValueStore.js"
import type { KeyValueStoreError } from "../../KeyValueStoreError.js"
import { InvalidArgument, isKeyValueStoreError, LockLost, Unsupported } from "../../KeyValueStoreError.js"
import * as leases from "../leases.js"
import * as validate from "../validate.js"
import type { Core } from "./core.js"

/** The write of a value with no expiry, tags or metadata. */
export const plainWrite: Write = { expiresAt: null, tags: [], metadata: null }
/** The empty value. */
export const empty = new Uint8Array(0)
/** The mutations that keep or remove the entry. */
export const keep: Mutation = { _tag: "Keep" }
export const removal: Mutation = { _tag: "Remove" }

/** Whether `u` is one of our typed errors (the checks below return them rather than throwing). */
export const isError = isKeyValueStoreError

/** The write that keeps an entry's expiry, tags and metadata as they are (`KeyValueStore.entryWrite`). */
export const entryWrite = (entry: Entry): Write => ({
  expiresAt: Option.getOrNull(entry.expiresAt),
  tags: entry.tags,
  metadata: Option.getOrNull(entry.metadata)
})

/**
 * A backend names its own primitive in its errors (`modify`, `keys`, `countPattern`, ...); the caller sees the public
 * operation it called instead.
 */
export const renamed = (error: KeyValueStoreError, method: string): KeyValueStoreError => {
  if (error.method === method) return error
  const { _tag, ...fields } = error as KeyValueStoreError & { readonly cause?: unknown }
  const cause = (error as { readonly cause?: unknown }).cause
  const Class = error.constructor as new(fields: object) => KeyValueStoreError
  return new Class(cause === undefined ? { ...fields, method } : { ...fields, cause, method })
}

/** `self` with its errors `renamed` after `method`. */
export const named = <A>(
  self: Effect.Effect<A, KeyValueStoreError>,
  method: string
): Effect.Effect<A, KeyValueStoreError> => Effect.mapError(self, (error) => renamed(error, method))

/** The error of a region or lock combinator given something other than an Effect. */
export const notAnEffect = (method: string, effect: unknown) =>
  new InvalidArgument({ method, argument: "effect", reason: `expected an Effect, got ${validate.show(effect)}` })

/** The options of `check`, each field read once; unknown fields are passed on. */
export const checkOptionsOf = (options: CheckOptions | undefined): CheckOptions | undefined | InvalidArgument => {
  const optionsError = validate.checkOptions("check", undefined, options)
  if (optionsError) return optionsError
  if (options === undefined) return undefined
  const { fix, minOrphanAge } = options
  if (fix !== undefined && typeof fix !== "boolean") {
    return new InvalidArgument({
      method: "check",
      argument: "fix",
      reason: `expected a boolean, got ${validate.show(fix)}`
    })
  }
  if (minOrphanAge !== undefined) {
    const millis = validate.durationOf(minOrphanAge, { zero: true, infinite: true })
    if (typeof millis === "string") {
      return new InvalidArgument({ method: "check", argument: "minOrphanAge", reason: millis })
    }
  }
  return { ...options, fix, minOrphanAge }
}

/** The time to live left at `now` of an entry expiring at `expiresAt` (`null`: never). */
export const remaining = (expiresAt: number | null, now: number): Duration.Duration =>
  expiresAt === null ? Duration.infinity : Duration.millis(Math.max(0, expiresAt - now))

/**
 * Operations that read their arguments' fields (options, Options, patterns, effects) read them when the call runs:
 * a throwing getter or proxy trap makes the call die, it never throws where the Effect is built.
 */
export const deferred = <Args extends Array<any>, A>(
  f: (...args: Args) => Effect.Effect<A, KeyValueStoreError>
) =>
(...args: Args): Effect.Effect<A, KeyValueStoreError> => Effect.suspend(() => f(...args))

/** The fence of a write (`options.fence`) as the primitives take it: undefined without one, or the error refusing it. */
export const fenceOf = (
  core: Core,
  method: string,
  key: string | undefined,
  lock: unknown
): Fence | undefined | KeyValueStoreError => {
  if (lock === undefined) return undefined
  const p = core.p
  if (!p.capabilities.fencedWrites || p.leases === undefined) {
    return new Unsupported({ method, key, backend: core.backend })
  }
  return leases.fenceOf(p.leases, lock, method, key)
}

/**
 * A backend's `LockLost` names the lock as its lease table knows it (namespace prefixes included): the caller's
 * name for it instead.
 */
export const fenced = <A>(
  self: Effect.Effect<A, KeyValueStoreError>,
  lock: unknown
): Effect.Effect<A, KeyValueStoreError> =>
  lock === undefined ? self : Effect.mapError(self, (error) => {
    if (error._tag !== "LockLost") return error
    const name = (lock as Lock).name
    if (error.name === name) return error
    return new LockLost(
      error.key === undefined ? { method: error.method, name } : { method: error.method, key: error.key, name }
    )
  })

/** The absolute expiry of a ttl; a ttl on a backend without expiry (an index) is refused rather than ignored. */
export const expiryOf = (
  core: Core,
  method: string,
  key: string,
  ttl: Duration.DurationInput | undefined,
  now: number
): number | null | InvalidArgument | Unsupported => {
  const expiresAt = validate.expiryOf(method, key, ttl, now)
  if (expiresAt !== null && typeof expiresAt === "object") return expiresAt
  return expiresAt !== null && !core.p.capabilities.expiry
    ? new Unsupported({ method, key, backend: core.backend })
    : expiresAt
}

/**
 * The checked write of a value with its options. `copy: false` only for a synchronous fast path, which hands the
 * bytes to its engine before the caller runs again.
 */
export const checkWrite = (
  core: Core,
  method: string,
  key: string,
  value: unknown,
  options: SetOptions | undefined,
  now: number,
  copy = true
): { readonly value: Uint8Array; readonly write: Write } | KeyValueStoreError => {
  const keyError = validate.checkKey(method, key, core.maxKeyBytes)
  if (keyError) return keyError
  const bytes = validate.checkValue(method, key, value, core.maxValueBytes, copy)
  if (!(bytes instanceof Uint8Array)) return bytes
  if (options === undefined) return { value: bytes, write: plainWrite }
  const optionsError = validate.checkOptions(method, key, options)
  if (optionsError) return optionsError
  // Each field is read once: a getter cannot show the check one value and the write another.
  const { metadata: metadataInput, tags: tagsInput, ttl } = options
  const expiresAt = expiryOf(core, method, key, ttl, now)
  if (isError(expiresAt)) return expiresAt
  const capabilities = core.p.capabilities
  const tags = validate.checkTags(method, key, tagsInput)
  if (tags instanceof InvalidArgument) return tags
  if (tags.length > 0 && !capabilities.tags) return new Unsupported({ method, key, backend: core.backend })
  const metadata = validate.checkMetadata(method, key, metadataInput)
  if (metadata instanceof InvalidArgument) return metadata
  if (metadata !== null && !capabilities.metadata) return new Unsupported({ method, key, backend: core.backend })
  return { value: bytes, write: { expiresAt, tags, metadata } }
}

/** A store without locks still checks their arguments, then fails with `Unsupported`. */
export const lockArguments = (
  core: Core,
  name: string,
  options: LockOptions | undefined,
  method: string
): Effect.Effect<never, KeyValueStoreError> => {
  const settings = leases.settingsOf(name, options)
  return settings instanceof InvalidArgument ? Effect.fail(settings) : core.unsupported(method)
}
