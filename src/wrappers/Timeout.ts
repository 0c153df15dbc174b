/**
 * Timeout: a wrapper that bounds how long an operation may take. An operation slower than its limit fails with
 * `Timeout` (its `method`, its `key` where it has one, and the limit in `millis`) and its underlying effect is
 * interrupted. One limit for every operation, or a `default` and limits per operation; for `keys`, `entries` and
 * `getPattern` the limit applies to each pull of the stream (one page of the engine's enumeration, or a few when a
 * pattern filters whole pages out), not to the whole enumeration.
 *
 * The operations that wait by design or run the user's effect (`withTransaction`, `transaction`, `lock`, `withLock`)
 * are not bounded by `default`: a limit for them must be given by name, and then it covers the whole call (the user's
 * effect included for `withTransaction` and `withLock`; an interrupted region rolls back, an interrupted lock is
 * released). `Duration.infinity` exempts an operation from `default`. The primitives are bounded too, so a namespace
 * (`KeyValueStore.prefix`) built over this store keeps the limits: each primitive takes the limit of the operation it
 * serves (`expiresAt` that of `ttl`, `scanKeys` that of `keys`, `scanEntries` that of `entries`, `countRange` that of
 * `countPattern`, `removeRange` that of `removePattern`), and `modify` (a namespace's read-modify-write operations)
 * takes `default`.
 *
 * A bounded call runs the operation in a fiber of its own, started at once: an operation that completes without
 * yielding (MemoryStore, SqliteStore) costs that fiber only, a few microseconds; one that waits (a network round trip)
 * also gets a timer fiber, some tens of microseconds. Operations without a limit cost nothing.
 *
 * Put `Timeout` inside `Retry` to bound each attempt: `store.pipe(KeyValueStore.wrap(Timeout.layer("1 second")),
 * KeyValueStore.wrap(Retry.layer()))`.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as FiberRef from "effect/FiberRef"
import type * as FiberRefs from "effect/FiberRefs"
import * as Layer from "effect/Layer"
import * as Runtime from "effect/Runtime"
import * as Stream from "effect/Stream"
import * as validate from "../internal/validate.js"
import * as Wrapper from "../internal/wrapper.js"
import * as KeyValueStore from "../KeyValueStore.js"
import { InvalidArgument, Timeout } from "../KeyValueStoreError.js"

/**
 * An operation of the service (a member a limit can be given for).
 *
 * @since 0.1.0
 * @category models
 */
export type Operation = Exclude<
  keyof KeyValueStore.Service,
  KeyValueStore.TypeId | "backend" | "capabilities" | "separator" | "primitives"
>

/**
 * Limits per operation: `default` for every operation not listed (except the waiting ones, see the module
 * documentation), `operations` by name. An absent `default` leaves unlisted operations unbounded.
 *
 * @since 0.1.0
 * @category models
 */
export interface Limits {
  readonly default?: Duration.DurationInput | undefined
  readonly operations?: { readonly [K in Operation]?: Duration.DurationInput | undefined } | undefined
}

/**
 * One limit for every operation (as `{ default }`), or `Limits`.
 *
 * @since 0.1.0
 * @category models
 */
export type Options = Duration.DurationInput | Limits

// Not bounded by `default`: they wait by design, or run the user's effect.
const waiting: ReadonlySet<Operation> = new Set(["withTransaction", "transaction", "lock", "withLock"])

const limitNames = new Set(["default", "operations"])

const isLimits = (options: unknown): options is Limits =>
  typeof options === "object" && options !== null && !Array.isArray(options) && !Duration.isDuration(options)

