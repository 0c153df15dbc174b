/**
 * Memoized functions over a `KeyValueStore`: `Memoize.effect(f, options)` for functions returning an `Effect`,
 * `Memoize.promise(f, options)` for plain async functions run through a `Runtime` the caller gives. A call looks its
 * result up in the store under a key made of the arguments and runs `f` only on a miss; the result is written with
 * `ttl`, `tags` and `metadata`. Every call goes through the store's read-through engine (the one behind
 * `getOrSet`), so memoized functions get what it offers: one computation per key for concurrent callers in the
 * process, the cross-process lease (`lock`), and the freshness controls (`staleWhileRevalidate`, `grace`,
 * `softTimeout`, `hardTimeout`).
 *
 * - **Keys.** By default `namespace.<sha256>`: the `namespace` option, or `f.name`, then the SHA-256 (hex) of a
 *   canonical encoding of the argument list. Plain objects are encoded with their keys sorted; `Date`, `bigint`,
 *   `Map`, `Set` (members in an order independent of insertion), `Uint8Array` and the other typed arrays by
 *   content; distinct types never share an encoding (`"1"`, `1` and `1n`; `[]`, `{}`, `null` and `undefined`).
 *   Numbers compare as `Object.is`: every `NaN` is one argument, `-0` and `0` are two. `f(1)` and
 *   `f(1, undefined)` are two keys, and so are `{}` and `{ a: undefined }`. A function, a symbol, a cycle, a class
 *   instance or a boxed primitive cannot be encoded faithfully and fails the call with `InvalidArgument` (give a
 *   `key` function for such arguments). A `key` function replaces the default key altogether.
 * - **Values.** Results are kept in the typed-store envelope (codec id, schema `version`, payload; the payload is
 *   `[]` for `undefined`, `[result]` otherwise). With a `schema`, any value the schema encodes; without one, JSON values
 *   through `Codec.json` (a result JSON cannot hold fails the call with `EncodeError`: give a schema). `undefined`
 *   results are cached too. An entry this function cannot read (another version, another codec, a payload its schema
 *   rejects) is recomputed and overwritten by default (`onMismatch: "miss"`); `onMismatch: "fail"` reports it as
 *   `DecodeError`.
 * - **`when`.** `args: false` bypasses the cache for that call (`f` runs, nothing is read or written); `result:
 *   false` returns the result without writing it; `flag` names a key in the store that switches caching off while
 *   it holds `false` (as `Memoize.disable` writes it) and on when it is absent or holds anything else: while off,
 *   every call runs `f` and the store is neither read nor written.
 * - **Failures.** A failure of `f` is not cached, unless `cacheFailures` gives a schema it decodes with: then it is
 *   stored for `cacheFailures.ttl` and replayed as the same failure. Defects and interruptions are never cached.
 *   Store failures fail the call with their typed error; `onReadFailure: "compute"` runs `f` instead when the read
 *   fails (a flag that cannot be read then counts as off).
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as DefaultServices from "effect/DefaultServices"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Runtime from "effect/Runtime"
import * as Schema from "effect/Schema"
import * as Tracer from "effect/Tracer"
import type * as Codec from "./Codec.js"
import * as Cache from "./internal/cache/getOrSet.js"
import * as Key from "./internal/cache/key.js"
import * as Representations from "./internal/cache/representations.js"
import * as KeyValueStore from "./KeyValueStore.js"
import type { KeyValueStoreError } from "./KeyValueStoreError.js"
import { InvalidArgument } from "./KeyValueStoreError.js"
import * as TypedStore from "./TypedStore.js"

/**
 * When a call uses the cache.
 *
 * @since 0.1.0
 * @category models
 */
export interface When<Args extends ReadonlyArray<unknown>, A> {
  /** `false`: this call bypasses the cache (`f` runs; nothing is read or written). */
  readonly args?: ((...args: Args) => boolean) | undefined
  /** `false`: this result is returned without being written. */
  readonly result?: ((value: A) => boolean) | undefined
  /** A key in the store: caching is off while it holds `false` (`Memoize.disable`), on otherwise. */
  readonly flag?: string | undefined
}

