/**
 * Retry: a wrapper that runs an operation again, on a `Schedule`, when it failed because the engine was unavailable
 * (`BackendError`, `Busy`, `Timeout`), never for bad input, decoding or contract errors. Which operations are run
 * again after which failures is one rule:
 *
 * - A failure is *ambiguous* when the request may have reached the engine and been applied before it failed:
 *   `BackendError` (a connection dropped after the write, a lost reply) and `Timeout` (the limit may fire after the
 *   engine committed). `Busy` is not ambiguous: the engine refused the request before applying anything (SQLite's
 *   busy timeout elapsed while another writer held the lock).
 * - Repeatable operations (every read, `set`, `remove`, `touch`, `setMetadata`, the batches, `clear`, `size`,
 *   `expire`, the pattern and tag operations, `check`) give the same state when run twice, so they are retried after
 *   any of the three. Their *answer* may reflect the retry: a `remove` whose first attempt removed the key before its
 *   reply was lost answers `false`, a count counts what the last attempt found.
 * - Operations whose outcome changes when the first attempt was applied (`increment`, `decrement`, `append`, `add`,
 *   `pop`, `compareAndSwap`, `update`, and the `modify` primitive) are retried after `Busy` only, unless
 *   `retryAmbiguous: true`.
 * - A user's effect is never run again. `withTransaction` and `withLock` are retried only when they failed before the
 *   effect started (the transaction could not begin, the lock could not be taken), after the inner store ended the
 *   attempt (rolled back, released). `lock` and `transaction` run each attempt in a scope of its own, closed when the
 *   attempt fails, so a lock slot or a transaction an attempt may have taken before its reply was lost is released
 *   before the next attempt. `LockTimeout` (every slot stayed taken) is an answer, not a failure, and is never
 *   retried; a retried `lock` waits its `timeout` again.
 * - Inside a transaction region opened through this store (or a store built over its primitives), nothing is
 *   retried: an engine error may have aborted the transaction, and the region decides (it fails and rolls back).
 * - `keys`, `entries` and `getPattern` resume after a failure mid-way from the engine's cursor: after the last key
 *   they delivered, with the same pattern, so no key is delivered twice or skipped. The schedule starts afresh once a
 *   stream has delivered something since its previous failure.
 *
 * The retries of an operation run inside an `effect-kv.retry` span (only created when there was a retry) with the
 * attributes `kv.method`, `kv.key` and `kv.attempts`. The primitives are wrapped too, so a namespace
 * (`KeyValueStore.prefix`) built over this store keeps the policy; its `lock` is not retried (lease tables are not
 * effects the wrapper sees).
 *
 * @since 0.1.0
 */
import * as Chunk from "effect/Chunk"
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import { globalValue } from "effect/GlobalValue"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as validate from "../internal/validate.js"
import * as Wrapper from "../internal/wrapper.js"
import * as KeyValueStore from "../KeyValueStore.js"
import type { BackendError, Busy, KeyValueStoreError, Timeout } from "../KeyValueStoreError.js"
import { InvalidArgument, isKeyValueStoreError } from "../KeyValueStoreError.js"

/**
 * The retry policy. `schedule` decides the waits and when to stop (its input is the failure); without one, an
 * exponential backoff from `delay` (default 20 ms), jittered, for at most `retries` retries (default 3). Give either
 * `schedule` or `retries`/`delay`, not both.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly schedule?: Schedule.Schedule<unknown, KeyValueStoreError> | undefined
  /** Retries after the first attempt (a non-negative integer, default 3); without `schedule` only. */
  readonly retries?: number | undefined
  /** The first wait of the exponential backoff (default 20 ms); without `schedule` only. */
  readonly delay?: Duration.DurationInput | undefined
  /** Retry the non-repeatable operations after an ambiguous failure too (default false). */
  readonly retryAmbiguous?: boolean | undefined
}

