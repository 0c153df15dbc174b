/**
 * The one error family of effect-kv. Every failure a store, a typed view or a policy can report is one of these
 * `Data.TaggedError` classes: each carries the `method` that failed and, where it applies, the `key`. Foreign
 * failures (driver errors, Schema parse errors, crypto rejections) are mapped into this family once, at the edge, so
 * callers can match on `_tag` and never see an untyped rejection or a failure reported as a miss.
 *
 * The classes are plain `Data` errors so that importing them costs no `effect/Schema` (and its `fast-check`): a
 * program that never touches a Schema does not load one. Their Schemas, to send them over the wire (RPC, a worker,
 * persisted results), are in `KeyValueStoreErrorSchema`: they decode into these very classes.
 *
 * @since 0.1.0
 */
import * as Data from "effect/Data"
import type * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: unique symbol = Symbol.for("effect-kv/KeyValueStoreError")

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

interface Common {
  readonly method: string
  readonly key?: string | undefined
}

const where = (self: { readonly method: string; readonly key?: string | undefined }): string =>
  self.key === undefined ? self.method : `${self.method}(${JSON.stringify(self.key)})`

// The messages down a short chain of causes, each once: a driver's own message ("database or disk is full") under
// `@effect/sql`'s "Failed to execute statement".
const causeMessages = (cause: unknown): string => {
  if (!(cause instanceof Error)) return cause === undefined ? "" : String(cause)
  const messages: Array<string> = []
  for (let current: unknown = cause, depth = 0; current instanceof Error && depth < 4; depth++) {
    if (current.message !== "" && !messages.includes(current.message)) messages.push(current.message)
    current = current.cause
  }
  return messages.join(": ")
}

/**
 * A key is empty, too long, or not valid Unicode.
 *
 * @example
 * ```ts
 * import { KeyValueStoreError } from "effect-kv"
 * new KeyValueStoreError.InvalidKey({ method: "get", key: "", reason: "empty key" })
 * ```
 * @since 0.1.0
 * @category errors
 */
export class InvalidKey extends Data.TaggedError("InvalidKey")<Common & { readonly reason: string }> {
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return `${where(this)}: invalid key: ${this.reason}`
  }
}

/**
 * An argument other than the key is out of range: a ttl that is not a positive duration, a malformed pattern.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidArgument
  extends Data.TaggedError("InvalidArgument")<Common & { readonly argument: string; readonly reason: string }>
{
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return `${where(this)}: invalid ${this.argument}: ${this.reason}`
  }
}

/**
 * A value is larger than the store's configured maximum, or a write would exceed a size limit.
 *
 * @since 0.1.0
 * @category errors
 */
export class ValueTooLarge
  extends Data.TaggedError("ValueTooLarge")<Common & { readonly size: number; readonly limit: number }>
{
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return `${where(this)}: value of ${this.size} bytes exceeds the limit of ${this.limit} bytes`
  }
}

/**
 * A write would take the store beyond its `maxEntries` or `maxSize` while its eviction policy is `"none"`: nothing
 * was written and nothing was evicted.
 *
 * @example
 * ```ts
 * import { KeyValueStoreError } from "effect-kv"
 * new KeyValueStoreError.StoreFull({ method: "set", key: "k", backend: "memory", limit: "maxEntries", max: 100 })
 * ```
 * @since 0.1.0
 * @category errors
 */
export class StoreFull extends Data.TaggedError("StoreFull")<
  Common & { readonly backend: string; readonly limit: "maxEntries" | "maxSize"; readonly max: number }
> {
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return `${
      where(this)
    }: the ${this.backend} store is full (${this.limit} ${this.max}) and its eviction policy is none`
  }
}

/**
 * A counter operation found a value that is not a decimal integer of at most `KeyValueStore.limits.maxCounterDigits`
 * digits, or would make one longer; `reason` says which when it is not the first.
 *
 * @since 0.1.0
 * @category errors
 */
export class NotANumber extends Data.TaggedError("NotANumber")<Common & { readonly reason?: string | undefined }> {
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return `${where(this)}: ${this.reason ?? "the stored value is not a decimal integer"}`
  }
}

/**
 * Stored bytes could not be decoded into the requested type; `issue` is the Schema's explanation.
 *
 * @since 0.1.0
 * @category errors
 */
export class DecodeError
  extends Data.TaggedError("DecodeError")<Common & { readonly issue: string; readonly cause?: unknown }>
{
  readonly [TypeId]: TypeId = TypeId
  /**
   * Builds a `DecodeError` from a Schema `ParseError`, keeping the formatted issue.
   *
   * @since 0.1.0
   */
  static fromParseError(
    error: ParseResult.ParseError,
    method: string,
    key?: string | undefined
  ): DecodeError {
    return new DecodeError({ method, key, issue: error.message, cause: error })
  }
  override get message(): string {
    return `${where(this)}: cannot decode the stored value: ${this.issue}`
  }
}

/**
 * A value could not be encoded for storage (the Schema rejected it, or the codec could not represent it).
 *
 * @since 0.1.0
 * @category errors
 */
export class EncodeError
  extends Data.TaggedError("EncodeError")<Common & { readonly issue: string; readonly cause?: unknown }>
{
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return `${where(this)}: cannot encode the value: ${this.issue}`
  }
}

/**
 * The engine failed: a driver error, an I/O error, a closed connection.
 *
 * @since 0.1.0
 * @category errors
 */
