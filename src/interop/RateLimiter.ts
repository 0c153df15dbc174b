/**
 * A bridge to `@effect/experimental`'s rate limiter: its `RateLimiterStore` (fixed window and token bucket) on any of
 * our stores, so that `RateLimiter.layer` limits callers across every process sharing the store. Each limiter key is
 * one entry under a namespace of the store (the `Prefix` wrapper, default `ratelimiter.`), changed by the store's
 * atomic read-modify-write (its `modify` primitive, as `update` uses: a locked row on SQL engines, the write lock on
 * SQLite, a revision-checked script on Redis), so no two callers in any process ever take the same token.
 *
 * The semantics are those of experimental's own stores (`layerStoreMemory` and the Redis store): a fixed window
 * counts tokens and extends its expiry by the refill rate for every token taken, refuses (without counting) a take
 * past the limit and reports the count it would have reached with the time left; a token bucket starts full, refills
 * one token per refill interval (measured from its last refill, whole tokens only, never above the limit) and goes
 * below zero only when overflow is allowed. Time comes from the `Clock`. Entries carry a ttl: a window's entry expires
 * with the window, a bucket's once it would be full again (then a fresh, full bucket takes its place; the refill
 * clock of a fresh bucket starts at that call, so it is never more permissive than the bucket it replaces). Store
 * failures become `RateLimitStoreError` with our typed error as `cause`.
 *
 * @since 0.1.0
 */
import type * as RateLimiter from "@effect/experimental/RateLimiter"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Driver from "../internal/driver.js"
import * as validate from "../internal/validate.js"
import type { Service } from "../KeyValueStore.js"
import * as KeyValueStore from "../KeyValueStore.js"
import type { KeyValueStoreError } from "../KeyValueStoreError.js"
import type { BackendError, MissingDependency } from "../KeyValueStoreError.js"
import { DecodeError, InvalidArgument } from "../KeyValueStoreError.js"
import * as Prefix from "../wrappers/Prefix.js"