/**
 * Negative caching: failures that `schema` takes are stored for `ttl` and replayed as the same failure.
 *
 * @since 0.1.0
 * @category models
 */
export interface CacheFailures<EF, EI = unknown> {
  /** The failures to keep: a failure is kept when it is a value of this schema (`Schema.is`), encoded with it. */
  readonly schema: Schema.Schema<EF, EI>
  /** How long a failure is kept (absent: no expiry). */
  readonly ttl?: Duration.DurationInput | undefined
}

/**
 * Options of a memoized function. Besides its own, every option of `getOrSet` but `fence`: `ttl`, `tags`, `metadata`
 * for the write, `lock` for the cross-process lease, and the freshness controls.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<Args extends ReadonlyArray<unknown>, A, I = unknown, EF = never>
  extends Omit<KeyValueStore.GetOrSetOptions, "fence">
{
  /** The store (default: the `KeyValueStore` in context, at each call). */
  readonly store?: KeyValueStore.Service | undefined
  /** The first part of the default key (default: `f.name`; a function without a name needs one or a `key`). */
  readonly namespace?: string | undefined
  /** The whole key of a call, replacing the default key. */
  readonly key?: ((...args: Args) => string) | undefined
  /** The schema of results (default: JSON values). */
  readonly schema?: Schema.Schema<A, I> | undefined
  /** The codec of results (default `Codec.json`). */
  readonly codec?: Codec.Codec<I> | undefined
  /** The schema version written with results (default 1): bump it when the result's schema changes. */
  readonly version?: number | undefined
  /** An entry this function cannot read: recomputed (`"miss"`, default) or `DecodeError` (`"fail"`). */
  readonly onMismatch?: "fail" | "miss" | undefined
  /** When a call uses the cache. */
  readonly when?: When<Args, A> | undefined
  /** Failures to cache (default: none). */
  readonly cacheFailures?: CacheFailures<EF, any> | undefined
}

/**
 * A memoized Effect function: `f`'s parameters, `f`'s result, and `keyOf` giving the key of a call.
 *
 * @since 0.1.0
 * @category models
 */
export interface Memoized<Args extends ReadonlyArray<unknown>, A, E, R> {
  (...args: Args): Effect.Effect<A, E, R>
  /** The key a call with `args` reads and writes (for `store.remove`). */
  readonly keyOf: (...args: Args) => Effect.Effect<string, InvalidArgument>
}

const method = "Memoize"

const defaultTracer: Tracer.Tracer = Effect.runSync(Effect.tracer)

const invalid = (argument: string, reason: string) => new InvalidArgument({ method, argument, reason })

/**
 * The default key of a call with `args` of a function memoized under `namespace` (its name by default): what to
 * remove to drop one memoized result.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { KeyValueStore, Memoize } from "effect-kv"
 *
 * const forget = (id: number) =>
 *   Effect.gen(function*() {
 *     const store = yield* KeyValueStore.KeyValueStore
 *     return yield* store.remove(yield* Memoize.keyOf("fetchUser", [id]))
 *   })
 * ```
 * @since 0.1.0
 * @category keys
 */
export const keyOf = (namespace: string, args: ReadonlyArray<unknown>): Effect.Effect<string, InvalidArgument> =>
  Effect.suspend(() => {
    const key = keyText(namespace, args)
    return typeof key === "string" ? Effect.succeed(key) : Effect.fail(key)
  })

