/**
 * Typed views over a `KeyValueStore`: values go through a `Schema` and a `Codec` on the way in and out, so `get`
 * returns `Option<A>` and a value that cannot be read is a typed `DecodeError`, never a defect and never a silent
 * miss. Each value is written in a small envelope (the byte `0xC1`, the codec id, the schema `version` as an unsigned
 * LEB128 integer, then the codec's bytes), so a program reading data written by an older version of itself notices:
 * by default a version mismatch is a `DecodeError`, `onMismatch: "miss"` treats such entries as absent, and `migrate`
 * turns old values into current ones. Data written with another built-in codec is read with that codec. A typed
 * store can be declared as a service with `Tag` and provided with `layer`.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import * as Codec from "./Codec.js"
import * as Cache from "./internal/cache/getOrSet.js"
import * as Representations from "./internal/cache/representations.js"
import * as Envelope from "./internal/envelope.js"
import * as FastPath from "./internal/fastPath.js"
import * as KeyValueStore from "./KeyValueStore.js"
import type { KeyValueStoreError } from "./KeyValueStoreError.js"
import { DecodeError, EncodeError, KeyNotFound, LockLost, TransactionConflict } from "./KeyValueStoreError.js"

/**
 * @since 0.1.0
 * @category type ids
 */
export const TypeId: "~effect-kv/TypedStore" = "~effect-kv/TypedStore" as const

/**
 * @since 0.1.0
 * @category type ids
 */
export type TypeId = typeof TypeId

/**
 * A typed view over a store. Reads decode (and fail with `DecodeError`), writes encode (and fail with `EncodeError`
 * before anything is written); every other failure is the store's.
 *
 * @since 0.1.0
 * @category models
 */
export interface TypedStore<A> {
  readonly [TypeId]: TypeId
  /** The raw store underneath. */
  readonly store: KeyValueStore.Service
  /** The schema version written into every value. */
  readonly version: number
  /** The value of a live entry. */
  readonly get: (key: string) => Effect.Effect<Option.Option<A>, KeyValueStoreError>
  /** The value of a live entry, or `KeyNotFound`. */
  readonly getOrFail: (key: string) => Effect.Effect<A, KeyValueStoreError>
  /** Values of many keys in one round trip, in the order asked. */
  readonly getMany: (keys: Iterable<string>) => Effect.Effect<ReadonlyArray<Option.Option<A>>, KeyValueStoreError>
  /** Writes (replaces) an entry. */
  readonly set: (key: string, value: A, options?: KeyValueStore.SetOptions) => Effect.Effect<void, KeyValueStoreError>
  /**
   * The value of a live entry, or else runs `compute`, writes its result with `options` and returns it (see
   * `KeyValueStore.GetOrSetOptions` for the lease and freshness controls). A stored value that does not decode
   * follows `onMismatch`: a `DecodeError`, or (`"miss"`) a miss that `compute` replaces.
   */
  readonly getOrSet: <E, R>(
    key: string,
    compute: Effect.Effect<A, E, R>,
    options?: KeyValueStore.GetOrSetOptions
  ) => Effect.Effect<A, E | KeyValueStoreError, R>
  /** Writes many entries in one transaction; nothing is written if any value fails to encode. */
  readonly setMany: (
    entries: Iterable<readonly [key: string, value: A, options?: KeyValueStore.SetOptions]>,
    options?: KeyValueStore.FenceOptions
  ) => Effect.Effect<void, KeyValueStoreError>
  /** Writes only if no live entry exists; tells whether it wrote. */
  readonly add: (
    key: string,
    value: A,
    options?: KeyValueStore.SetOptions
  ) => Effect.Effect<boolean, KeyValueStoreError>
  /** Whether a live entry exists (with `onMismatch: "miss"`, whether `get` would find a value). */
  readonly has: (key: string) => Effect.Effect<boolean, KeyValueStoreError>
  /** Removes an entry; tells whether a live one existed. */
  readonly remove: (key: string, options?: KeyValueStore.FenceOptions) => Effect.Effect<boolean, KeyValueStoreError>
  /** Reads and removes an entry atomically; an entry that fails to decode is left in place. */
  readonly pop: (
    key: string,
    options?: KeyValueStore.FenceOptions
  ) => Effect.Effect<Option.Option<A>, KeyValueStoreError>
  /** Gives a live entry a new ttl (`undefined`: no expiry); tells whether the entry existed. */
  readonly touch: (
    key: string,
    ttl: Duration.DurationInput | undefined,
    options?: KeyValueStore.FenceOptions
  ) => Effect.Effect<boolean, KeyValueStoreError>
  /** Remaining time to live: `none` when absent, `Duration.infinity` when the entry never expires. */
  readonly ttl: (key: string) => Effect.Effect<Option.Option<Duration.Duration>, KeyValueStoreError>
  /**
   * Atomic read-modify-write: `f` sees the current value and returns the next one (`none` removes the entry); the
   * result is the new value. Like `set`, the write takes `options` (no ttl: no expiry). It is an optimistic
   * `compareAndSwap` loop, so `f` must be pure: it runs again when another writer got in between.
   */
  readonly update: (
    key: string,
    f: (current: Option.Option<A>) => Option.Option<A>,
    options?: KeyValueStore.SetOptions
  ) => Effect.Effect<Option.Option<A>, KeyValueStoreError>
}