export class BackendError
  extends Data.TaggedError("BackendError")<Common & { readonly backend: string; readonly cause?: unknown }>
{
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    const cause = causeMessages(this.cause)
    return `${where(this)}: ${this.backend} failed${cause === "" ? "" : `: ${cause}`}`
  }
}

/**
 * The engine stayed locked by another writer past the busy timeout.
 *
 * @since 0.1.0
 * @category errors
 */
export class Busy extends Data.TaggedError("Busy")<Common & { readonly backend: string; readonly cause?: unknown }> {
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return `${where(this)}: ${this.backend} stayed busy past the busy timeout`
  }
}

/**
 * An operation did not finish within its time limit.
 *
 * @since 0.1.0
 * @category errors
 */
export class Timeout extends Data.TaggedError("Timeout")<Common & { readonly millis: number }> {
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return `${where(this)}: timed out after ${this.millis} ms`
  }
}

/**
 * A write was attempted through a read-only store.
 *
 * @since 0.1.0
 * @category errors
 */
export class ReadOnlyViolation extends Data.TaggedError("ReadOnlyViolation")<Common> {
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return `${where(this)}: the store is read-only`
  }
}

/**
 * A lock could not be acquired within its timeout.
 *
 * @since 0.1.0
 * @category errors
 */
export class LockTimeout extends Data.TaggedError("LockTimeout")<Common & { readonly name: string }> {
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return `${this.method}: timed out waiting for lock ${JSON.stringify(this.name)}`
  }
}

/**
 * A held lock's lease expired and was taken by another holder, or was released: reported by the lock itself
 * (`verify`, `lost`, `withLock`) and by a write fenced by it (`{ fence: lock }`), which then changed nothing.
 *
 * @since 0.1.0
 * @category errors
 */
export class LockLost extends Data.TaggedError("LockLost")<Common & { readonly name: string }> {
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return `${where(this)}: lost the lease on lock ${JSON.stringify(this.name)}`
  }
}

/**
 * A transaction could not commit because of a concurrent conflicting write.
 *
 * @since 0.1.0
 * @category errors
 */
export class TransactionConflict
  extends Data.TaggedError("TransactionConflict")<Common & { readonly cause?: unknown }>
{
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return `${where(this)}: the transaction conflicted with a concurrent write`
  }
}

/**
 * Encrypted bytes failed authentication: wrong key or tampered data.
 *
 * @since 0.1.0
 * @category errors
 */
export class DecryptionFailed extends Data.TaggedError("DecryptionFailed")<Common> {
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return `${where(this)}: decryption failed (wrong key or tampered data)`
  }
}

/**
 * The store's files are not a store this version can read: not a database, damaged, or written by an
 * incompatible format version.
 *
 * @since 0.1.0
 * @category errors
 */
export class StoreCorrupted extends Data.TaggedError("StoreCorrupted")<
  Common & { readonly backend: string; readonly reason: string; readonly cause?: unknown }
> {
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return `${where(this)}: ${this.backend} store cannot be used: ${this.reason}`
  }
}

/**
 * The backend cannot do this operation; its `capabilities` says so.
 *
 * @since 0.1.0
 * @category errors
 */
export class Unsupported extends Data.TaggedError("Unsupported")<Common & { readonly backend: string }> {
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return `${where(this)}: not supported by the ${this.backend} backend`
  }
}

/**
 * The key has no live entry (only from `getOrFail`-style accessors; plain reads return `Option.none`).
 *
 * @since 0.1.0
 * @category errors
 */
export class KeyNotFound extends Data.TaggedError("KeyNotFound")<{ readonly method: string; readonly key: string }> {
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return `${where(this)}: no such key`
  }
}

/**
 * A backend's driver package is not installed: server drivers (`ioredis`, `pg`, `mysql2`, ...) are optional peer
 * dependencies, loaded by their backend when a store opens, so an application installs only those it uses. `package`
 * names what to install (`npm install <package>`); `cause` is the module loader's error.
 *
 * @example
 * ```ts
 * import { KeyValueStoreError } from "effect-kv"
 * new KeyValueStoreError.MissingDependency({ method: "RedisStore.make", backend: "redis", package: "ioredis" })
 * ```
 * @since 0.1.0
 * @category errors
 */
export class MissingDependency extends Data.TaggedError("MissingDependency")<
  Common & { readonly backend: string; readonly package: string; readonly cause?: unknown }
> {
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return `${where(this)}: the ${this.backend} backend needs the package ${
      JSON.stringify(this.package)
    }, which is not installed (npm install ${this.package})`
  }
}

/**
 * Every error a store can fail with. Its Schema is `KeyValueStoreErrorSchema.KeyValueStoreError`.
 *
 * @since 0.1.0
 * @category models
 */
export type KeyValueStoreError =
  | InvalidKey
  | InvalidArgument
  | ValueTooLarge
  | StoreFull
  | NotANumber
  | DecodeError
  | EncodeError
  | BackendError
  | Busy
  | Timeout
  | ReadOnlyViolation
  | LockTimeout
  | LockLost
  | TransactionConflict
  | DecryptionFailed
  | StoreCorrupted
  | Unsupported
  | KeyNotFound
  | MissingDependency

/**
 * Tells whether a value is one of effect-kv's errors.
 *
 * @example
 * ```ts
 * import { KeyValueStoreError } from "effect-kv"
 * KeyValueStoreError.isKeyValueStoreError(new Error("x")) // false
 * ```
 * @since 0.1.0
 * @category refinements
 */
export const isKeyValueStoreError = (u: unknown): u is KeyValueStoreError => Predicate.hasProperty(u, TypeId)
