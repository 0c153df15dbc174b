/**
 * A bridge to `@effect/experimental`'s persistence: `BackingPersistence` on any of our stores, and so its
 * `ResultPersistence`, `PersistedCache` and `RequestResolver.persisted`. Each persistence store id is a namespace of
 * the store (the `Prefix` wrapper under `<prefix><store id><separator>`, default prefix `persistence.`), so its
 * `clear` removes that store id's entries and nothing else. Values are JSON (what `ResultPersistence` hands over: an
 * `Exit` encoded by the request's Schemas), stored as UTF-8 text; a ttl becomes the entry's ttl, measured by the
 * store's `Clock`; every failure of ours becomes a `PersistenceBackingError` whose `cause` is our typed error.
 *
 * @since 0.1.0
 */
import type * as Persistence from "@effect/experimental/Persistence"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Driver from "../internal/driver.js"
import type { Service } from "../KeyValueStore.js"
import * as KeyValueStore from "../KeyValueStore.js"
import type { KeyValueStoreError } from "../KeyValueStoreError.js"
import type { BackendError, InvalidArgument, MissingDependency } from "../KeyValueStoreError.js"
import { DecodeError, EncodeError } from "../KeyValueStoreError.js"
import * as Prefix from "../wrappers/Prefix.js"

/**
 * Options of the bridge. `prefix` is put in front of every persistence store's namespace (default `persistence`
 * followed by the store's separator; `""` puts store ids at the top of the store).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly prefix?: string | undefined
}

const encoder = new TextEncoder()
const decoder = new TextDecoder("utf-8", { fatal: true })

// A store id as one key segment: the separator and the escape character are escaped, so that no store id's namespace
// contains another's (`a` and `a.b` are disjoint) and different ids never share one.
const segment = (storeId: string, separator: string): string => {
  const escape = separator === "%" ? "~" : "%"
  const forEscape = separator === "e" ? "f" : "e"
  const forSeparator = separator === "s" ? "t" : "s"
  let out = ""
  for (const char of storeId) {
    out += char === escape ? escape + forEscape : char === separator ? escape + forSeparator : char
  }
  return out
}

/**
 * The key prefix under which the persistence store `storeId` keeps its entries in `store`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { KeyValueStore, Persistence } from "effect-kv"
 *
 * const where = Effect.map(KeyValueStore.KeyValueStore, (store) => Persistence.namespace(store, "users"))
 * // "persistence.users."
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const namespace = (store: Service, storeId: string, options?: Options): string =>
  (options?.prefix ?? `persistence${store.separator}`) + segment(storeId, store.separator) + store.separator

// `@effect/experimental` is imported when a store id is opened or a layer is built, not with this module: the package
// root re-exports it, and a program that does not use Persistence must not load (nor need) the package.
let experimental: typeof Persistence | undefined
const loaded = Effect.tap(Driver.experimentalPersistence, (module) => {
  experimental = module
})

const backing = (method: string) => (error: KeyValueStoreError) =>
  experimental!.PersistenceBackingError.make(method, error)

const ttlOf = (ttl: Option.Option<Duration.Duration>): "forever" | "expired" | Duration.Duration => {
  if (Option.isNone(ttl) || !Duration.isFinite(ttl.value)) return "forever"
  return Duration.toMillis(ttl.value) <= 0 ? "expired" : ttl.value
}

const encode = (method: string, key: string, value: unknown): Effect.Effect<Uint8Array, EncodeError> =>
  Effect.suspend(() => {
    let text: string | undefined
    try {
      text = JSON.stringify(value)
    } catch (cause) {
      return Effect.fail(new EncodeError({ method, key, issue: `not JSON: ${String(cause)}`, cause }))
    }
    return text === undefined
      ? Effect.fail(new EncodeError({ method, key, issue: `not JSON: ${typeof value}` }))
      : Effect.succeed(encoder.encode(text))
  })

const decode = (method: string, key: string, bytes: Uint8Array): Effect.Effect<unknown, DecodeError> =>
  Effect.try({
    try: () => JSON.parse(decoder.decode(bytes)) as unknown,
    catch: (cause) => new DecodeError({ method, key, issue: `not JSON: ${String(cause)}`, cause })
  })

const chunks = <A>(items: ReadonlyArray<A>): Array<ReadonlyArray<A>> => {
  const size = KeyValueStore.limits.maxBatch
  const out: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

const storeFor = (ns: Service, invalid: InvalidArgument | undefined): Persistence.BackingPersistenceStore => {
  const fail = (method: string) => Effect.fail(experimental!.PersistenceBackingError.make(method, invalid))
  if (invalid !== undefined) {
    return {
      get: () => fail("get"),
      getMany: () => fail("getMany"),
      set: () => fail("set"),
      setMany: () => fail("setMany"),
      remove: () => fail("remove"),
      clear: fail("clear")
    }
  }
  const read = (method: string, key: string, found: Option.Option<Uint8Array>) =>
    Option.isNone(found) ? Effect.succeedNone : Effect.asSome(decode(method, key, found.value))
  return {
    get: (key) => Effect.flatMap(ns.get(key), (found) => read("get", key, found)).pipe(Effect.mapError(backing("get"))),
    getMany: (keys) =>
      Effect.forEach(
        chunks(keys),
        (batch) =>
          Effect.flatMap(
            ns.getMany(batch),
            (found) => Effect.forEach(found, (one, i) => read("getMany", batch[i]!, one))
          )
      ).pipe(
        Effect.map((pages) => pages.flat()),
        Effect.mapError(backing("getMany"))
      ),
    set: (key, value, ttl) => {
      const life = ttlOf(ttl)
      if (life === "expired") return Effect.asVoid(Effect.mapError(ns.remove(key), backing("set")))
      return Effect.flatMap(
        encode("set", key, value),
        (bytes) => ns.set(key, bytes, life === "forever" ? undefined : { ttl: life })
      ).pipe(Effect.mapError(backing("set")))
    },
    setMany: (entries) =>
      Effect.gen(function*() {
        // The last write of a key wins, as in a sequence of `set`s; a ttl of zero or less is an immediate expiry.
        const last = new Map<string, readonly [unknown, "forever" | "expired" | Duration.Duration]>()
        for (const [key, value, ttl] of entries) {
          last.delete(key)
          last.set(key, [value, ttlOf(ttl)])
        }
        const writes: Array<readonly [string, Uint8Array, KeyValueStore.SetOptions]> = []
        const removes: Array<string> = []
        for (const [key, [value, life]] of last) {
          if (life === "expired") removes.push(key)
          else writes.push([key, yield* encode("setMany", key, value), life === "forever" ? {} : { ttl: life }])
        }
        for (const batch of chunks(writes)) yield* ns.setMany(batch)
        for (const batch of chunks(removes)) yield* ns.removeMany(batch)
      }).pipe(Effect.mapError(backing("setMany"))),
    remove: (key) => Effect.asVoid(Effect.mapError(ns.remove(key), backing("remove"))),
    clear: Effect.mapError(ns.clear, backing("clear"))
  }
}

/**
 * `BackingPersistence` on `store`: `make(storeId)` gives the namespace `namespace(store, storeId)` of the store, so a
 * store id's `clear` removes only its own entries. A store id that is not valid Unicode gives a store whose every
 * operation fails with `PersistenceBackingError` (cause `InvalidArgument`).
 *
 * @example
 * ```ts
 * import { Effect, Option } from "effect"
 * import { KeyValueStore, MemoryStore, Persistence } from "effect-kv"
 *
 * const program = Effect.gen(function*() {
 *   const backing = Persistence.make(yield* KeyValueStore.KeyValueStore)
 *   const users = yield* backing.make("users")
 *   yield* users.set("1", { name: "Ada" }, Option.none())
 * }).pipe(Effect.scoped, Effect.provide(MemoryStore.layer()))
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const make = (store: Service, options?: Options): Persistence.BackingPersistence => ({
  [BackingPersistenceTypeId]: BackingPersistenceTypeId,
  make: (storeId) =>
    Effect.flatMap(Effect.orDie(loaded), () => {
      const ns = namespace(store, storeId, options)
      const invalid = Prefix.validate(ns)
      return Effect.succeed(storeFor(invalid === undefined ? Prefix.make(store, ns) : store, invalid))
    })
})

// `@effect/experimental`'s `BackingPersistenceTypeId` (a registered symbol).
const BackingPersistenceTypeId: Persistence.BackingPersistenceTypeId = Symbol.for(
  "@effect/experimental/BackingPersistence"
) as Persistence.BackingPersistenceTypeId

/**
 * `BackingPersistence` on the `KeyValueStore` in context (to use another store, provide its layer to this one). Fails
 * with `InvalidArgument` when `prefix` is not valid Unicode, `MissingDependency` when `@effect/experimental` is not
 * installed.
 *
 * @example
 * ```ts
 * import { Persistence as ExperimentalPersistence } from "@effect/experimental"
 * import { Layer } from "effect"
 * import { Persistence, SqliteStore } from "effect-kv"
 *
 * const backing = Persistence.layer().pipe(Layer.provide(SqliteStore.layer({ filename: "cache.db" })))
 * const results = ExperimentalPersistence.layerResult.pipe(Layer.provide(backing))
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<
  Persistence.BackingPersistence,
  InvalidArgument | MissingDependency | BackendError,
  KeyValueStore.KeyValueStore
> =>
  Layer.unwrapEffect(Effect.map(loaded, (Persistence) =>
    Layer.effect(
      Persistence.BackingPersistence,
      Effect.flatMap(KeyValueStore.KeyValueStore, (store) => {
        const prefix = options?.prefix
        if (prefix !== undefined) {
          const invalid = Prefix.validate(prefix)
          if (invalid !== undefined) return Effect.fail(invalid)
        }
        return Effect.succeed(make(store, options))
      })
    )))

/**
 * `ResultPersistence` (what `PersistedCache` and `RequestResolver.persisted` need) on the `KeyValueStore` in context:
 * `@effect/experimental`'s `layerResult` over `layer(options)`.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { Persistence, SqliteStore } from "effect-kv"
 *
 * const results = Persistence.layerResult().pipe(Layer.provide(SqliteStore.layer({ filename: "cache.db" })))
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layerResult = (
  options?: Options
): Layer.Layer<
  Persistence.ResultPersistence,
  InvalidArgument | MissingDependency | BackendError,
  KeyValueStore.KeyValueStore
> =>
  Layer.unwrapEffect(Effect.map(loaded, (Persistence) => Persistence.layerResult.pipe(Layer.provide(layer(options)))))
