/**
 * Batched: a wrapper that turns concurrent single-key reads of one store into one `getMany` (one round trip). `get`,
 * `getString`, `getOrFail` and `has` become requests of Effect's request batching (`Request`, a batched
 * `RequestResolver`, `Effect.request`), so the reads of one `Effect.all`/`Effect.forEach` with `batching: true` are
 * one batch even when they run one after another; and the reads of separate fibers (or of a concurrent `Effect.all`)
 * are gathered for a window (by default the rest of the current event-loop turn: every fiber that is ready to run
 * gets there first) and sent together. `requestBatching: false` skips Effect's request machinery: each read goes to
 * the window directly, which costs less CPU per read and still batches reads that wait at the same time, but not
 * those of a sequential `Effect.all`. A batch holds each key once (the callers of one key share its read, each with
 * its own copy of the bytes), and at most `maxBatchSize` keys (default 1000): a larger gathering is sent as several
 * batches.
 *
 * Failures stay where they belong. A key the store refuses (`InvalidKey`) fails only its own requests, without the
 * batch: it is checked before it joins one, and a key whose own failure fails a batch (`InvalidKey`, `DecodeError`,
 * `DecryptionFailed`, `StoreCorrupted` naming a key of the batch) is taken out and the rest read again. Any other
 * failure of the `getMany` fails every request of the batch with that error, under each request's own `method` and
 * `key`. An interrupted caller leaves the batch without disturbing the others; a batch all of whose callers left is
 * interrupted.
 *
 * Transactions: a read from a fiber inside a transaction region of this store (`withTransaction`, `transaction`), or
 * inside the application's own `@effect/sql` transaction, is never batched: it goes straight to the store, so it
 * runs in the transaction and sees its writes (a batch is read by a fiber of its own, which belongs to no region).
 * Reads from outside a region are batched as usual and wait for the region to end, as they would unbatched.
 *
 * Every other operation (`getEntry`, the writes, `getMany` itself, enumeration, transactions, locks) passes through
 * unchanged, and so do the primitives: a namespace built over a batched store (`KeyValueStore.prefix`) does not batch;
 * batch the namespace instead (`KeyValueStore.batched(KeyValueStore.prefix(store, "ns."))`). A batched read costs more
 * than a single one on a store without round trips (MemoryStore, SqliteStore: a request, a window, a fiber for the
 * batch); it pays where many reads would each wait for the network.
 *
 * @since 0.1.0
 */
import type * as Arr from "effect/Array"
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as FiberId from "effect/FiberId"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Request from "effect/Request"
import * as RequestResolver from "effect/RequestResolver"
import * as Runtime from "effect/Runtime"
import * as validate from "../internal/validate.js"
import * as Wrapper from "../internal/wrapper.js"
import type * as KeyValueStore from "../KeyValueStore.js"
import type { KeyValueStoreError } from "../KeyValueStoreError.js"
import { InvalidArgument, KeyNotFound } from "../KeyValueStoreError.js"

// `@effect/sql`'s `SqlClient.TransactionConnection`, found by its key: importing it would load `@effect/sql` (an
// optional peer dependency) for every user of this wrapper, SQL or not. Context looks tags up by key, so this one finds
// the application's transaction exactly as the original tag does (batched-servers.test.ts reads inside one).
const SqlTransaction = Context.GenericTag<unknown>("@effect/sql/SqlClient/TransactionConnection")

/**
 * How reads are gathered: `window`, how long a batch waits for more reads after its first (default: zero, the rest of
 * the current event-loop turn; a longer window is measured on the `Clock`), and `maxBatchSize`, the most keys one
 * `getMany` reads (default 1000, at most `limits.maxBatch`): a batch that fills up is sent at once.
 * `requestBatching` (default true): each read is an Effect request (`Effect.request`), so the reads of one
 * `Effect.all`/`Effect.forEach` with `batching: true` are one batch even when they run one after another; `false`
 * sends each read to the window directly, which costs less CPU per read (Effect's request machinery is the larger
 * part of a batched read's cost on a busy CPU) but gathers only reads that wait at the same time (separate fibers, a
 * concurrent `Effect.all`), not those of a sequential one.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly window?: Duration.DurationInput | undefined
  readonly maxBatchSize?: number | undefined
  readonly requestBatching?: boolean | undefined
}

/** The reads that are batched. */
type Method = "get" | "getString" | "getOrFail" | "has"

