/**
 * The `Logging` wrapper: one log line per operation through Effect's logger (so the application's `Logger`, its
 * minimum level and its annotations apply), with the annotations `kv.operation`, `kv.kind` (`operation`, or
 * `primitive` for a call of a store built over this one's primitives, e.g. a namespace), `kv.backend`, `kv.key` (when
 * the operation has one), `kv.outcome` (`hit`, `miss`, `success`, or the failure's tag: `BackendError`,
 * `Interrupted`, `Defect`...) and `kv.durationMillis` (measured with the `Clock` of the fiber that builds the wrapper).
 * A failure's line carries its `Cause`.
 *
 * Values never appear in a line unless asked, and only in the lines of successful calls: `values: "size"` adds byte
 * sizes only (`kv.valueBytes` for the value written by `set`, `add`, `append` and `compareAndSwap`, `kv.resultBytes`
 * for the value read by `get`, `getString`, `getOrFail`, `getEntry`, `pop` and `update`), `values: "full"` the values
 * themselves (`kv.value`, `kv.result`: a string as it is, bytes as UTF-8 text when they are valid UTF-8, else
 * `base64:...`). Keys are always logged; metadata, tags and batches' contents never are.
 *
 * Lines below the fiber's minimum log level (read when a call starts) cost one check: nothing is built for them, and
 * a call whose success and failure levels are both below it runs as it is. Successful calls log at `level`
 * (default `Debug`), failed ones at `failureLevel` (default `Warning`); `getOrFail`'s `KeyNotFound` is a `miss`, logged
 * at `level`.
 */
import type * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as FiberRef from "effect/FiberRef"
import type * as Layer from "effect/Layer"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as Outcome from "../internal/outcome.js"
import * as Wrapper from "../internal/wrapper.js"
import type { KeyValueStore } from "../KeyValueStore.js"
import type { Entry, Service as Store } from "../KeyValueStore.js"
import { InvalidArgument } from "../KeyValueStoreError.js"

/**
 * What a line says about values: nothing (`omit`, the default), their byte sizes (`size`), or the values (`full`).
 *
 * @since 0.1.0
 * @category models
 */
export type Values = "omit" | "size" | "full"

/**
 * Options of the wrapper.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The level of the lines of successful calls (default `Debug`). */
  readonly level?: LogLevel.LogLevel | LogLevel.Literal | undefined
  /** The level of the lines of failed calls (default `Warning`). */
  readonly failureLevel?: LogLevel.LogLevel | LogLevel.Literal | undefined
  /** Whether values appear in a line (default `omit`). */
  readonly values?: Values | undefined
}

// Where the value written is among the arguments, and how the result holds the value read.
type Written = { readonly arg: number; readonly option: boolean }
type Read = "option" | "value" | "entry"

const writtenBy: Readonly<Record<string, Written>> = {
  set: { arg: 1, option: false },
  add: { arg: 1, option: false },
  append: { arg: 1, option: false },
  compareAndSwap: { arg: 2, option: true }
}
const readBy: Readonly<Record<string, Read>> = {
  get: "option",
  getString: "option",
  getOrFail: "value",
  getEntry: "entry",
  pop: "option",
  update: "option"
}
const primitiveWrittenBy: Readonly<Record<string, Written>> = { set: { arg: 1, option: false } }
const primitiveReadBy: Readonly<Record<string, Read>> = { get: "option", getEntry: "entry" }

interface Checked {
  readonly level: LogLevel.LogLevel
  readonly failureLevel: LogLevel.LogLevel
  readonly values: Values
}

const invalid = (argument: string, reason: string) => new InvalidArgument({ method: "Logging", argument, reason })

const checkLevel = (level: unknown, fallback: LogLevel.LogLevel): LogLevel.LogLevel | undefined => {
  if (level === undefined) return fallback
  if (typeof level === "string") return LogLevel.allLevels.find((l) => l._tag === level)
  return LogLevel.allLevels.find((l) => l === level)
}

const checkOptions = (options: unknown): Checked | InvalidArgument => {
  const defaults: Checked = { level: LogLevel.Debug, failureLevel: LogLevel.Warning, values: "omit" }
  if (options === undefined) return defaults
  if (typeof options !== "object" || options === null) return invalid("options", "expected an object or undefined")
  const { failureLevel, level, values } = options as {
    readonly level?: unknown
    readonly failureLevel?: unknown
    readonly values?: unknown
  }
  const levels = `expected a LogLevel or one of ${LogLevel.allLevels.map((l) => l._tag).join(", ")}`
  const success = checkLevel(level, defaults.level)
  if (success === undefined) return invalid("level", levels)
  const failure = checkLevel(failureLevel, defaults.failureLevel)
  if (failure === undefined) return invalid("failureLevel", levels)
  if (values !== undefined && values !== "omit" && values !== "size" && values !== "full") {
    return invalid("values", "expected \"omit\", \"size\" or \"full\"")
  }
  return { level: success, failureLevel: failure, values: values ?? "omit" }
}

