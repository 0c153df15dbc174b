/**
 * Codecs: how a typed value becomes bytes. A `Codec` turns the encoded form of a `Schema<A, I>` into bytes and back,
 * so `Codec.schema(schema, codec)` is a `Schema<A, Uint8Array>` whose transformations (`Schema.Date`,
 * `Schema.BigInt`, `Schema.Class`, `Schema.Map`, ...) apply before the bytes are written. Four codecs are built in:
 * `json` (the default of `TypedStore`, through `Schema.parseJson` over UTF-8), `msgpack` (MessagePack through
 * `msgpackr`, self-contained and deterministic), `string` (UTF-8 text) and `bytes` (identity). Each has a stable
 * numeric `id` that typed stores record beside the value. Bytes a codec cannot read fail as a Schema `ParseError`,
 * and so does a value a codec cannot represent faithfully (a `Map` or `NaN` under JSON, a `Set` under MessagePack):
 * the mistake shows up when writing, not as a surprise on a later read.
 *
 * @since 0.1.0
 */
import { dual } from "effect/Function"
import * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import type * as Types from "effect/Types"
import { Packr } from "msgpackr"
import { at, problemOf } from "./internal/faithful.js"
import * as FastPath from "./internal/fastPath.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: "~effect-kv/Codec" = "~effect-kv/Codec" as const

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * Bytes to and from the encoded form `I` of a value. `I` is contravariant: a codec for `unknown` (JSON,
 * MessagePack) serves every schema, `Codec<string>` only schemas whose encoded form is a string.
 *
 * @since 0.1.0
 * @category models
 */
export interface Codec<in I = unknown> {
  readonly [TypeId]: { readonly _I: Types.Contravariant<I> }
  /** Stable identifier recorded in typed values (one byte, 1–255). */
  readonly id: number
  readonly name: string
  /** The codec's own schema: decodes bytes into the encoded form of a value, encodes that form into bytes. */
  readonly wire: Schema.Schema<unknown, Uint8Array>
}

/**
 * Tells whether a value is a codec.
 *
 * @example
 * ```ts
 * import { Codec } from "effect-kv"
 * Codec.isCodec(Codec.json) // true
 * ```
 * @since 0.1.0
 * @category refinements
 */
export const isCodec = (u: unknown): u is Codec<never> => Predicate.hasProperty(u, TypeId)

const variance = { _I: (_: unknown) => {} }

const unsafeMake = <I>(
  id: number,
  name: string,
  wire: Schema.Schema<I, Uint8Array>,
  fast?: FastPath.FastPath
): Codec<I> => {
  const codec: Codec<I> = { [TypeId]: variance, id, name, wire: wire as Schema.Schema<any, Uint8Array> }
  if (fast) FastPath.register(codec, fast)
  return codec
}

/**
 * Defines a codec of your own (CBOR, a compressed format...). Ids 1–31 are reserved for the built-in codecs; pick a
 * fixed id from 32–255 and never reuse it for another format, since stored values carry it.
 *
 * @example
 * ```ts
 * import * as Schema from "effect/Schema"
 * import { Codec } from "effect-kv"
 *
 * // Latin-1 text, one byte per character
 * const latin1 = Codec.make({
 *   id: 32,
 *   name: "latin1",
 *   wire: Schema.transform(Schema.Uint8ArrayFromSelf, Schema.String, {
 *     strict: true,
 *     decode: (bytes) => Buffer.from(bytes).toString("latin1"),
 *     encode: (text) => Buffer.from(text, "latin1")
 *   })
 * })
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const make = <I>(options: {
  readonly id: number
  readonly name: string
  readonly wire: Schema.Schema<I, Uint8Array>
}): Codec<I> => {
  if (!Number.isInteger(options.id) || options.id < 32 || options.id > 255) {
    throw new RangeError(`Codec.make: id must be an integer from 32 to 255 (1-31 are reserved), got ${options.id}`)
  }
  return unsafeMake(options.id, options.name, options.wire)
}

/**
 * The schema of a value stored through a codec: `schema`'s encoded form, turned into bytes by `codec`.
 *
 * @example
 * ```ts
 * import * as Schema from "effect/Schema"
 * import { Codec } from "effect-kv"
 *
 * const Event = Schema.Struct({ at: Schema.Date, count: Schema.BigInt })
 * const EventBytes = Codec.schema(Event, Codec.msgpack) // Schema<{ at: Date; count: bigint }, Uint8Array>
 * const bytes = Schema.encodeSync(EventBytes)({ at: new Date(0), count: 2n ** 64n })
 * ```
 * @since 0.1.0
 * @category combinators
 */