type Result = Exit.Exit<Option.Option<Uint8Array>, KeyValueStoreError>

// One read of one key, as Effect's request batching sees it.
class Get extends Request.TaggedClass("Get")<
  Option.Option<Uint8Array>,
  KeyValueStoreError,
  { readonly key: string; readonly method: Method }
> {}

// A caller waiting for its key in a pending or running batch.
interface Waiter {
  readonly key: string
  readonly method: Method
  readonly done: (result: Result) => void
  settled: boolean
  flight: Flight | undefined
}

// A batch being read: its fiber, and how many of its callers still wait.
interface Flight {
  live: number
  fiber: Fiber.RuntimeFiber<void> | undefined
}

const defaultMaxBatchSize = 1000
const optionNames = new Set(["window", "maxBatchSize", "requestBatching"])

// The failures that concern one key of a batch rather than the batch.
const perKey = new Set(["InvalidKey", "DecodeError", "DecryptionFailed", "StoreCorrupted"])

// `error` (a failure of the batch's `getMany`) as a failure of one request: its method and its key.
const asRequest = (error: KeyValueStoreError, method: Method, key: string): KeyValueStoreError => {
  if (error.method !== "getMany") return error
  const fields: Record<string, unknown> = { ...error, method, key: error.key ?? key }
  const cause = (error as { readonly cause?: unknown }).cause
  if (cause !== undefined) fields.cause = cause
  return new (error.constructor as new(fields: Record<string, unknown>) => KeyValueStoreError)(fields)
}

// Checked options.
interface Settings {
  readonly windowMillis: number
  readonly maxBatchSize: number
  readonly requestBatching: boolean
}

const defaults: Settings = { windowMillis: 0, maxBatchSize: defaultMaxBatchSize, requestBatching: true }

const resolved = (
  options: Options | undefined
): Settings | InvalidArgument => {
  const invalid = (argument: string, reason: string) => new InvalidArgument({ method: "Batched", argument, reason })
  const optionsError = validate.checkOptions("Batched", undefined, options, "options")
  if (optionsError) return optionsError
  for (const name of Object.keys(options ?? {})) {
    if (!optionNames.has(name)) {
      return invalid(name, "unknown option (expected window, maxBatchSize or requestBatching)")
    }
  }
  let windowMillis = 0
  if (options?.window !== undefined) {
    const millis = validate.durationOf(options.window, { zero: true, infinite: false })
    if (typeof millis === "string") return invalid("window", millis)
    windowMillis = millis
  }
  const maxBatchSize = options?.maxBatchSize ?? defaultMaxBatchSize
  if (!Number.isSafeInteger(maxBatchSize) || maxBatchSize < 1 || maxBatchSize > validate.limits.maxBatch) {
    return invalid(
      "maxBatchSize",
      `expected an integer from 1 to ${validate.limits.maxBatch}, got ${validate.show(maxBatchSize)}`
    )
  }
  const requestBatching = options?.requestBatching ?? true
  if (typeof requestBatching !== "boolean") {
    return invalid("requestBatching", `expected a boolean, got ${validate.show(requestBatching)}`)
  }
  return { windowMillis, maxBatchSize, requestBatching }
}