/**
 * The failures Retry may retry: the engine was unavailable.
 *
 * @example
 * ```ts
 * import { KeyValueStoreError, Retry } from "effect-kv"
 * Retry.isRetryable(new KeyValueStoreError.Busy({ method: "set", backend: "sqlite" })) // true
 * Retry.isRetryable(new KeyValueStoreError.InvalidKey({ method: "get", key: "", reason: "empty key" })) // false
 * ```
 * @since 0.1.0
 * @category refinements
 */
export const isRetryable = (u: unknown): u is BackendError | Busy | Timeout =>
  isKeyValueStoreError(u) && (u._tag === "BackendError" || u._tag === "Busy" || u._tag === "Timeout")

/**
 * Whether a retryable failure is ambiguous: the engine may have applied the request before it failed (`BackendError`,
 * `Timeout`); `Busy` means the engine refused it before applying anything.
 *
 * @example
 * ```ts
 * import { KeyValueStoreError, Retry } from "effect-kv"
 * Retry.isAmbiguous(new KeyValueStoreError.Timeout({ method: "increment", key: "n", millis: 100 })) // true
 * Retry.isAmbiguous(new KeyValueStoreError.Busy({ method: "increment", key: "n", backend: "sqlite" })) // false
 * ```
 * @since 0.1.0
 * @category refinements
 */
export const isAmbiguous = (error: BackendError | Busy | Timeout): boolean => error._tag !== "Busy"

/** How the policy treats an operation. */
type Class =
  /** Same state when run twice: retried after any retryable failure. */
  | "repeatable"
  /** Outcome changes when the first attempt was applied: retried after `Busy` only, unless `retryAmbiguous`. */
  | "ambiguous"
  /** A stream: resumed from the engine's cursor. */
  | "stream"
  /** `lock`, `transaction`: each attempt in a scope of its own, closed when it fails. */
  | "scoped"
  /** `withLock`, `withTransaction`: retried only when the user's effect did not start. */
  | "region"

const operations: Wrapper.Policy<Class>["operations"] = {
  get: "repeatable",
  getString: "repeatable",
  getOrFail: "repeatable",
  getEntry: "repeatable",
  set: "repeatable",
  has: "repeatable",
  remove: "repeatable",
  pop: "ambiguous",
  add: "ambiguous",
  touch: "repeatable",
  ttl: "repeatable",
  setMetadata: "repeatable",
  increment: "ambiguous",
  decrement: "ambiguous",
  compareAndSwap: "ambiguous",
  append: "ambiguous",
  update: "ambiguous",
  getMany: "repeatable",
  setMany: "repeatable",
  removeMany: "repeatable",
  keys: "stream",
  entries: "stream",
  getPattern: "stream",
  countPattern: "repeatable",
  removePattern: "repeatable",
  removeTag: "repeatable",
  expire: "repeatable",
  clear: "repeatable",
  size: "repeatable",
  volume: "repeatable",
  stats: Wrapper.inherit,
  resetStats: Wrapper.inherit,
  withTransaction: "region",
  transaction: "scoped",
  lock: "scoped",
  withLock: "region",
  check: "repeatable"
}

const primitives: Wrapper.Policy<Class>["primitives"] = {
  backend: Wrapper.inherit,
  capabilities: Wrapper.inherit,
  separator: Wrapper.inherit,
  maxKeyBytes: Wrapper.inherit,
  maxValueBytes: Wrapper.inherit,
  get: "repeatable",
  getEntry: "repeatable",
  set: "repeatable",
  remove: "repeatable",
  modify: "ambiguous",
  expire: "repeatable",
  clear: "repeatable",
  size: "repeatable",
  has: "repeatable",
  // The synchronous fast paths cannot be retried: a store built over these primitives takes the effectful ones.
  unsafe: Wrapper.drop,
  getMany: "repeatable",
  setMany: "repeatable",
  removeMany: "repeatable",
  expiresAt: "repeatable",
  touch: "repeatable",
  volume: "repeatable",
  counters: Wrapper.inherit,
  resetCounters: Wrapper.inherit,
  scanKeys: "repeatable",
  scanEntries: "repeatable",
  countRange: "repeatable",
  removeRange: "repeatable",
  removeTag: "repeatable",
  gate: Wrapper.inherit,
  withTransaction: "region",
  transaction: "scoped",
  leases: Wrapper.inherit,
  check: "repeatable"
}