/**
 * Options of a typed store.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<A, I> {
  /** How the encoded form becomes bytes (default `Codec.json`). */
  readonly codec?: Codec.Codec<I> | undefined
  /** Schema version written with every value, an integer from 0 to 2^32 - 1 (default 1). */
  readonly version?: number | undefined
  /**
   * What a read does with an entry it cannot take for this schema: one written under another version (and not
   * migrated), with an unknown codec, or without an envelope. `"fail"` (default): `DecodeError`; `"miss"`: the
   * entry counts as absent (`get` gives `none`, `add` and `update` overwrite it).
   */
  readonly onMismatch?: "fail" | "miss" | undefined
  /**
   * Turns a value written under another schema version into a current one. It receives the stored version and the
   * value as its codec decoded it (the old schema's encoded form), typically decodes it with a Schema transformation
   * from the old shape, and returns `undefined` for versions it does not handle (then `onMismatch` applies). The
   * entry is not rewritten; the next write stores the current version.
   */
  readonly migrate?:
    | ((version: number, value: unknown) => Either.Either<A, ParseResult.ParseError> | undefined)
    | undefined
}

/**
 * Tells whether a value is a typed store.
 *
 * @example
 * ```ts
 * import { TypedStore } from "effect-kv"
 * TypedStore.isTypedStore({}) // false
 * ```
 * @since 0.1.0
 * @category refinements
 */
export const isTypedStore = (u: unknown): u is TypedStore<unknown> => Predicate.hasProperty(u, TypeId)

type Action<A> =
  | { readonly _tag: "Keep" }
  | { readonly _tag: "Remove" }
  | { readonly _tag: "Write"; readonly value: A }

const keep: Action<never> = { _tag: "Keep" }
const removal: Action<never> = { _tag: "Remove" }

// Bound on compareAndSwap retries: only a pathological write storm on one key gets there.
const maxAttempts = 100

const fromEither = <A, E>(either: Either.Either<A, E>): Effect.Effect<A, E> =>
  Either.isLeft(either) ? Effect.fail(either.left) : Effect.succeed(either.right)