// The gathering of one store's reads into batches.
const batcher = (store: KeyValueStore.Service, windowMillis: number, maxBatchSize: number) => {
  let pending = new Map<string, Array<Waiter>>()
  // The runtime the pending batch is read with (its first caller's), and the token of its scheduled send.
  let runtime: Runtime.Runtime<never> | undefined
  let scheduled: object | undefined

  const settle = (waiter: Waiter, result: Result): void => {
    if (waiter.settled) return
    waiter.settled = true
    waiter.done(result)
  }

  // Reads `batch` with one `getMany`; a per-key failure takes its key out and reads the rest again.
  const read = (batch: Map<string, Array<Waiter>>): Effect.Effect<void> =>
    Effect.flatMap(Effect.exit(store.getMany(batch.keys())), (exit): Effect.Effect<void> => {
      if (Exit.isSuccess(exit)) {
        let index = 0
        for (const waiters of batch.values()) {
          const value = exit.value[index++] ?? Option.none()
          waiters.forEach((waiter, i) =>
            settle(
              waiter,
              Exit.succeed(i === 0 || Option.isNone(value) ? value : Option.some(new Uint8Array(value.value)))
            )
          )
        }
        return Effect.void
      }
      const failure = exit.cause._tag === "Fail" ? exit.cause.error : undefined
      if (failure !== undefined) {
        const own = failure.key === undefined ? undefined : batch.get(failure.key)
        if (own !== undefined && perKey.has(failure._tag) && batch.size > 1) {
          for (const waiter of own) settle(waiter, Exit.fail(asRequest(failure, waiter.method, waiter.key)))
          batch.delete(failure.key!)
          return read(batch)
        }
        for (const waiters of batch.values()) {
          for (const waiter of waiters) settle(waiter, Exit.fail(asRequest(failure, waiter.method, waiter.key)))
        }
        return Effect.void
      }
      for (const waiters of batch.values()) {
        for (const waiter of waiters) settle(waiter, Exit.failCause(exit.cause))
      }
      return Effect.void
    })

  const send = (): void => {
    const batch = pending
    const run = runtime
    pending = new Map()
    runtime = undefined
    scheduled = undefined
    if (batch.size === 0 || run === undefined) return
    const flight: Flight = { live: 0, fiber: undefined }
    for (const waiters of batch.values()) {
      for (const waiter of waiters) {
        waiter.flight = flight
        flight.live++
      }
    }
    flight.fiber = Runtime.runFork(run)(read(batch))
  }

  const schedule = (): void => {
    const token = {}
    scheduled = token
    const fire = () => {
      if (scheduled === token) send()
    }
    if (windowMillis === 0) {
      setImmediate(fire)
    } else {
      Runtime.runFork(runtime!)(Effect.zipRight(Effect.sleep(windowMillis), Effect.sync(fire)))
    }
  }

  const add = (waiter: Waiter, caller: () => Runtime.Runtime<never>): void => {
    const waiters = pending.get(waiter.key)
    if (waiters !== undefined) {
      waiters.push(waiter)
      return
    }
    if (runtime === undefined) runtime = caller()
    pending.set(waiter.key, [waiter])
    if (pending.size >= maxBatchSize) send()
    else if (scheduled === undefined) schedule()
  }

  const leave = (waiter: Waiter): void => {
    if (waiter.settled) return
    waiter.settled = true
    const flight = waiter.flight
    if (flight === undefined) {
      const waiters = pending.get(waiter.key)
      if (waiters === undefined) return
      const index = waiters.indexOf(waiter)
      if (index >= 0) waiters.splice(index, 1)
      if (waiters.length === 0) pending.delete(waiter.key)
      return
    }
    flight.live--
    if (flight.live === 0 && flight.fiber !== undefined) flight.fiber.unsafeInterruptAsFork(FiberId.none)
  }

  // The resolver of Effect's request batching: every request it is given joins the gathering, and each is completed
  // with its own result.
  const resolver = RequestResolver.makeBatched((requests: Arr.NonEmptyArray<Get>) =>
    Effect.withFiberRuntime<void>((fiber) => {
      const results: Array<Result | undefined> = new Array(requests.length)
      return Effect.flatMap(
        Effect.async<void>((resume) => {
          let left = requests.length
          const caller = () =>
            Runtime.make({
              context: fiber.currentContext as Context.Context<never>,
              fiberRefs: fiber.getFiberRefs(),
              runtimeFlags: Runtime.defaultRuntimeFlags
            })
          const waiters = requests.map((request, index): Waiter => ({
            key: request.key,
            method: request.method,
            settled: false,
            flight: undefined,
            done: (result) => {
              results[index] = result
              if (--left === 0) resume(Effect.void)
            }
          }))
          for (const waiter of waiters) add(waiter, caller)
          return Effect.sync(() => {
            for (const waiter of waiters) leave(waiter)
          })
        }),
        () =>
          Effect.forEach(requests, (request, index) => Request.complete(request, results[index]!), { discard: true })
      )
    })
  )

  // A read sent to the window directly (without Effect's request machinery).
  const load = (key: string, method: Method): Effect.Effect<Option.Option<Uint8Array>, KeyValueStoreError> =>
    Effect.withFiberRuntime((fiber) =>
      Effect.async((resume) => {
        const waiter: Waiter = { key, method, settled: false, flight: undefined, done: resume }
        add(waiter, () =>
          Runtime.make({
            context: fiber.currentContext as Context.Context<never>,
            fiberRefs: fiber.getFiberRefs(),
            runtimeFlags: Runtime.defaultRuntimeFlags
          }))
        return Effect.sync(() => leave(waiter))
      })
    )

  return { resolver, load }
}