// Set while a fiber runs inside a transaction region of a Retry store: its operations are not retried.
const inTransaction = globalValue(
  Symbol.for("effect-kv/Retry/inTransaction"),
  () => FiberRef.unsafeMake(false)
)

const optionNames = new Set(["schedule", "retries", "delay", "retryAmbiguous"])

// The options, checked, as the schedule and the ambiguity switch.
const policyOf = (
  options: Options | undefined
):
  | { readonly schedule: Schedule.Schedule<unknown, KeyValueStoreError>; readonly retryAmbiguous: boolean }
  | InvalidArgument =>
{
  const invalid = (argument: string, reason: string) => new InvalidArgument({ method: "Retry", argument, reason })
  const optionsError = validate.checkOptions("Retry", undefined, options)
  if (optionsError) return optionsError
  if (options === undefined) options = {}
  for (const name of Object.keys(options)) {
    if (!optionNames.has(name)) return invalid(name, `unknown option (expected one of ${[...optionNames].join(", ")})`)
  }
  const { delay, retries, retryAmbiguous, schedule } = options
  if (retryAmbiguous !== undefined && typeof retryAmbiguous !== "boolean") {
    return invalid("retryAmbiguous", `expected a boolean, got ${validate.show(retryAmbiguous)}`)
  }
  if (schedule !== undefined) {
    if (!Schedule.isSchedule(schedule)) {
      return invalid("schedule", `expected a Schedule, got ${validate.show(schedule)}`)
    }
    if (retries !== undefined || delay !== undefined) {
      return invalid("schedule", "give either a schedule or retries/delay, not both")
    }
    return { schedule, retryAmbiguous: retryAmbiguous ?? false }
  }
  if (retries !== undefined && !(Number.isSafeInteger(retries) && retries >= 0)) {
    return invalid("retries", `expected a non-negative integer, got ${validate.show(retries)}`)
  }
  const millis = delay === undefined ? 20 : validate.durationOf(delay, { zero: false, infinite: false })
  if (typeof millis === "string") return invalid("delay", millis)
  return {
    schedule: Schedule.exponential(millis).pipe(Schedule.jittered, Schedule.intersect(Schedule.recurs(retries ?? 3))),
    retryAmbiguous: retryAmbiguous ?? false
  }
}

// A primitive set whose first scan page starts after `last`: the rest of an enumeration that delivered `last`.
const startingAfter = (p: KeyValueStore.Primitives, last: string): KeyValueStore.Primitives => {
  const decisions = Object.fromEntries(
    Object.keys(Wrapper.primitiveShapes).map((name) => [name, Wrapper.inherit])
  ) as unknown as Record<keyof KeyValueStore.Primitives, unknown>
  const { scanEntries, scanKeys } = p
  if (scanKeys !== undefined) {
    decisions.scanKeys = (range: KeyValueStore.ScanRange, now: number) =>
      scanKeys(range.after === undefined ? { ...range, after: last } : range, now)
  }
  if (scanEntries !== undefined) {
    decisions.scanEntries = (range: KeyValueStore.ScanRange, now: number) =>
      scanEntries(range.after === undefined ? { ...range, after: last } : range, now)
  }
  return Wrapper.mapPrimitives(p, decisions as unknown as Wrapper.PrimitiveDecisions)
}

type AnyFunction = (...args: Array<any>) => any