// The limit of every operation in milliseconds (`undefined`: unbounded), or the option refused.
const limitsOf = (
  options: Options
): { readonly limits: Map<Operation, number>; readonly defaultMillis: number | undefined } | InvalidArgument => {
  const invalid = (argument: string, reason: string) => new InvalidArgument({ method: "Timeout", argument, reason })
  const millisOf = (argument: string, input: unknown): number | InvalidArgument => {
    const millis = validate.durationOf(input, { zero: false, infinite: true })
    return typeof millis === "string" ? invalid(argument, millis) : millis
  }
  const limits: Limits = isLimits(options) ? options : { default: options }
  for (const name of Object.keys(limits)) {
    if (!limitNames.has(name)) return invalid(name, "unknown option (expected default or operations)")
  }
  const { default: fallback, operations } = limits
  const out = new Map<Operation, number>()
  let defaultMillis: number | undefined
  if (fallback !== undefined) {
    const millis = millisOf("default", fallback)
    if (millis instanceof InvalidArgument) return millis
    defaultMillis = millis
  }
  const optionsError = validate.checkOptions("Timeout", undefined, operations, "operations")
  if (optionsError) return optionsError
  const listed = new Map<string, number>()
  for (const [name, input] of Object.entries(operations ?? {})) {
    if (!Object.hasOwn(Wrapper.operationShapes, name)) {
      return invalid(`operations.${name}`, "not an operation of the store")
    }
    if (input === undefined) continue
    const millis = millisOf(`operations.${name}`, input)
    if (millis instanceof InvalidArgument) return millis
    listed.set(name, millis)
  }
  for (const name of Object.keys(Wrapper.operationShapes) as Array<Operation>) {
    const millis = listed.get(name) ?? (waiting.has(name) ? undefined : defaultMillis)
    if (millis !== undefined && millis !== Infinity) out.set(name, millis)
  }
  return { limits: out, defaultMillis }
}

// The operation runs in a fiber of its own, started at once on the caller's stack: an operation that completes
// synchronously (an in-memory or SQLite call) is answered right there, with no timer and no scheduling. Only an
// operation still running when it yields the thread gets a timer (a `Clock.sleep` in a fiber forked from the caller,
// so a `TestClock` drives it), which interrupts it at the limit; the caller waits for the operation's end (its
// interruption included) and then fails with `Timeout`. An interrupted caller interrupts the operation.
// The fiber references each operation's fiber starts with, recorded by `runFork` before it runs the operation (which
// may run bounded calls of its own, each popping what it pushed: `runFork` returns before the caller pops).
const startRefs: Array<FiberRefs.FiberRefs> = []
const recordRefs: Runtime.RunForkOptions = {
  updateRefs: (refs) => {
    startRefs.push(refs)
    return refs
  }
}

// A fiber's own table of references, read without `getFiberRefs` (which copies it to record the runtime flags, which
// the operation's fiber records anew for itself whenever they are read from it).
const refsOf = (fiber: Fiber.RuntimeFiber<unknown, unknown>): FiberRefs.FiberRefs =>
  (fiber as unknown as { readonly _fiberRefs?: FiberRefs.FiberRefs })._fiberRefs ?? fiber.getFiberRefs()

const bounded = <A, E, R, E1>(
  self: Effect.Effect<A, E, R>,
  millis: number,
  onTimeout: () => E1
): Effect.Effect<A, E | E1, R> =>
  Effect.withFiberRuntime<A, E | E1, R>((parent, status) => {
    const depth = startRefs.length
    const child = Runtime.runFork(
      Runtime.make({
        context: parent.getFiberRef(FiberRef.currentContext) as Context.Context<R>,
        fiberRefs: refsOf(parent),
        runtimeFlags: status.runtimeFlags
      })
    )(self, recordRefs)
    const initial = startRefs.length > depth ? startRefs.pop() : undefined
    const done = child.unsafePoll()
    if (done === null) return waitFor(child, millis, onTimeout)
    if (Exit.isFailure(done)) return done
    // As a join does: the fiber references the operation changed become the caller's. Most often it changed none:
    // the fiber's own table (read without `getFiberRefs`, which copies it) is still the one it started with.
    return initial !== undefined && refsOf(child) === initial
      ? done
      : Effect.as(Fiber.inheritAll(child), done.value)
  })

const waitFor = <A, E, E1>(
  child: Fiber.RuntimeFiber<A, E>,
  millis: number,
  onTimeout: () => E1
): Effect.Effect<A, E | E1> => {
  let timedOut = false
  const timer = Effect.zipRight(
    Effect.sleep(Duration.millis(millis)),
    Effect.suspend(() => {
      timedOut = true
      return Fiber.interrupt(child)
    })
  )
  return Effect.uninterruptibleMask((restore) =>
    Effect.flatMap(Effect.fork(Effect.interruptible(timer)), (timerFiber) =>
      Effect.flatMap(
        Effect.onInterrupt(restore(Fiber.await(child)), () =>
          Effect.zipRight(Fiber.interrupt(timerFiber), Fiber.interrupt(child))),
        (exit) => {
          const result: Effect.Effect<A, E | E1> = Exit.isSuccess(exit)
            ? Effect.as(Fiber.inheritAll(child), exit.value)
            : timedOut
            ? Effect.fail(onTimeout())
            : exit
          return Effect.zipRight(Fiber.interrupt(timerFiber), result)
        }
      ))
  )
}