/**
 * `store` with its concurrent `get`, `getString`, `getOrFail` and `has` batched into `getMany`s (see the module
 * documentation). Invalid options (an unknown option, a negative or infinite window, a `maxBatchSize` that is not an
 * integer from 1 to `limits.maxBatch`, a `requestBatching` that is not a boolean) fail with `InvalidArgument`.
 *
 * @example
 * ```ts
 * import { Batched, KeyValueStore, RedisStore } from "effect-kv"
 * import * as Effect from "effect/Effect"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* Batched.make(yield* KeyValueStore.KeyValueStore, { maxBatchSize: 500 })
 *   // one getMany (one pipelined round trip on Redis) for the 100 reads
 *   return yield* Effect.forEach(Array.from({ length: 100 }, (_, i) => `user.${i}`), store.get, {
 *     concurrency: "unbounded"
 *   })
 * }).pipe(Effect.provide(RedisStore.layer({ url: "redis://localhost:6379" })))
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  store: KeyValueStore.Service,
  options?: Options
): Effect.Effect<KeyValueStore.Service, InvalidArgument> =>
  Effect.suspend(() => {
    const checked = resolved(options)
    return checked instanceof InvalidArgument ? Effect.fail(checked) : Effect.succeed(buildWith(store, checked))
  })

/**
 * The batched store with the default options (what `KeyValueStore.batched` gives).
 *
 * @internal
 */
export const build = (store: KeyValueStore.Service): KeyValueStore.Service => buildWith(store, defaults)