// The default key of a call, or why it has none.
const keyText = (namespace: string, args: ReadonlyArray<unknown>): string | InvalidArgument => {
  if (typeof namespace !== "string" || namespace === "") {
    return invalid("namespace", "a memoized function needs a namespace, a name or a key function")
  }
  if (!Array.isArray(args)) return invalid("args", "the arguments must be an array")
  const hashed = Key.hash(args)
  return "hash" in hashed
    ? `${namespace}.${hashed.hash}`
    : invalid(`args${Key.pathText(hashed.path)}`, `cannot hash ${hashed.reason}`)
}

const encoder = new TextEncoder()
const falseBytes = encoder.encode("false")

const isFalse = (bytes: Uint8Array): boolean =>
  bytes.byteLength === falseBytes.byteLength && bytes.every((b, i) => b === falseBytes[i])

/**
 * Switches caching off for every function memoized with `when: { flag }`: writes `false` under `flag`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { KeyValueStore, Memoize } from "effect-kv"
 *
 * const maintenance = Effect.flatMap(KeyValueStore.KeyValueStore, (store) => Memoize.disable(store, "cache.enabled"))
 * ```
 * @since 0.1.0
 * @category flags
 */
export const disable = (
  store: KeyValueStore.Service,
  flag: string,
  options?: KeyValueStore.SetOptions
): Effect.Effect<void, KeyValueStoreError> => store.set(flag, "false", options)

/**
 * Switches caching back on for every function memoized with `when: { flag }`: writes `true` under `flag` (removing
 * the flag does the same).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { KeyValueStore, Memoize } from "effect-kv"
 *
 * const resume = Effect.flatMap(KeyValueStore.KeyValueStore, (store) => Memoize.enable(store, "cache.enabled"))
 * ```
 * @since 0.1.0
 * @category flags
 */
export const enable = (
  store: KeyValueStore.Service,
  flag: string,
  options?: KeyValueStore.SetOptions
): Effect.Effect<void, KeyValueStoreError> => store.set(flag, "true", options)

/**
 * Whether caching is on under `flag`: `false` only while the flag holds `false`.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { KeyValueStore, Memoize } from "effect-kv"
 *
 * const on = Effect.flatMap(KeyValueStore.KeyValueStore, (store) => Memoize.isEnabled(store, "cache.enabled"))
 * ```
 * @since 0.1.0
 * @category flags
 */
export const isEnabled = (store: KeyValueStore.Service, flag: string): Effect.Effect<boolean, KeyValueStoreError> =>
  Effect.map(store.get(flag), (found) => Option.isNone(found) || !isFalse(found.value))

// A result as a list: `[]` for `undefined` (which JSON cannot hold), `[encoded]` otherwise.
const slot = <A, I>(value: Schema.Schema<A, I>): Schema.Schema<A, ReadonlyArray<unknown>> => {
  const decodeValue = ParseResult.decodeUnknown(value)
  const encodeValue = ParseResult.encodeUnknown(value)
  const type = Schema.typeSchema(value)
  const isValue = Schema.is(type)
  return Schema.transformOrFail(Schema.Array(Schema.Unknown), type, {
    strict: true,
    decode: (list, _, ast) => {
      if (list.length === 1) return decodeValue(list[0])
      if (list.length === 0 && isValue(undefined)) return ParseResult.succeed(undefined as A)
      return ParseResult.fail(new ParseResult.Type(ast, list, "not a memoized result"))
    },
    encode: (a) => a === undefined ? ParseResult.succeed([]) : ParseResult.map(encodeValue(a), (i) => [i])
  })
}

interface Failures<E, EF> {
  readonly schema: Schema.Schema<EF, any>
  readonly ttl: Duration.DurationInput | undefined
  /** The failure to store, if `e` is one. */
  readonly keep: (e: E) => Option.Option<EF>
  /** The failure a stored one replays as. */
  readonly replay: (ef: EF) => E
}

