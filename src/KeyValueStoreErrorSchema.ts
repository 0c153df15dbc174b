/**
 * The Schemas of effect-kv's errors, for sending them across a boundary: an RPC error channel, a worker's messages,
 * a persisted `Exit`. Each decodes into the very class of `KeyValueStoreError` (so `instanceof`, `_tag` matching and
 * `isKeyValueStoreError` hold on the other side) from a tagged struct of its fields; `cause`, where an error has one,
 * travels as `Schema.Defect` (name, message and stack of an `Error`). The encoded form is the one the classes had when
 * they were `Schema.TaggedError`s.
 *
 * This module is apart from `KeyValueStoreError` so that the errors cost no `effect/Schema` to a program that never
 * uses a Schema: import it from `effect-kv/KeyValueStoreErrorSchema` where the errors must be encoded.
 *
 * @example
 * ```ts
 * import * as Schema from "effect/Schema"
 * import { KeyValueStoreError } from "effect-kv"
 * import * as KeyValueStoreErrorSchema from "effect-kv/KeyValueStoreErrorSchema"
 *
 * const encoded = Schema.encodeSync(KeyValueStoreErrorSchema.KeyValueStoreError)(
 *   new KeyValueStoreError.InvalidKey({ method: "get", key: "", reason: "empty key" })
 * )
 * const back = Schema.decodeUnknownSync(KeyValueStoreErrorSchema.KeyValueStoreError)(encoded)
 * back instanceof KeyValueStoreError.InvalidKey // true
 * ```
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as Errors from "./KeyValueStoreError.js"

const common = {
  method: Schema.String,
  key: Schema.optional(Schema.String)
}

const cause = Schema.optional(Schema.Defect)

/**
 * The Schema of one error class: a tagged struct of `fields`, decoded by constructing the class and encoded from an
 * instance's own fields.
 */
const ofClass = <
  Self extends { readonly _tag: string },
  const Tag extends Self["_tag"],
  Fields extends Schema.Struct.Fields
>(
  Class: new(props: any) => Self,
  tag: Tag,
  fields: Fields
): Schema.Schema<Self, Schema.Struct.Encoded<{ readonly _tag: Schema.tag<Tag> } & Fields>> => {
  const names = Object.keys(fields)
  return Schema.transform(Schema.TaggedStruct(tag, fields), Schema.instanceOf(Class), {
    strict: false,
    decode: (struct) => {
      const { _tag, ...props } = struct as Record<string, unknown>
      return new Class(props)
    },
    encode: (error) => {
      const out: Record<string, unknown> = { _tag: error._tag }
      for (const name of names) if (Object.hasOwn(error, name)) out[name] = (error as any)[name]
      return out
    }
  }).annotations({ identifier: tag, title: `KeyValueStoreError.${tag}` }) as any
}

/** @since 0.1.0 @category schemas */
export const InvalidKey = ofClass(Errors.InvalidKey, "InvalidKey", { ...common, reason: Schema.String })

/** @since 0.1.0 @category schemas */
export const InvalidArgument = ofClass(Errors.InvalidArgument, "InvalidArgument", {
  ...common,
  argument: Schema.String,
  reason: Schema.String
})

/** @since 0.1.0 @category schemas */
export const ValueTooLarge = ofClass(Errors.ValueTooLarge, "ValueTooLarge", {
  ...common,
  size: Schema.Number,
  limit: Schema.Number
})

/** @since 0.1.0 @category schemas */
export const StoreFull = ofClass(Errors.StoreFull, "StoreFull", {
  ...common,
  backend: Schema.String,
  limit: Schema.Literal("maxEntries", "maxSize"),
  max: Schema.Number
})

/** @since 0.1.0 @category schemas */
export const NotANumber = ofClass(Errors.NotANumber, "NotANumber", {
  ...common,
  reason: Schema.optional(Schema.String)
})

/** @since 0.1.0 @category schemas */
export const DecodeError = ofClass(Errors.DecodeError, "DecodeError", { ...common, issue: Schema.String, cause })

/** @since 0.1.0 @category schemas */
export const EncodeError = ofClass(Errors.EncodeError, "EncodeError", { ...common, issue: Schema.String, cause })

/** @since 0.1.0 @category schemas */
export const BackendError = ofClass(Errors.BackendError, "BackendError", { ...common, backend: Schema.String, cause })

/** @since 0.1.0 @category schemas */
export const Busy = ofClass(Errors.Busy, "Busy", { ...common, backend: Schema.String, cause })

/** @since 0.1.0 @category schemas */
export const Timeout = ofClass(Errors.Timeout, "Timeout", { ...common, millis: Schema.Number })

/** @since 0.1.0 @category schemas */
export const ReadOnlyViolation = ofClass(Errors.ReadOnlyViolation, "ReadOnlyViolation", common)

/** @since 0.1.0 @category schemas */
export const LockTimeout = ofClass(Errors.LockTimeout, "LockTimeout", { ...common, name: Schema.String })

/** @since 0.1.0 @category schemas */
export const LockLost = ofClass(Errors.LockLost, "LockLost", { ...common, name: Schema.String })

/** @since 0.1.0 @category schemas */
export const TransactionConflict = ofClass(Errors.TransactionConflict, "TransactionConflict", { ...common, cause })

/** @since 0.1.0 @category schemas */
export const DecryptionFailed = ofClass(Errors.DecryptionFailed, "DecryptionFailed", common)

/** @since 0.1.0 @category schemas */
export const StoreCorrupted = ofClass(Errors.StoreCorrupted, "StoreCorrupted", {
  ...common,
  backend: Schema.String,
  reason: Schema.String,
  cause
})

/** @since 0.1.0 @category schemas */
export const Unsupported = ofClass(Errors.Unsupported, "Unsupported", { ...common, backend: Schema.String })

/** @since 0.1.0 @category schemas */
export const KeyNotFound = ofClass(Errors.KeyNotFound, "KeyNotFound", { method: Schema.String, key: Schema.String })

/** @since 0.1.0 @category schemas */
export const MissingDependency = ofClass(Errors.MissingDependency, "MissingDependency", {
  ...common,
  backend: Schema.String,
  package: Schema.String,
  cause
})

/**
 * Every error a store can fail with, as one Schema (a union on `_tag`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const KeyValueStoreError: Schema.Schema<
  Errors.KeyValueStoreError,
  Schema.Schema.Encoded<
    | typeof InvalidKey
    | typeof InvalidArgument
    | typeof ValueTooLarge
    | typeof StoreFull
    | typeof NotANumber
    | typeof DecodeError
    | typeof EncodeError
    | typeof BackendError
    | typeof Busy
    | typeof Timeout
    | typeof ReadOnlyViolation
    | typeof LockTimeout
    | typeof LockLost
    | typeof TransactionConflict
    | typeof DecryptionFailed
    | typeof StoreCorrupted
    | typeof Unsupported
    | typeof KeyNotFound
    | typeof MissingDependency
  >
> = Schema.Union(
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
  KeyNotFound,
  MissingDependency
)