// The batched store with checked options.
const buildWith = (store: KeyValueStore.Service, options: Settings): KeyValueStore.Service => {
  const { load, resolver } = batcher(store, options.windowMillis, options.maxBatchSize)
  const batchedRead = options.requestBatching
    ? (key: string, method: Method) => Effect.request(new Get({ key, method }), resolver)
    : load
  const maxKeyBytes = store.primitives.maxKeyBytes ?? 1024
  const gate = store.primitives.gate
  // Straight to the store: inside a transaction of this store or of the application's SQL client (where the read
  // must run in the transaction), and for a key the store refuses (its own error, without a batch).
  const direct = (fiber: Fiber.RuntimeFiber<unknown, unknown>, method: Method, key: string): boolean =>
    validate.checkKey(method, key, maxKeyBytes) !== undefined ||
    (gate !== undefined && gate.inRegion(fiber)) ||
    Context.getOption(fiber.currentContext, SqlTransaction)._tag === "Some"
  const read = <A>(
    method: Method,
    key: string,
    inner: Effect.Effect<A, KeyValueStoreError>,
    batched: (found: Option.Option<Uint8Array>) => Effect.Effect<A, KeyValueStoreError>
  ): Effect.Effect<A, KeyValueStoreError> =>
    Effect.withFiberRuntime((fiber) =>
      direct(fiber, method, key) ? inner : Effect.flatMap(batchedRead(key, method), batched)
    )
  const decoder = new TextDecoder("utf-8", { ignoreBOM: true })
  return Wrapper.service(store, {
    backend: Wrapper.inherit,
    capabilities: Wrapper.inherit,
    separator: Wrapper.inherit,
    primitives: Wrapper.inherit,
    get: (key) => read("get", key, Effect.suspend(() => store.get(key)), Effect.succeed),
    getString: (key) =>
      read(
        "getString",
        key,
        Effect.suspend(() => store.getString(key)),
        (found) => Effect.succeed(Option.map(found, (bytes) => decoder.decode(bytes)))
      ),
    getOrFail: (key) =>
      read(
        "getOrFail",
        key,
        Effect.suspend(() => store.getOrFail(key)),
        (found) =>
          found._tag === "Some"
            ? Effect.succeed(found.value)
            : Effect.fail(new KeyNotFound({ method: "getOrFail", key }))
      ),
    has: (key) =>
      read("has", key, Effect.suspend(() => store.has(key)), (found) => Effect.succeed(Option.isSome(found))),
    getEntry: Wrapper.inherit,
    set: Wrapper.inherit,
    remove: Wrapper.inherit,
    pop: Wrapper.inherit,
    add: Wrapper.inherit,
    touch: Wrapper.inherit,
    ttl: Wrapper.inherit,
    setMetadata: Wrapper.inherit,
    increment: Wrapper.inherit,
    decrement: Wrapper.inherit,
    compareAndSwap: Wrapper.inherit,
    append: Wrapper.inherit,
    update: Wrapper.inherit,
    getMany: Wrapper.inherit,
    setMany: Wrapper.inherit,
    removeMany: Wrapper.inherit,
    keys: Wrapper.inherit,
    entries: Wrapper.inherit,
    getPattern: Wrapper.inherit,
    countPattern: Wrapper.inherit,
    removePattern: Wrapper.inherit,
    removeTag: Wrapper.inherit,
    expire: Wrapper.inherit,
    clear: Wrapper.inherit,
    size: Wrapper.inherit,
    volume: Wrapper.inherit,
    stats: Wrapper.inherit,
    resetStats: Wrapper.inherit,
    withTransaction: Wrapper.inherit,
    transaction: Wrapper.inherit,
    lock: Wrapper.inherit,
    withLock: Wrapper.inherit,
    check: Wrapper.inherit
  })
}

/**
 * The Layer form of `make`: needs a store and gives it with its reads batched.
 *
 * @example
 * ```ts
 * import { Batched, KeyValueStore, PostgresStore } from "effect-kv"
 * import * as Redacted from "effect/Redacted"
 *
 * const store = PostgresStore.layer({ url: Redacted.make("postgres://postgres@127.0.0.1/app") }).pipe(
 *   KeyValueStore.wrap(Batched.layer({ window: "2 millis" }))
 * )
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<KeyValueStore.KeyValueStore, InvalidArgument, KeyValueStore.KeyValueStore> =>
  Wrapper.layer(make, options)

/**
 * `layer` with its options read from `Config` (environment variables in production).
 *
 * @example
 * ```ts
 * import { Batched, KeyValueStore, RedisStore } from "effect-kv"
 * import * as Config from "effect/Config"
 *
 * const store = RedisStore.layer({ url: "redis://localhost:6379" }).pipe(
 *   KeyValueStore.wrap(Batched.layerConfig({
 *     maxBatchSize: Config.integer("KV_MAX_BATCH").pipe(Config.withDefault(1000))
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