const build = <Args extends ReadonlyArray<unknown>, A, E, R, I, EF>(
  f: (...args: Args) => Effect.Effect<A, E, R>,
  options: Options<Args, A, I, EF>,
  failures: Failures<E, EF> | undefined
): Memoized<Args, A, E | KeyValueStoreError, R | KeyValueStore.KeyValueStore> => {
  const namespace = options.namespace ?? f.name
  const customKey = options.key
  const when = options.when
  const result = when?.result
  const flag = when?.flag
  const readFailureComputes = options.onReadFailure === "compute"
  const miss = (options.onMismatch ?? "miss") === "miss"
  const getOrSetOptions: KeyValueStore.GetOrSetOptions = {
    ttl: options.ttl,
    tags: options.tags,
    metadata: options.metadata,
    lock: options.lock,
    staleWhileRevalidate: options.staleWhileRevalidate,
    grace: options.grace,
    softTimeout: options.softTimeout,
    hardTimeout: options.hardTimeout,
    onReadFailure: options.onReadFailure
  }
  const failureOptions: KeyValueStore.GetOrSetOptions = {
    ttl: failures?.ttl,
    tags: options.tags,
    metadata: options.metadata,
    onReadFailure: options.onReadFailure
  }
  const value = slot(options.schema ?? (Schema.Unknown as unknown as Schema.Schema<A, I>))
  // Results alone, or `Either<result, failure>` when failures are cached.
  const stored: Schema.Schema<any, any> = failures === undefined
    ? value
    : Schema.Either({ right: value, left: failures.schema })
  const typedOptions = {
    codec: options.codec as Codec.Codec<unknown> | undefined,
    version: options.version,
    onMismatch: options.onMismatch ?? "miss"
  }

  const representations = new WeakMap<KeyValueStore.Service, Cache.Representation<any>>()
  const representationOf = (store: KeyValueStore.Service): Cache.Representation<any> => {
    let found = representations.get(store)
    if (found === undefined) {
      const typed = Representations.of<any>(TypedStore.make(store, stored, typedOptions))
      found = miss
        ? {
          encode: typed.encode,
          decode: (m, k, bytes) =>
            Effect.catchTag(typed.decode(m, k, bytes), "DecodeError", () => Effect.succeed(Option.none()))
        }
        : typed
      representations.set(store, found)
    }
    return found
  }

  // The key of a call, or the reason it has none (synchronous: the hit path builds no Effect for it).
  const keyNow = (args: Args): string | InvalidArgument => {
    if (customKey === undefined) return keyText(namespace, args)
    let key: unknown
    try {
      key = customKey(...args)
    } catch (e) {
      return invalid("key", `the key function threw: ${e instanceof Error ? e.message : String(e)}`)
    }
    return typeof key === "string" ? key : invalid("key", `the key function returned ${typeof key}, not a string`)
  }
  const keyOfCall = (...args: Args): Effect.Effect<string, InvalidArgument> =>
    Effect.suspend(() => {
      const key = keyNow(args)
      return typeof key === "string" ? Effect.succeed(key) : Effect.fail(key)
    })

  const cached = (
    store: KeyValueStore.Service,
    key: string,
    args: Args
  ): Effect.Effect<A, E | KeyValueStoreError, R> => {
    const representation = representationOf(store)
    if (failures === undefined) {
      return Cache.getOrSetWith(
        store,
        key,
        f(...args),
        representation as Cache.Representation<A>,
        getOrSetOptions,
        result === undefined ? undefined : { shouldStore: result }
      )
    }
    let computed: Option.Option<EF> = Option.none()
    const compute = Effect.catchAll(Effect.map(f(...args), Either.right), (e) => {
      const kept = failures.keep(e)
      if (Option.isNone(kept)) return Effect.fail(e)
      computed = kept
      return Effect.succeed(Either.left(kept.value))
    })
    const shouldStore = (outcome: Either.Either<A, EF>) =>
      Either.isRight(outcome) && (result === undefined || result(outcome.right))
    return Effect.flatMap(
      Cache.getOrSetWith(
        store,
        key,
        compute,
        representation as Cache.Representation<Either.Either<A, EF>>,
        getOrSetOptions,
        {
          shouldStore
        }
      ),
      (outcome) => {
        if (Either.isRight(outcome)) return Effect.succeed(outcome.right)
        const failure = Effect.fail(failures.replay(outcome.left))
        if (Option.isNone(computed)) return failure
        // This call computed the failure: store it with its own ttl, through the engine like any other write.
        return Effect.zipRight(
          Cache.getOrSetWith(store, key, Effect.succeed(outcome), representation, failureOptions),
          failure
        )
      }
    )
  }

  const withStore = (
    store: KeyValueStore.Service,
    key: string,
    args: Args
  ): Effect.Effect<A, E | KeyValueStoreError, R> => {
    if (flag === undefined) return cached(store, key, args)
    const on = readFailureComputes
      ? Effect.catchAll(isEnabled(store, flag), () => Effect.succeed(false))
      : isEnabled(store, flag)
    return Effect.flatMap(on, (enabled) => enabled ? cached(store, key, args) : f(...args))
  }
  const given = options.store
  const call = (args: Args): Effect.Effect<A, E | KeyValueStoreError, R | KeyValueStore.KeyValueStore> => {
    if (when?.args !== undefined && !when.args(...args)) return f(...args)
    const key = keyNow(args)
    if (typeof key !== "string") return Effect.fail(key)
    return given === undefined
      ? Effect.flatMap(KeyValueStore.KeyValueStore, (store) => withStore(store, key, args))
      : withStore(given, key, args)
  }
  // One step per call: the tracer is looked up in the fiber's services (a span only when one is installed, so
  // without one the hit path pays one context lookup, not a span), then the call is built.
  const traced = (...args: Args): Effect.Effect<A, E | KeyValueStoreError, R | KeyValueStore.KeyValueStore> =>
    Effect.withFiberRuntime((fiber) => {
      const self = call(args)
      return Context.get(fiber.getFiberRef(DefaultServices.currentServices), Tracer.Tracer) === defaultTracer
        ? self
        : Effect.withSpan(self, "effect-kv.memoize", {
          attributes: { "kv.namespace": namespace },
          captureStackTrace: false
        })
    })

  return Object.assign(traced, { keyOf: keyOfCall })
}