const utf8 = new TextDecoder("utf-8", { fatal: true })

// Both read a value the store accepted (a string or real bytes); anything else, e.g. a proxy, is not described.
const byteLength = (value: unknown): number | undefined => {
  try {
    return typeof value === "string"
      ? Buffer.byteLength(value, "utf8")
      : value instanceof Uint8Array
      ? value.byteLength
      : undefined
  } catch {
    return undefined
  }
}

const render = (value: unknown): string | undefined => {
  try {
    if (typeof value === "string") return value
    if (!(value instanceof Uint8Array)) return undefined
    try {
      return utf8.decode(value)
    } catch {
      return `base64:${Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("base64")}`
    }
  } catch {
    return undefined
  }
}

const readValue = (read: Read, result: unknown): unknown => {
  switch (read) {
    case "value":
      return result
    case "option":
      return Option.isOption(result) && Option.isSome(result) ? result.value : undefined
    case "entry":
      return Option.isOption(result) && Option.isSome(result) ? (result.value as Entry).value : undefined
  }
}

// The live Clock (the default service): durations under it are read with `performance.now()` (fractional
// milliseconds, no BigInt); under any other Clock (a `TestClock`) through `unsafeCurrentTimeNanos`.
const liveClock: Clock.Clock = Effect.runSync(Effect.clock)

// Both handlers of a match, given as arguments: no object literal of functions built (and named) per call.
const match = <A, E, R, A2, E2, R2, A3, E3, R3>(
  self: Effect.Effect<A, E, R>,
  onFailure: (cause: Cause.Cause<E>) => Effect.Effect<A2, E2, R2>,
  onSuccess: (a: A) => Effect.Effect<A3, E3, R3>
): Effect.Effect<A2 | A3, E2 | E3, R | R2 | R3> => Effect.matchCauseEffect(self, { onFailure, onSuccess })