/**
 * Builds a typed view over a store.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Schema from "effect/Schema"
 * import { Codec, KeyValueStore, MemoryStore, TypedStore } from "effect-kv"
 *
 * class User extends Schema.Class<User>("User")({ name: Schema.String, joined: Schema.Date }) {}
 *
 * const program = Effect.gen(function*() {
 *   const users = TypedStore.make(yield* KeyValueStore.KeyValueStore, User, { codec: Codec.msgpack, version: 2 })
 *   yield* users.set("user.1", new User({ name: "Ada", joined: new Date() }), { ttl: "1 day" })
 *   return yield* users.get("user.1") // Option<User>
 * }).pipe(Effect.provide(MemoryStore.layer()))
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const make = <A, I>(
  store: KeyValueStore.Service,
  schema: Schema.Schema<A, I>,
  options: Options<NoInfer<A>, NoInfer<I>> = {}
): TypedStore<A> => {
  const codec = options.codec ?? Codec.json
  const version = options.version ?? 1
  if (!Number.isInteger(version) || version < 0 || version > Envelope.MAX_VERSION) {
    throw new RangeError(`TypedStore.make: version must be an integer from 0 to 2^32 - 1, got ${version}`)
  }
  const miss = options.onMismatch === "miss"
  const migrate = options.migrate
  const head = Envelope.header(codec.id, version)
  const encodeI = Schema.encodeEither(schema)
  const decodeI = Schema.decodeUnknownEither(schema)

  // Bytes <-> A through one codec: the Schema for the value, then the codec's fast path when it has one. On any
  // failure the composed Schema runs again, so the reported error is exactly the Schema's.
  const pipeline = (c: Codec.Codec<never>) => {
    const composed = Codec.schema(schema, c as Codec.Codec<I>)
    const slowEncode = Schema.encodeEither(composed)
    const slowDecode = Schema.decodeUnknownEither(composed)
    const fast = FastPath.get(c)
    if (fast === undefined) return { encode: slowEncode, decode: slowDecode, wire: Schema.decodeUnknownEither(c.wire) }
    return {
      encode: (value: A): Either.Either<Uint8Array, ParseResult.ParseError> => {
        const encoded = encodeI(value)
        if (Either.isRight(encoded)) {
          try {
            return Either.right(fast.encode(encoded.right))
          } catch {
            // reported by the Schema below
          }
        }
        return slowEncode(value)
      },
      decode: (bytes: Uint8Array): Either.Either<A, ParseResult.ParseError> => {
        let encoded: unknown
        try {
          encoded = fast.decode(bytes)
        } catch {
          return slowDecode(bytes)
        }
        const decoded = decodeI(encoded)
        return Either.isRight(decoded) ? decoded : slowDecode(bytes)
      },
      wire: (bytes: Uint8Array): Either.Either<unknown, ParseResult.ParseError> => {
        try {
          return Either.right(fast.decode(bytes))
        } catch {
          return Schema.decodeUnknownEither(c.wire)(bytes)
        }
      }
    }
  }
  const current = pipeline(codec)
  const pipelines = new Map([[codec.id, current]])
  const pipelineOf = (id: number) => {
    let found = pipelines.get(id)
    if (found === undefined) {
      const c = Codec.builtin.get(id)
      if (c === undefined) return undefined
      found = pipeline(c)
      pipelines.set(id, found)
    }
    return found
  }

  const encode = (method: string, key: string, value: A): Either.Either<Uint8Array, EncodeError> => {
    const payload = current.encode(value)
    return Either.isLeft(payload)
      ? Either.left(new EncodeError({ method, key, issue: payload.left.message, cause: payload.left }))
      : Either.right(Envelope.wrap(head, payload.right))
  }

  const mismatch = (method: string, key: string, issue: string): Either.Either<Option.Option<A>, DecodeError> =>
    miss ? Either.right(Option.none()) : Either.left(new DecodeError({ method, key, issue }))

  const parseFailure = (method: string, key: string) => (error: ParseResult.ParseError) =>
    DecodeError.fromParseError(error, method, key)

  const decode = (method: string, key: string, bytes: Uint8Array): Either.Either<Option.Option<A>, DecodeError> => {
    const header = Envelope.read(bytes)
    if (header === undefined) return mismatch(method, key, "the value was not written by a typed store (no envelope)")
    const stored = pipelineOf(header.codec)
    if (stored === undefined) {
      return mismatch(method, key, `the value was written with an unknown codec (id ${header.codec})`)
    }
    const payload = bytes.subarray(header.offset)
    if (header.version === version) {
      return Either.mapBoth(stored.decode(payload), { onLeft: parseFailure(method, key), onRight: Option.some })
    }
    if (migrate !== undefined) {
      const raw = stored.wire(payload)
      if (Either.isLeft(raw)) return Either.left(parseFailure(method, key)(raw.left))
      const migrated = migrate(header.version, raw.right)
      if (migrated !== undefined) {
        return Either.mapBoth(migrated, { onLeft: parseFailure(method, key), onRight: Option.some })
      }
    }
    return mismatch(
      method,
      key,
      `the value was written with schema version ${header.version}, this store reads version ${version}`
    )
  }

  const decodeFound = (method: string, key: string, found: Option.Option<Uint8Array>) =>
    found._tag === "None" ? Either.right(Option.none<A>()) : decode(method, key, found.value)

  const get = (method: string) => (key: string) =>
    Effect.flatMap(store.get(key), (found) => fromEither(decodeFound(method, key, found)))

  // Read, decide, compareAndSwap against the exact bytes read; retry if another writer got in between. A fenced step
  // that writes nothing checks its fence all the same, with an empty fenced batch (which only checks it).
  const modify = <B>(
    method: string,
    key: string,
    f: (current: Option.Option<A>) => readonly [B, Action<A>],
    options?: KeyValueStore.SetOptions
  ): Effect.Effect<B, KeyValueStoreError> => {
    const attempt = (n: number): Effect.Effect<B, KeyValueStoreError> =>
      Effect.flatMap(store.get(key), (raw) => {
        const current = decodeFound(method, key, raw)
        if (Either.isLeft(current)) return Effect.fail(current.left)
        const [result, action] = f(current.right)
        const unchanged = options?.fence === undefined ? Effect.succeed(result) : Effect.as(
          Effect.mapError(
            store.removeMany([], { fence: options.fence }),
            (error) => error._tag === "LockLost" ? new LockLost({ method, key, name: error.name }) : error
          ),
          result
        )
        if (action._tag === "Keep") return unchanged
        let next: Option.Option<Uint8Array> = Option.none()
        if (action._tag === "Write") {
          const encoded = encode(method, key, action.value)
          if (Either.isLeft(encoded)) return Effect.fail(encoded.left)
          next = Option.some(encoded.right)
        } else if (raw._tag === "None") {
          return unchanged
        }
        return Effect.flatMap(store.compareAndSwap(key, raw, next, options), (swapped) => {
          if (swapped) return Effect.succeed(result)
          if (n >= maxAttempts) return Effect.fail(new TransactionConflict({ method, key }))
          return Effect.zipRight(Effect.yieldNow(), attempt(n + 1))
        })
      })
    return attempt(1)
  }

  const representation: Cache.Representation<A> = {
    encode: (method, key, value) => fromEither(encode(method, key, value)),
    decode: (method, key, bytes) => fromEither(decode(method, key, bytes))
  }

  return Representations.register({
    [TypeId]: TypeId,
    store,
    version,
    get: get("get"),
    getOrSet: (key, compute, options) => Cache.getOrSetWith(store, key, compute, representation, options),
    getOrFail: (key) =>
      Effect.flatMap(
        get("getOrFail")(key),
        (found) =>
          found._tag === "Some"
            ? Effect.succeed(found.value)
            : Effect.fail(new KeyNotFound({ method: "getOrFail", key }))
      ),
    getMany: (keys) => {
      const list = Array.from(keys)
      return Effect.flatMap(store.getMany(list), (found) => {
        const out: Array<Option.Option<A>> = []
        for (let i = 0; i < found.length; i++) {
          const decoded = decodeFound("getMany", list[i]!, found[i]!)
          if (Either.isLeft(decoded)) return Effect.fail(decoded.left)
          out.push(decoded.right)
        }
        return Effect.succeed(out)
      })
    },
    set: (key, value, options) =>
      Effect.flatMap(fromEither(encode("set", key, value)), (bytes) => store.set(key, bytes, options)),
    setMany: (entries, options) =>
      Effect.suspend(() => {
        const encoded: Array<readonly [string, Uint8Array, KeyValueStore.SetOptions?]> = []
        for (const [key, value, options] of entries) {
          const bytes = encode("setMany", key, value)
          if (Either.isLeft(bytes)) return Effect.fail(bytes.left)
          encoded.push(options === undefined ? [key, bytes.right] : [key, bytes.right, options])
        }
        return store.setMany(encoded, options)
      }),
    add: miss
      ? (key, value, options) =>
        modify(
          "add",
          key,
          (current) => current._tag === "Some" ? [false, keep] : [true, { _tag: "Write", value }],
          options
        )
      : (key, value, options) =>
        Effect.flatMap(fromEither(encode("add", key, value)), (bytes) => store.add(key, bytes, options)),
    has: miss ? (key) => Effect.map(get("has")(key), Option.isSome) : store.has,
    remove: store.remove,
    pop: (key, options) =>
      modify("pop", key, (current) => [current, current._tag === "Some" ? removal : keep], options),
    touch: store.touch,
    ttl: store.ttl,
    update: (key, f, options) =>
      modify<Option.Option<A>>("update", key, (current) => {
        const next = f(current)
        if (next._tag === "Some") return [next, { _tag: "Write", value: next.value }]
        return [next, current._tag === "Some" ? removal : keep]
      }, options)
  }, representation)
}

/**
 * Declares a typed store as a service: `class Users extends TypedStore.Tag("app/Users")<Users, User>() {}`. The same
 * as `Context.Tag(id)<Self, TypedStore<A>>()`.
 *
 * @example
 * ```ts
 * import * as Schema from "effect/Schema"
 * import { TypedStore } from "effect-kv"
 *
 * class User extends Schema.Class<User>("User")({ name: Schema.String }) {}
 * class Users extends TypedStore.Tag("app/Users")<Users, User>() {}
 * ```
 * @since 0.1.0
 * @category tags
 */