/**
 * Memoizes a function returning an `Effect`: the returned function takes the same arguments and returns the result
 * stored under their key, running `f` only on a miss. Without a `store` option it needs the `KeyValueStore` in
 * context.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import * as Schema from "effect/Schema"
 * import { MemoryStore, Memoize } from "effect-kv"
 *
 * const Price = Schema.Struct({ sku: Schema.String, cents: Schema.Number, at: Schema.Date })
 * const fetchPrice = (sku: string) => Effect.succeed({ sku, cents: 1299, at: new Date() })
 * const price = Memoize.effect(fetchPrice, { schema: Price, ttl: "5 minutes", tags: ["prices"] })
 *
 * const program = Effect.gen(function*() {
 *   yield* price("sku-1") // runs fetchPrice
 *   return yield* price("sku-1") // read from the store
 * }).pipe(Effect.provide(MemoryStore.layer()))
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const effect: {
  <Args extends ReadonlyArray<any>, A, E, R, I = unknown, EF = never>(
    f: (...args: Args) => Effect.Effect<A, E, R>,
    options: Options<Args, NoInfer<A>, I, EF> & { readonly store: KeyValueStore.Service }
  ): Memoized<Args, A, E | EF | KeyValueStoreError, R>
  <Args extends ReadonlyArray<any>, A, E, R, I = unknown, EF = never>(
    f: (...args: Args) => Effect.Effect<A, E, R>,
    options?: Options<Args, NoInfer<A>, I, EF>
  ): Memoized<Args, A, E | EF | KeyValueStoreError, R | KeyValueStore.KeyValueStore>
} = <Args extends ReadonlyArray<any>, A, E, R, I, EF>(
  f: (...args: Args) => Effect.Effect<A, E, R>,
  options: Options<Args, A, I, EF> = {}
): Memoized<Args, A, E | EF | KeyValueStoreError, R | KeyValueStore.KeyValueStore> => {
  const cacheFailures = options.cacheFailures
  const failures: Failures<E | EF, EF> | undefined = cacheFailures === undefined ? undefined : {
    schema: cacheFailures.schema,
    ttl: cacheFailures.ttl,
    keep: Option.liftPredicate(Schema.is(cacheFailures.schema)) as (e: E | EF) => Option.Option<EF>,
    replay: (ef) => ef
  }
  return build<Args, A, E | EF, R, I, EF>(f, options, failures)
}

/** The rejection of a memoized promise function, carried through the Effect until the promise rejects. */
class Rejection {
  constructor(readonly error: unknown) {}
}