export const schema: {
  <I>(codec: Codec<I>): <A, I2 extends I, R>(self: Schema.Schema<A, I2, R>) => Schema.Schema<A, Uint8Array, R>
  <A, I, R>(self: Schema.Schema<A, I, R>, codec: Codec<NoInfer<I>>): Schema.Schema<A, Uint8Array, R>
} = dual(
  2,
  <A, I, R>(self: Schema.Schema<A, I, R>, codec: Codec<I>): Schema.Schema<A, Uint8Array, R> =>
    Schema.compose(codec.wire, self, { strict: false })
)

const messageOf = (cause: unknown): string => cause instanceof Error ? cause.message : String(cause)

const jsonHint = "(use a Schema whose encoded form is JSON: Schema.Date, Schema.BigInt, Schema.Map, Schema.Uint8Array)"

const checkJson = (value: unknown): void => {
  const problem = problemOf(value, true)
  if (problem) throw new Error(`JSON cannot represent ${problem[0]}${at(problem[1])} ${jsonHint}`)
}

// `ignoreBOM` keeps a leading U+FEFF in the text, so strings round-trip exactly.
const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })

const utf8 = {
  encode: (text: string): Uint8Array => {
    if (!text.isWellFormed()) throw new Error("the string has a lone surrogate, which UTF-8 cannot hold")
    return Buffer.from(text, "utf8")
  },
  decode: (bytes: Uint8Array): string => {
    try {
      return utf8Decoder.decode(bytes)
    } catch {
      throw new Error("the bytes are not valid UTF-8")
    }
  }
}

const packr = new Packr({
  // plain MessagePack maps: no record structures, so every value is self-contained and any process can read it
  useRecords: false,
  mapsAsObjects: true,
  variableMapSize: true,
  bundleStrings: false,
  sequential: false,
  structuredClone: false,
  moreTypes: false,
  // floats stay 64-bit: lossless
  useFloat32: 0,
  int64AsType: "bigint",
  useBigIntExtension: true
})

const msgpackWire = {
  encode: (value: unknown): Uint8Array => {
    const problem = problemOf(value, false)
    if (problem) throw new Error(`MessagePack cannot represent ${problem[0]}${at(problem[1])} faithfully`)
    return packr.pack(value)
  },
  decode: (bytes: Uint8Array): unknown => {
    try {
      return packr.unpack(bytes)
    } catch (cause) {
      throw new Error(`not valid MessagePack: ${messageOf(cause)}`)
    }
  }
}

const wireSchema = <I>(
  to: Schema.Schema<I>,
  identifier: string,
  wire: { readonly encode: (value: I) => Uint8Array; readonly decode: (bytes: Uint8Array) => I }
): Schema.Schema<I, Uint8Array> =>
  Schema.transformOrFail(Schema.Uint8ArrayFromSelf, to, {
    strict: true,
    decode: (bytes, _, ast) =>
      ParseResult.try({ try: () => wire.decode(bytes), catch: (e) => new ParseResult.Type(ast, bytes, messageOf(e)) }),
    encode: (value, _, ast) =>
      ParseResult.try({ try: () => wire.encode(value), catch: (e) => new ParseResult.Type(ast, value, messageOf(e)) })
  }).annotations({ identifier })

const Utf8 = wireSchema(Schema.String, "Utf8Bytes", utf8)

// Encoding checks that the value is plain JSON, so JSON.stringify cannot quietly change it (a Map into `{}`, NaN
// into `null`, a Date into a string the schema does not expect): the failure is an encode error, not a later
// decode error.
const JsonValue = Schema.transformOrFail(Schema.Unknown, Schema.Unknown, {
  strict: true,
  decode: ParseResult.succeed,
  encode: (value, _, ast) =>
    ParseResult.try({
      try: () => {
        checkJson(value)
        return value
      },
      catch: (e) => new ParseResult.Type(ast, value, messageOf(e))
    })
}).annotations({ identifier: "JsonValue" })