// The aspect, over the Clock of the fiber that built the wrapper.
const logger = (clock: Clock.Clock, backend: string, options: Checked) => {
  const { failureLevel, level, values } = options
  const live = clock === liveClock
  const startOf = (): number | bigint => live ? performance.now() : clock.unsafeCurrentTimeNanos()
  const line = (
    call: Wrapper.Call<Outcome.Kind>,
    outcome: string,
    start: number | bigint,
    result: unknown,
    cause: Cause.Cause<unknown> | undefined,
    minimum: LogLevel.LogLevel
  ): Effect.Effect<void> => {
    const lineLevel = cause === undefined ? level : failureLevel
    if (LogLevel.lessThan(lineLevel, minimum)) return Effect.void
    const millis = typeof start === "number"
      ? performance.now() - start
      : Number(clock.unsafeCurrentTimeNanos() - start) / 1_000_000
    const annotations: Record<string, unknown> = {
      "kv.operation": call.method,
      "kv.kind": call.primitive ? "primitive" : "operation",
      "kv.backend": backend,
      "kv.outcome": outcome,
      "kv.durationMillis": millis
    }
    if (call.key !== undefined) annotations["kv.key"] = call.key
    if (values !== "omit" && cause === undefined) {
      const written = (call.primitive ? primitiveWrittenBy : writtenBy)[call.method]
      if (written !== undefined) {
        const arg = call.args[written.arg]
        const value = written.option ? (Option.isOption(arg) && Option.isSome(arg) ? arg.value : undefined) : arg
        if (values === "size") {
          const bytes = byteLength(value)
          if (bytes !== undefined) annotations["kv.valueBytes"] = bytes
        } else {
          const text = render(value)
          if (text !== undefined) annotations["kv.value"] = text
        }
      }
      const read = (call.primitive ? primitiveReadBy : readBy)[call.method]
      if (read !== undefined) {
        const value = readValue(read, result)
        if (values === "size") {
          const bytes = byteLength(value)
          if (bytes !== undefined) annotations["kv.resultBytes"] = bytes
        } else {
          const text = render(value)
          if (text !== undefined) annotations["kv.result"] = text
        }
      }
    }
    const message = `effect-kv ${call.method}`
    return Effect.annotateLogs(
      cause === undefined ? Effect.logWithLevel(lineLevel, message) : Effect.logWithLevel(lineLevel, message, cause),
      annotations
    )
  }
  const outcomeOf = (kind: Outcome.Kind, value: unknown, args: ReadonlyArray<unknown>, tally: Outcome.Tally) => {
    Outcome.tally(kind, value, args, tally)
    return tally.hits > 0 && tally.misses === 0 ? "hit" : tally.misses > 0 && tally.hits === 0 ? "miss" : "success"
  }
  const tally = Outcome.makeTally()
  // The fiber's minimum level is read once when the call starts: when it filters both levels, the call runs as it is.
  const quiet = (minimum: LogLevel.LogLevel) =>
    LogLevel.lessThan(level, minimum) && LogLevel.lessThan(failureLevel, minimum)
  const failed = <E>(
    call: Wrapper.Call<Outcome.Kind>,
    cause: Cause.Cause<E>,
    start: number | bigint,
    minimum: LogLevel.LogLevel
  ): Effect.Effect<never, E> => {
    const tag = Outcome.failureTag(cause)
    return Effect.zipRight(
      tag === "KeyNotFound" && call.decision === "readOrFail"
        ? line(call, "miss", start, undefined, undefined, minimum)
        : line(call, tag, start, undefined, cause, minimum),
      Effect.failCause(cause)
    )
  }
  const effect = <A, E, R>(call: Wrapper.Call<Outcome.Kind>, self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.withFiberRuntime((fiber) => {
      const minimum = fiber.getFiberRef(FiberRef.currentMinimumLogLevel)
      if (quiet(minimum)) return self
      const start = startOf()
      // Successes filtered out (the default: `Debug` under `Info`): only a failure can make a line.
      if (LogLevel.lessThan(level, minimum)) {
        return Effect.catchAllCause(self, (cause) => failed(call, cause, start, minimum))
      }
      return match(self, (cause) => failed(call, cause, start, minimum), (value) =>
        Effect.as(
          line(call, outcomeOf(call.decision, value, call.args, tally), start, value, undefined, minimum),
          value
        ))
    })
  const stream = <A, E>(call: Wrapper.Call<Outcome.Kind>, self: Stream.Stream<A, E>): Stream.Stream<A, E> =>
    Stream.unwrap(Effect.withFiberRuntime((fiber) => {
      const minimum = fiber.getFiberRef(FiberRef.currentMinimumLogLevel)
      if (quiet(minimum)) return Effect.succeed(self)
      const start = startOf()
      return Effect.succeed(Stream.ensuringWith(self, (exit: Exit.Exit<unknown, E>) =>
        exit._tag === "Success"
          ? line(call, "success", start, undefined, undefined, minimum)
          : line(call, Outcome.failureTag(exit.cause), start, undefined, exit.cause, minimum)))
    }))
  return { effect, stream }
}

/**
 * `store` with one log line per operation and effectful primitive. Fails with `InvalidArgument` on a bad option.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { KeyValueStore, Logging, MemoryStore } from "effect-kv"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* Logging.make(yield* KeyValueStore.KeyValueStore, { level: "Info", values: "size" })
 *   yield* store.set("a", "hello") // logs "effect-kv set" with kv.key=a kv.outcome=success kv.valueBytes=5 ...
 * }).pipe(Effect.provide(MemoryStore.layer()))
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const make = (store: Store, options?: Options): Effect.Effect<Store, InvalidArgument> =>
  Effect.clockWith((clock) => {
    const checked = checkOptions(options)
    if (checked instanceof InvalidArgument) return Effect.fail(checked)
    const primitives: Wrapper.Policy<Outcome.Kind>["primitives"] = {
      ...Outcome.primitiveKinds,
      ...Wrapper.observeEveryCall
    }
    const observed = Wrapper.around<Outcome.Kind>(store, {
      operations: Outcome.operationKinds,
      primitives,
      ...logger(clock, store.backend, checked)
    })
    return Effect.succeed(observed)
  })

/**
 * The wrapper as a layer: needs a `KeyValueStore` and gives the logged one.
 *
 * @example
 * ```ts
 * import { KeyValueStore, Logging, MemoryStore } from "effect-kv"
 *
 * const Logged = MemoryStore.layer().pipe(KeyValueStore.wrap(Logging.layer({ level: "Info" })))
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Options): Layer.Layer<KeyValueStore, InvalidArgument, KeyValueStore> =>
  Wrapper.layer(make, options)