/**
 * `store` with the time limits of `options`. Invalid options (a duration that is not positive, NaN, an unknown
 * operation name) fail with `InvalidArgument`.
 *
 * @example
 * ```ts
 * import { KeyValueStore, MemoryStore, Timeout } from "effect-kv"
 * import * as Effect from "effect/Effect"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* Timeout.make(yield* KeyValueStore.KeyValueStore, {
 *     default: "500 millis",
 *     operations: { setMany: "5 seconds" }
 *   })
 *   yield* store.get("a") // fails with Timeout after 500 ms
 * }).pipe(Effect.provide(MemoryStore.layer()))
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  store: KeyValueStore.Service,
  options: Options
): Effect.Effect<KeyValueStore.Service, InvalidArgument> =>
  Effect.suspend(() => {
    const checked = limitsOf(options)
    if (checked instanceof InvalidArgument) return Effect.fail(checked)
    const { defaultMillis, limits } = checked
    const of = (name: Operation): number | Wrapper.Inherit => limits.get(name) ?? Wrapper.inherit
    const operations = Object.fromEntries(
      (Object.keys(Wrapper.operationShapes) as Array<Operation>).map((name) => [name, of(name)])
    ) as unknown as Wrapper.Policy<number>["operations"]
    const modify = defaultMillis === undefined || defaultMillis === Infinity ? Wrapper.inherit : defaultMillis
    const fastPathBounded = ["get", "set", "has", "remove"].some((name) => limits.has(name as Operation))
    const primitives: Wrapper.Policy<number>["primitives"] = {
      backend: Wrapper.inherit,
      capabilities: Wrapper.inherit,
      separator: Wrapper.inherit,
      maxKeyBytes: Wrapper.inherit,
      maxValueBytes: Wrapper.inherit,
      get: of("get"),
      getEntry: of("getEntry"),
      set: of("set"),
      remove: of("remove"),
      modify,
      expire: of("expire"),
      clear: of("clear"),
      size: of("size"),
      has: of("has"),
      // The synchronous fast paths cannot be bounded: when their operations are, a store built over these
      // primitives takes the effectful ones.
      unsafe: fastPathBounded ? Wrapper.drop : Wrapper.inherit,
      getMany: of("getMany"),
      setMany: of("setMany"),
      removeMany: of("removeMany"),
      expiresAt: of("ttl"),
      touch: of("touch"),
      volume: of("volume"),
      counters: Wrapper.inherit,
      resetCounters: Wrapper.inherit,
      scanKeys: of("keys"),
      scanEntries: of("entries"),
      countRange: of("countPattern"),
      removeRange: of("removePattern"),
      removeTag: of("removeTag"),
      gate: Wrapper.inherit,
      withTransaction: of("withTransaction"),
      transaction: of("transaction"),
      leases: Wrapper.inherit,
      check: of("check")
    }
    const timeoutOf = (call: Wrapper.Call<number>) =>
      new Timeout(
        call.key === undefined
          ? { method: call.method, millis: call.decision }
          : { method: call.method, key: call.key, millis: call.decision }
      )
    return Effect.succeed(Wrapper.around<number>(store, {
      operations,
      primitives,
      effect: (call, self) => bounded(self, call.decision, () => timeoutOf(call)),
      stream: (call, self) => Stream.timeoutFailCause(self, () => Cause.fail(timeoutOf(call)), call.decision)
    }))
  })

/**
 * The Layer form of `make`: needs a store and gives it with the time limits.
 *
 * @example
 * ```ts
 * import { KeyValueStore, RedisStore, Timeout } from "effect-kv"
 *
 * const store = RedisStore.layer({ url: "redis://localhost:6379" }).pipe(
 *   KeyValueStore.wrap(Timeout.layer({ default: "200 millis", operations: { setMany: "2 seconds" } }))
 * )
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
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
 * import { KeyValueStore, SqliteStore, Timeout } from "effect-kv"
 * import * as Config from "effect/Config"
 *
 * const store = SqliteStore.layer({ filename: "data/kv.db" }).pipe(
 *   KeyValueStore.wrap(Timeout.layerConfig(Config.duration("KV_TIMEOUT")))
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