export const Tag = <const Id extends string>(id: Id) => <Self, A>(): Context.TagClass<Self, Id, TypedStore<A>> =>
  Context.Tag(id)<Self, TypedStore<A>>()

/**
 * Provides a typed store service over the `KeyValueStore` in context.
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import * as Schema from "effect/Schema"
 * import { MemoryStore, TypedStore } from "effect-kv"
 *
 * class User extends Schema.Class<User>("User")({ name: Schema.String }) {}
 * class Users extends TypedStore.Tag("app/Users")<Users, User>() {}
 *
 * const UsersLive = TypedStore.layer(Users, User, { version: 1 }).pipe(Layer.provide(MemoryStore.layer()))
 *
 * const program = Effect.gen(function*() {
 *   const users = yield* Users
 *   yield* users.set("user.1", new User({ name: "Ada" }))
 * }).pipe(Effect.provide(UsersLive))
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layer = <Self, A, I>(
  tag: Context.Tag<Self, TypedStore<A>>,
  schema: Schema.Schema<A, I>,
  options?: Options<NoInfer<A>, NoInfer<I>>
): Layer.Layer<Self, never, KeyValueStore.KeyValueStore> =>
  Layer.effect(tag, Effect.map(KeyValueStore.KeyValueStore, (store) => make(store, schema, options)))