/**
 * Options of a memoized promise function: those of `effect`, and the runtime calls run on (which provides the
 * `KeyValueStore` when there is no `store` option).
 *
 * @since 0.1.0
 * @category models
 */
export type PromiseOptions<Args extends ReadonlyArray<unknown>, A, I = unknown, EF = never> =
  & Options<Args, A, I, EF>
  & (
    | { readonly store: KeyValueStore.Service; readonly runtime?: Runtime.Runtime<never> | undefined }
    | { readonly store?: undefined; readonly runtime: Runtime.Runtime<KeyValueStore.KeyValueStore> }
  )

/**
 * Memoizes a plain async function: the returned function takes the same arguments and returns a promise of the
 * result stored under their key, calling `f` only on a miss. Calls run on `runtime`. A rejection of `f` rejects with
 * the same value; a store failure rejects with its typed `KeyValueStoreError`. `cacheFailures.schema` is checked
 * against `f`'s rejection value.
 *
 * @example
 * ```ts
 * import { Effect, ManagedRuntime } from "effect"
 * import { MemoryStore, Memoize } from "effect-kv"
 *
 * const runtime = await ManagedRuntime.make(MemoryStore.layer()).runtime()
 * const lookup = Memoize.promise(async (host: string) => ({ host, ip: "192.0.2.1" }), {
 *   namespace: "dns",
 *   ttl: "1 minute",
 *   runtime
 * })
 * await lookup("example.com") // calls the function
 * await lookup("example.com") // from the store
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const promise = <Args extends ReadonlyArray<any>, A, I = unknown, EF = never>(
  f: (...args: Args) => Promise<A>,
  options: PromiseOptions<Args, NoInfer<A>, I, EF>
): (...args: Args) => Promise<A> => {
  const cacheFailures = options.cacheFailures
  const isFailure = cacheFailures === undefined ? undefined : Schema.is(cacheFailures.schema)
  const failures: Failures<Rejection, EF> | undefined = cacheFailures === undefined ? undefined : {
    schema: cacheFailures.schema,
    ttl: cacheFailures.ttl,
    keep: (e) => isFailure!(e.error) ? Option.some(e.error) : Option.none(),
    replay: (ef) => new Rejection(ef)
  }
  const memoized = build<Args, A, Rejection, never, I, EF>(
    (...args) => Effect.tryPromise({ try: () => f(...args), catch: (e) => new Rejection(e) }),
    { ...options, namespace: options.namespace ?? f.name } as Options<Args, A, I, EF>,
    failures
  )
  const run = Runtime.runPromiseExit(
    (options.runtime ?? Runtime.defaultRuntime) as Runtime.Runtime<
      KeyValueStore.KeyValueStore
    >
  )
  return (...args) =>
    run(memoized(...args)).then((exit) => {
      if (Exit.isSuccess(exit)) return exit.value
      const failure = Cause.failureOption(exit.cause)
      if (Option.isSome(failure)) {
        throw failure.value instanceof Rejection ? failure.value.error : failure.value
      }
      throw Cause.squash(exit.cause)
    })
}