/**
 * JSON text in UTF-8, through `Schema.parseJson`. Deterministic; the default codec of typed stores. A value whose
 * encoded form is not plain JSON (a `Map`, a `Date` object, a `bigint`, `NaN`, `undefined` in an array) fails to
 * encode instead of being silently changed: use the string-based schemas (`Schema.Date`, `Schema.BigInt`,
 * `Schema.Map`, `Schema.Uint8Array`). As in all JSON, a property whose value is `undefined` is left out, so
 * `{ a: undefined }` reads back as `{}` (MessagePack keeps it).
 *
 * @example
 * ```ts
 * import * as Schema from "effect/Schema"
 * import { Codec } from "effect-kv"
 *
 * const bytes = Schema.encodeSync(Codec.schema(Schema.Date, Codec.json))(new Date(0))
 * // the UTF-8 bytes of "\"1970-01-01T00:00:00.000Z\""
 * ```
 * @since 0.1.0
 * @category codecs
 */
export const json: Codec<unknown> = unsafeMake(1, "json", Schema.compose(Utf8, Schema.parseJson(JsonValue)), {
  encode: (value) => {
    checkJson(value)
    return Buffer.from(JSON.stringify(value), "utf8")
  },
  decode: (bytes) => JSON.parse(utf8.decode(bytes))
})

/**
 * MessagePack through `msgpackr`, configured to be self-contained (no record structures shared between messages or
 * processes) and deterministic (the same encoded value always gives the same bytes, keys in the order the Schema
 * produces them; 64-bit floats). Besides JSON's values it holds `Uint8Array`, `bigint` (any size) and `Date` natively,
 * so `Schema.Uint8ArrayFromSelf`, `Schema.BigIntFromSelf` and `Schema.DateFromSelf` work too. `Map`, `Set` and class
 * instances fail to encode: use `Schema.Map`, `Schema.Set` and `Schema.Class`, whose encoded forms are plain.
 *
 * @example
 * ```ts
 * import * as Schema from "effect/Schema"
 * import { Codec } from "effect-kv"
 *
 * const Blob = Schema.Struct({ id: Schema.BigIntFromSelf, data: Schema.Uint8ArrayFromSelf })
 * const bytes = Schema.encodeSync(Codec.schema(Blob, Codec.msgpack))({ id: 1n, data: new Uint8Array([1, 2]) })
 * ```
 * @since 0.1.0
 * @category codecs
 */
export const msgpack: Codec<unknown> = unsafeMake(
  2,
  "msgpack",
  wireSchema(Schema.Unknown, "MsgPackBytes", msgpackWire),
  msgpackWire
)

/**
 * Text stored as its UTF-8 bytes, for schemas whose encoded form is a string. Invalid UTF-8 fails to decode; a
 * string with a lone surrogate fails to encode.
 *
 * @example
 * ```ts
 * import * as Schema from "effect/Schema"
 * import { Codec } from "effect-kv"
 *
 * const bytes = Schema.encodeSync(Codec.schema(Schema.NumberFromString, Codec.string))(42) // "42"
 * ```
 * @since 0.1.0
 * @category codecs
 */
export const string: Codec<string> = unsafeMake(3, "string", Utf8, utf8 as FastPath.FastPath)

/**
 * Bytes as they are, for schemas whose encoded form is a `Uint8Array`.
 *
 * @example
 * ```ts
 * import * as Schema from "effect/Schema"
 * import { Codec } from "effect-kv"
 *
 * const bytes = Schema.encodeSync(Codec.schema(Schema.Uint8ArrayFromSelf, Codec.bytes))(new Uint8Array([1]))
 * ```
 * @since 0.1.0
 * @category codecs
 */
export const bytes: Codec<Uint8Array> = unsafeMake(4, "bytes", Schema.Uint8ArrayFromSelf)

/**
 * The built-in codecs, by id.
 *
 * @since 0.1.0
 * @category codecs
 */
export const builtin: ReadonlyMap<number, Codec<never>> = new Map<number, Codec<never>>([
  [json.id, json],
  [msgpack.id, msgpack],
  [string.id, string],
  [bytes.id, bytes]
])