/**
 * Options of the bridge: `prefix` is the namespace of every limiter key (default `ratelimiter` followed by the
 * store's separator).
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly prefix?: string | undefined
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

// The state of a key: two numbers (count and expiry of a window, tokens and last refill of a bucket) as text.
const write = (a: number, b: number): Uint8Array => encoder.encode(`${a} ${b}`)

const read = (
  method: string,
  key: string,
  bytes: Uint8Array
): Either.Either<readonly [number, number], DecodeError> => {
  const parts = decoder.decode(bytes).split(" ")
  const a = Number(parts[0])
  const b = Number(parts[1])
  return parts.length === 2 && Number.isFinite(a) && Number.isFinite(b)
    ? Either.right([a, b] as const)
    : Either.left(new DecodeError({ method, key, issue: "not a rate limiter state" }))
}

// `@effect/experimental` is imported when the store is first used or a layer is built, not with this module: the
// package root re-exports it, and a program that does not use the RateLimiter must not load (nor need) the package.
let experimental: typeof RateLimiter | undefined
const loaded = Effect.tap(Driver.experimentalRateLimiter, (module) => {
  experimental = module
})
const ready = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  experimental === undefined ? Effect.zipRight(Effect.orDie(loaded), self) : self

const storeError = (method: string) => (error: KeyValueStoreError) =>
  new experimental!.RateLimitStoreError({ message: `${method}: ${error.message}`, cause: error })

const checkRate = (method: string, key: string, refillRate: Duration.Duration) => {
  const millis = Duration.toMillis(refillRate)
  return millis > 0 && Number.isFinite(millis)
    ? Effect.succeed(millis)
    : Effect.fail(
      new InvalidArgument({ method, key, argument: "refillRate", reason: "expected a finite duration above zero" })
    )
}

// Runs one read-modify-write step on the key's entry, atomically across processes (the store's `modify`: a row lock
// on SQL engines, a revision-checked script on Redis, the write lock on SQLite): `step` sees the entry and returns
// the answer, and the state to write with its ttl (none: nothing to write).
const atomically = <A>(
  method: string,
  ns: Service,
  key: string,
  step: (
    current: Option.Option<readonly [number, number]>,
    now: number
  ) => readonly [A, Option.Option<readonly [number, number, ttlMillis: number]>]
): Effect.Effect<A, KeyValueStoreError> =>
  Effect.suspend(() => {
    const invalid = validate.checkKey(method, key, ns.primitives.maxKeyBytes ?? 1024)
    if (invalid !== undefined) return Effect.fail(invalid)
    return Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.flatMap(
        ns.primitives.modify(key, now, (entry): readonly [Either.Either<A, DecodeError>, KeyValueStore.Mutation] => {
          const state = Option.map(entry, (entry) => read(method, key, entry.value))
          if (Option.isSome(state) && Either.isLeft(state.value)) return [Either.left(state.value.left), keep]
          const [answer, next] = step(Option.map(state, Either.getOrThrow), now)
          if (Option.isNone(next)) return [Either.right(answer), keep]
          const [a, b, ttl] = next.value
          const expiresAt = now + Math.max(1, Math.ceil(ttl))
          return [Either.right(answer), {
            _tag: "Write",
            value: write(a, b),
            write: { expiresAt, tags: [], metadata: null }
          }]
        }),
        (answer) => answer
      ))
  })

const keep: KeyValueStore.Mutation = { _tag: "Keep" }

/**
 * `RateLimiterStore` on `store`, under the namespace `options.prefix` (throws `InvalidArgument` for a prefix that is
 * not valid Unicode; `layer` fails with it instead).
 *
 * @example
 * ```ts
 * import { RateLimiter as Limiter } from "@effect/experimental"
 * import { Effect } from "effect"
 * import { KeyValueStore, MemoryStore, RateLimiter } from "effect-kv"
 *
 * const program = Effect.gen(function*() {
 *   const store = RateLimiter.make(yield* KeyValueStore.KeyValueStore)
 *   const limiter = yield* Limiter.make.pipe(Effect.provideService(Limiter.RateLimiterStore, store))
 *   return yield* limiter.consume({ key: "api", limit: 10, window: "1 minute" })
 * }).pipe(Effect.provide(MemoryStore.layer()))
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const make = (store: Service, options?: Options): RateLimiter.RateLimiterStore["Type"] => {
  const ns = Prefix.make(store, options?.prefix ?? `ratelimiter${store.separator}`)
  return {
    fixedWindow: (options) =>
      Effect.flatMap(
        checkRate("fixedWindow", options.key, options.refillRate),
        (refillMillis) =>
          atomically("fixedWindow", ns, options.key, (current, now) => {
            const [count, expiresAt] = Option.isNone(current) || current.value[1] <= now ? [0, now] : current.value
            const next = count + options.tokens
            if (options.limit !== undefined && next > options.limit) {
              return [[next, expiresAt - now] as const, Option.none()]
            }
            const nextExpiry = expiresAt + refillMillis * options.tokens
            return [[next, nextExpiry - now] as const, Option.some([next, nextExpiry, nextExpiry - now] as const)]
          })
      ).pipe(Effect.mapError(storeError("fixedWindow")), ready),
    tokenBucket: (options) =>
      Effect.flatMap(
        checkRate("tokenBucket", options.key, options.refillRate),
        (refillMillis) =>
          atomically("tokenBucket", ns, options.key, (current, now) => {
            const [stored, lastRefill] = Option.getOrElse(current, () => [options.limit, now] as const)
            const refill = Math.floor((now - lastRefill) / refillMillis)
            const [tokens, refilled] = refill > 0
              ? [Math.min(options.limit, stored + refill), lastRefill + refill * refillMillis]
              : [stored, lastRefill]
            const next = tokens - options.tokens
            const kept = options.allowOverflow || next >= 0 ? next : tokens
            if (Option.isSome(current) && kept === stored && refilled === lastRefill) return [next, Option.none()]
            return [next, Option.some([kept, refilled, (options.limit - kept) * refillMillis] as const)]
          })
      ).pipe(Effect.mapError(storeError("tokenBucket")), ready)
  }
}

/**
 * `RateLimiterStore` on the `KeyValueStore` in context (to use another store, provide its layer to this one). Fails
 * with `InvalidArgument` when `prefix` is not valid Unicode.
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { RateLimiter, RedisStore } from "effect-kv"
 *
 * const limiterStore = RateLimiter.layer().pipe(Layer.provide(RedisStore.layer({ url: "redis://127.0.0.1:6379" })))
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<
  RateLimiter.RateLimiterStore,
  InvalidArgument | MissingDependency | BackendError,
  KeyValueStore.KeyValueStore
> =>
  Layer.unwrapEffect(Effect.map(loaded, (RateLimiter) =>
    Layer.effect(
      RateLimiter.RateLimiterStore,
      Effect.flatMap(KeyValueStore.KeyValueStore, (store) => {
        const invalid = options?.prefix === undefined ? undefined : Prefix.validate(options.prefix)
        return invalid === undefined ? Effect.succeed(make(store, options)) : Effect.fail(invalid)
      })
    )))

/**
 * `@effect/experimental`'s `RateLimiter` over `layer(options)`: the limiter itself, on the `KeyValueStore` in context.
 *
 * @example
 * ```ts
 * import { RateLimiter as Limiter } from "@effect/experimental"
 * import { Effect, Layer } from "effect"
 * import { RateLimiter, SqliteStore } from "effect-kv"
 *
 * const limited = Effect.gen(function*() {
 *   const limiter = yield* Limiter.RateLimiter
 *   yield* limiter.consume({ key: "mail", limit: 100, window: "1 hour", algorithm: "token-bucket" })
 * }).pipe(Effect.provide(RateLimiter.layerRateLimiter().pipe(Layer.provide(SqliteStore.layer({ filename: "rl.db" })))))
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layerRateLimiter = (
  options?: Options
): Layer.Layer<
  RateLimiter.RateLimiter,
  InvalidArgument | MissingDependency | BackendError,
  KeyValueStore.KeyValueStore
> => Layer.unwrapEffect(Effect.map(loaded, (RateLimiter) => RateLimiter.layer.pipe(Layer.provide(layer(options)))))
