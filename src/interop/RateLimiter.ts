/**
 * A bridge to `@effect/experimental`'s rate limiter: its `RateLimiterStore` (fixed window and token bucket) on any of
 * our stores, so that `RateLimiter.layer` limits callers across every process sharing the store. Each limiter key is
 * one entry under a namespace of the store (the `Prefix` wrapper, default `ratelimiter.`), updated by an atomic
 * `compareAndSwap` (retried when another caller changed it first), so no two callers ever take the same token.
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
import * as RateLimiter from "@effect/experimental/RateLimiter"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type { Service } from "../KeyValueStore.js"
import * as KeyValueStore from "../KeyValueStore.js"
import type { KeyValueStoreError } from "../KeyValueStoreError.js"
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
): Effect.Effect<readonly [number, number], DecodeError> => {
  const parts = decoder.decode(bytes).split(" ")
  const a = Number(parts[0])
  const b = Number(parts[1])
  return parts.length === 2 && Number.isFinite(a) && Number.isFinite(b)
    ? Effect.succeed([a, b] as const)
    : Effect.fail(new DecodeError({ method, key, issue: "not a rate limiter state" }))
}

const storeError = (method: string) => (error: KeyValueStoreError) =>
  new RateLimiter.RateLimitStoreError({ message: `${method}: ${error.message}`, cause: error })

const checkRate = (method: string, key: string, refillRate: Duration.Duration) => {
  const millis = Duration.toMillis(refillRate)
  return millis > 0 && Number.isFinite(millis)
    ? Effect.succeed(millis)
    : Effect.fail(
      new InvalidArgument({ method, key, argument: "refillRate", reason: "expected a finite duration above zero" })
    )
}

// A ttl for the store: whole milliseconds, at least one, never before the logical expiry.
const ttlMillis = (millis: number): Duration.Duration => Duration.millis(Math.max(1, Math.ceil(millis)))

// Runs one optimistic step until its compare-and-swap lands: `step` reads the entry and returns the answer, and the
// swap to make (none: the answer needs no write).
const optimistic = <A>(
  ns: Service,
  key: string,
  step: (
    current: Option.Option<Uint8Array>,
    now: number
  ) => Effect.Effect<readonly [A, Option.Option<readonly [Uint8Array, Duration.Duration]>], KeyValueStoreError>
): Effect.Effect<A, KeyValueStoreError> => {
  const attempt: Effect.Effect<A, KeyValueStoreError> = Effect.gen(function*() {
    const current = yield* ns.get(key)
    const now = yield* Clock.currentTimeMillis
    const [answer, swap] = yield* step(current, now)
    if (Option.isNone(swap)) return answer
    const [next, ttl] = swap.value
    const swapped = yield* ns.compareAndSwap(key, current, Option.some(next), { ttl })
    return swapped ? answer : yield* attempt
  })
  return attempt
}

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
  return RateLimiter.RateLimiterStore.of({
    fixedWindow: (options) =>
      Effect.flatMap(
        checkRate("fixedWindow", options.key, options.refillRate),
        (refillMillis) =>
          optimistic(ns, options.key, (current, now) =>
            Effect.map(
              Option.match(current, {
                onNone: () => Effect.succeed([0, now] as const),
                onSome: (bytes) => read("fixedWindow", options.key, bytes)
              }),
              ([stored, storedExpiry]) => {
                const [count, expiresAt] = storedExpiry <= now ? [0, now] : [stored, storedExpiry]
                const next = count + options.tokens
                if (options.limit !== undefined && next > options.limit) {
                  return [[next, expiresAt - now] as const, Option.none()] as const
                }
                const nextExpiry = expiresAt + refillMillis * options.tokens
                return [
                  [next, nextExpiry - now] as const,
                  Option.some([write(next, nextExpiry), ttlMillis(nextExpiry - now)] as const)
                ] as const
              }
            ))
      ).pipe(Effect.mapError(storeError("fixedWindow"))),
    tokenBucket: (options) =>
      Effect.flatMap(
        checkRate("tokenBucket", options.key, options.refillRate),
        (refillMillis) =>
          optimistic(ns, options.key, (current, now) =>
            Effect.map(
              Option.match(current, {
                onNone: () => Effect.succeed([options.limit, now] as const),
                onSome: (bytes) => read("tokenBucket", options.key, bytes)
              }),
              ([stored, lastRefill]) => {
                const refill = Math.floor((now - lastRefill) / refillMillis)
                const [tokens, refilled] = refill > 0
                  ? [Math.min(options.limit, stored + refill), lastRefill + refill * refillMillis]
                  : [stored, lastRefill]
                const next = tokens - options.tokens
                const kept = options.allowOverflow || next >= 0 ? next : tokens
                if (Option.isSome(current) && kept === stored && refilled === lastRefill) {
                  return [next, Option.none()] as const
                }
                return [
                  next,
                  Option.some([write(kept, refilled), ttlMillis((options.limit - kept) * refillMillis)] as const)
                ] as const
              }
            ))
      ).pipe(Effect.mapError(storeError("tokenBucket")))
  })
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
): Layer.Layer<RateLimiter.RateLimiterStore, InvalidArgument, KeyValueStore.KeyValueStore> =>
  Layer.effect(
    RateLimiter.RateLimiterStore,
    Effect.flatMap(KeyValueStore.KeyValueStore, (store) => {
      const invalid = options?.prefix === undefined ? undefined : Prefix.validate(options.prefix)
      return invalid === undefined ? Effect.succeed(make(store, options)) : Effect.fail(invalid)
    })
  )

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
): Layer.Layer<RateLimiter.RateLimiter, InvalidArgument, KeyValueStore.KeyValueStore> =>
  RateLimiter.layer.pipe(Layer.provide(layer(options)))
