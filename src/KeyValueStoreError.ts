/**
 * The one error family of effect-kv. Every failure a store, a typed view or a policy can report is one of these
 * `Schema.TaggedError` classes: each carries the `method` that failed and, where it applies, the `key`. Foreign
 * failures (driver errors, Schema parse errors, crypto rejections) are mapped into this family once, at the edge, so
 * callers can match on `_tag` and never see an untyped rejection or a failure reported as a miss.
 *
 * @since 0.1.0
 */
import type * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"

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

const common = {
  method: Schema.String,
  key: Schema.optional(Schema.String)
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
export class InvalidKey extends Schema.TaggedError<InvalidKey>("effect-kv/InvalidKey")("InvalidKey", {
  ...common,
  reason: Schema.String
}) {
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
export class InvalidArgument extends Schema.TaggedError<InvalidArgument>("effect-kv/InvalidArgument")(
  "InvalidArgument",
  { ...common, argument: Schema.String, reason: Schema.String }
) {
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
export class ValueTooLarge extends Schema.TaggedError<ValueTooLarge>("effect-kv/ValueTooLarge")("ValueTooLarge", {
  ...common,
  size: Schema.Number,
  limit: Schema.Number
}) {
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
export class StoreFull extends Schema.TaggedError<StoreFull>("effect-kv/StoreFull")("StoreFull", {
  ...common,
  backend: Schema.String,
  limit: Schema.Literal("maxEntries", "maxSize"),
  max: Schema.Number
}) {
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
export class NotANumber extends Schema.TaggedError<NotANumber>("effect-kv/NotANumber")("NotANumber", {
  ...common,
  reason: Schema.optional(Schema.String)
}) {
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
export class DecodeError extends Schema.TaggedError<DecodeError>("effect-kv/DecodeError")("DecodeError", {
  ...common,
  issue: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {
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
export class EncodeError extends Schema.TaggedError<EncodeError>("effect-kv/EncodeError")("EncodeError", {
  ...common,
  issue: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {
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
export class BackendError extends Schema.TaggedError<BackendError>("effect-kv/BackendError")("BackendError", {
  ...common,
  backend: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {
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
export class Busy extends Schema.TaggedError<Busy>("effect-kv/Busy")("Busy", {
  ...common,
  backend: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {
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
export class Timeout extends Schema.TaggedError<Timeout>("effect-kv/Timeout")("Timeout", {
  ...common,
  millis: Schema.Number
}) {
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
export class ReadOnlyViolation extends Schema.TaggedError<ReadOnlyViolation>("effect-kv/ReadOnlyViolation")(
  "ReadOnlyViolation",
  { ...common }
) {
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
export class LockTimeout extends Schema.TaggedError<LockTimeout>("effect-kv/LockTimeout")("LockTimeout", {
  ...common,
  name: Schema.String
}) {
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
export class LockLost extends Schema.TaggedError<LockLost>("effect-kv/LockLost")("LockLost", {
  ...common,
  name: Schema.String
}) {
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
export class TransactionConflict extends Schema.TaggedError<TransactionConflict>("effect-kv/TransactionConflict")(
  "TransactionConflict",
  { ...common, cause: Schema.optional(Schema.Defect) }
) {
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
export class DecryptionFailed extends Schema.TaggedError<DecryptionFailed>("effect-kv/DecryptionFailed")(
  "DecryptionFailed",
  { ...common }
) {
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
export class StoreCorrupted extends Schema.TaggedError<StoreCorrupted>("effect-kv/StoreCorrupted")(
  "StoreCorrupted",
  { ...common, backend: Schema.String, reason: Schema.String, cause: Schema.optional(Schema.Defect) }
) {
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
export class Unsupported extends Schema.TaggedError<Unsupported>("effect-kv/Unsupported")("Unsupported", {
  ...common,
  backend: Schema.String
}) {
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
export class KeyNotFound extends Schema.TaggedError<KeyNotFound>("effect-kv/KeyNotFound")("KeyNotFound", {
  method: Schema.String,
  key: Schema.String
}) {
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return `${where(this)}: no such key`
  }
}

/**
 * Every error a store can fail with, as a schema.
 *
 * @since 0.1.0
 * @category schemas
 */
export const KeyValueStoreError = Schema.Union(
  InvalidKey,
  InvalidArgument,
  ValueTooLarge,
  StoreFull,
  NotANumber,
  DecodeError,
  EncodeError,
  BackendError,
  Busy,
  Timeout,
  ReadOnlyViolation,
  LockTimeout,
  LockLost,
  TransactionConflict,
  DecryptionFailed,
  StoreCorrupted,
  Unsupported,
  KeyNotFound
)

/**
 * Every error a store can fail with.
 *
 * @since 0.1.0
 * @category models
 */
export type KeyValueStoreError = typeof KeyValueStoreError.Type

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