/**
 * `store` with the retry policy of `options` (see the module documentation for what is retried after which failure).
 * Invalid options fail with `InvalidArgument`.
 *
 * @example
 * ```ts
 * import { KeyValueStore, MemoryStore, Retry } from "effect-kv"
 * import * as Effect from "effect/Effect"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* Retry.make(yield* KeyValueStore.KeyValueStore, { retries: 5 })
 *   yield* store.set("a", "1") // retried up to 5 times on BackendError, Busy or Timeout
 * }).pipe(Effect.provide(MemoryStore.layer()))
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  store: KeyValueStore.Service,
  options?: Options
): Effect.Effect<KeyValueStore.Service, InvalidArgument> =>
  Effect.suspend(() => {
    const policy = policyOf(options)
    if (policy instanceof InvalidArgument) return Effect.fail(policy)
    const { retryAmbiguous, schedule } = policy
    const backend = store.backend

    const repeatable = isRetryable
    const ambiguous = (u: unknown): boolean => isRetryable(u) && (retryAmbiguous || !isAmbiguous(u))

    // The retries after a first failure `error`, in a span recording how many attempts there were.
    const again = <A, E, R>(
      call: Wrapper.Call<Class>,
      attempt: Effect.Effect<A, E, R>,
      eligible: (u: unknown) => boolean,
      error: E
    ): Effect.Effect<A, E, R> =>
      Effect.flatMap(FiberRef.get(inTransaction), (inside) => {
        if (inside) return Effect.fail(error)
        let attempts = 1
        return Effect.flatMap(Schedule.driver(schedule), (driver) => {
          const loop = (error: E): Effect.Effect<A, E, R> =>
            Effect.matchEffect(driver.next(error as KeyValueStoreError), {
              onFailure: () => Effect.fail(error),
              onSuccess: () => {
                attempts++
                return Effect.catchIf(attempt, eligible, loop)
              }
            })
          return loop(error)
        }).pipe(
          Effect.ensuring(Effect.suspend(() => Effect.annotateCurrentSpan("kv.attempts", attempts))),
          Effect.withSpan("effect-kv.retry", {
            attributes: call.key === undefined
              ? { "kv.backend": backend, "kv.method": call.method }
              : { "kv.backend": backend, "kv.method": call.method, "kv.key": call.key },
            captureStackTrace: false
          })
        )
      })

    const retried = <A, E, R>(
      call: Wrapper.Call<Class>,
      attempt: Effect.Effect<A, E, R>,
      eligible: (u: unknown) => boolean
    ): Effect.Effect<A, E, R> => Effect.catchIf(attempt, eligible, (error) => again(call, attempt, eligible, error))

    // An attempt in a scope of its own (a child of the caller's), closed when the attempt fails.
    const inOwnScope = <A, E, R>(self: Effect.Effect<A, E, R>) =>
      Effect.flatMap(Effect.scope, (parent) =>
        Effect.flatMap(Scope.fork(parent, ExecutionStrategy.sequential), (child) =>
          Effect.onExit(
            Scope.extend(self, child),
            (exit) =>
              Exit.isFailure(exit) ? Scope.close(child, exit) : Effect.void
          )))

    // `R` includes `Scope` for these operations.
    const scoped = <A, E, R>(call: Wrapper.Call<Class>, self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> => {
      const attempt = retried(call, inOwnScope(self), repeatable)
      return (call.method === "transaction"
        ? Effect.zipLeft(attempt, Effect.locallyScoped(inTransaction, true))
        : attempt) as unknown as Effect.Effect<A, E, R>
    }

    // `withLock` and `withTransaction`: the user's effect is the last argument; an attempt is retried only when it
    // failed before the effect started.
    const region = <A, E, R>(call: Wrapper.Call<Class>, self: Effect.Effect<A, E, R>) => {
      const effect = call.args[call.args.length - 1]
      if (!Effect.isEffect(effect)) {
        return self
      }
      const transaction = call.method === "withTransaction"
      const inner: (effect: Effect.Effect<unknown, unknown, unknown>) => Effect.Effect<A, E, R> = transaction
        ? (call.primitive ? store.primitives.withTransaction! : store.withTransaction) as AnyFunction
        : store.withLock(call.args[0] as string, call.args[1] as KeyValueStore.LockOptions | undefined)
      let started = false
      const body = Effect.suspend(() => {
        started = true
        return transaction ? Effect.locally(effect, inTransaction, true) : effect
      })
      const attempt = Effect.suspend(() => {
        started = false
        return inner(body)
      })
      return retried(call, attempt, (u) =>
        !started && isRetryable(u))
    }

    // A stream resumes after the last key it delivered, from the engine's cursor (see `startingAfter`).
    const resumable = <A>(
      call: Wrapper.Call<Class>,
      self: Stream.Stream<A, KeyValueStoreError>
    ): Stream.Stream<A, KeyValueStoreError> =>
      Stream.suspend(() => {
        const keyOf = call.method === "keys"
          ? (a: A) => a as string
          : (a: A) => (a as readonly [string, Uint8Array])[0]
        let last: string | undefined
        let progressed = false
        const rest = (): Stream.Stream<A, KeyValueStoreError> =>
          last === undefined
            ? self
            : (KeyValueStore.make(startingAfter(store.primitives, last))[call.method as "keys"] as AnyFunction)(
              ...call.args
            )
        const tracked = (stream: Stream.Stream<A, KeyValueStoreError>) =>
          Stream.mapChunks(stream, (chunk) => {
            if (Chunk.isNonEmpty(chunk)) {
              last = keyOf(Chunk.lastNonEmpty(chunk))
              progressed = true
            }
            return chunk
          })
        const run = (
          stream: Stream.Stream<A, KeyValueStoreError>,
          driver: Effect.Effect<Schedule.ScheduleDriver<unknown, KeyValueStoreError>>
        ): Stream.Stream<A, KeyValueStoreError> =>
          Stream.catchAll(tracked(stream), (error) => {
            if (!isRetryable(error)) return Stream.fail(error)
            return Stream.unwrap(Effect.gen(function*() {
              if (yield* FiberRef.get(inTransaction)) return Stream.fail(error)
              const current = yield* driver
              if (progressed) yield* current.reset
              progressed = false
              const next = yield* Effect.either(current.next(error))
              if (next._tag === "Left") return Stream.fail(error)
              return run(rest(), Effect.succeed(current))
            }))
          })
        return run(self, Schedule.driver(schedule))
      })

    return Effect.succeed(Wrapper.around<Class>(store, {
      operations,
      primitives,
      effect: (call, self) => {
        switch (call.decision) {
          case "repeatable":
            return retried(call, self, repeatable)
          case "ambiguous":
            return retried(call, self, ambiguous)
          case "scoped":
            return scoped(call, self)
          case "region":
            return region(call, self)
          case "stream":
            return self
        }
      },
      stream: resumable
    }))
  })

/**
 * The Layer form of `make`: needs a store and gives it with the retry policy.
 *
 * @example
 * ```ts
 * import { KeyValueStore, Retry, SqliteStore } from "effect-kv"
 *
 * const store = SqliteStore.layer({ filename: "data/kv.db" }).pipe(
 *   KeyValueStore.wrap(Retry.layer({ retries: 5, delay: "50 millis" }))
 * )
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<KeyValueStore.KeyValueStore, InvalidArgument, KeyValueStore.KeyValueStore> =>
  Layer.effect(
    KeyValueStore.KeyValueStore,
    Effect.flatMap(KeyValueStore.KeyValueStore, (store) => make(store, options))
  )

/**
 * `layer` with its options read from `Config` (environment variables in production).
 *
 * @example
 * ```ts
 * import { KeyValueStore, Retry, SqliteStore } from "effect-kv"
 * import * as Config from "effect/Config"
 *
 * const store = SqliteStore.layer({ filename: "data/kv.db" }).pipe(
 *   KeyValueStore.wrap(Retry.layerConfig({
 *     retries: Config.integer("KV_RETRIES").pipe(Config.withDefault(3)),
 *     delay: Config.duration("KV_RETRY_DELAY").pipe(Config.withDefault("20 millis"))
 *   }))
 * )
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config.Wrap<Options>
): Layer.Layer<
  KeyValueStore.KeyValueStore,
  ConfigError.ConfigError | InvalidArgument,
  KeyValueStore.KeyValueStore
> => Wrapper.layerConfig(config, layer)
