/**
 * The `Statistics` wrapper: counts every operation of a store as Effect `Metric`s, which any Effect metrics exporter
 * (OpenTelemetry, Prometheus...) sees, and as a readable per-operation snapshot through the `Statistics` service.
 *
 * Per operation it counts calls, hits and misses (read from results: `get` some or none, `has` true or false, one per
 * key of `getMany`...), writes and removes (from what the operation is: `set`, `add` that wrote, the entries of a
 * `setMany`, the counts `removeMany`, `removePattern` and `removeTag` return...), failures by error tag, and observes
 * the latency (measured with the `Clock`, so a `TestClock` drives it) in a histogram. The metrics are tagged with
 * `backend`, `store` (the `name` option, to tell several stores apart), `operation` and `kind` (`operation`, or
 * `primitive` for a call of a store built over this one's primitives), failures also with `error`.
 *
 * A store built later over this store's primitives (a namespace with `KeyValueStore.prefix`, a byte wrapper) keeps
 * being counted, under the primitives' names and `kind: "primitive"`: its `get` is the primitive `get`, but its
 * `increment`, `update` or `compareAndSwap` is a call of the primitive `modify`, which counts as a call (with its
 * failures and latency) and nothing more. The synchronous fast paths of the inner store are not offered to such a
 * store (they cannot be observed), so it runs the observed effectful primitives instead.
 *
 * A call that is interrupted from outside counts as a call only (no failure, no latency). Time is read from the `Clock`
 * of the fiber that builds the wrapper (a `TestClock` in a test that builds it).
 */
import type * as Cause from "effect/Cause"
import type * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as MetricBoundaries from "effect/MetricBoundaries"
import type * as MetricHook from "effect/MetricHook"
import * as MetricKey from "effect/MetricKey"
import type * as MetricKeyType from "effect/MetricKeyType"
import * as MetricLabel from "effect/MetricLabel"
import * as Stream from "effect/Stream"
import * as Outcome from "../internal/outcome.js"
import * as Wrapper from "../internal/wrapper.js"
import { KeyValueStore } from "../KeyValueStore.js"
import type { Service as Store } from "../KeyValueStore.js"
import { InvalidArgument } from "../KeyValueStoreError.js"

/**
 * The names of the metrics, each tagged with `backend`, `store`, `operation` and `kind`.
 *
 * @example
 * ```ts
 * import { Statistics } from "effect-kv"
 * Statistics.metricNames.calls // "effect_kv_calls"
 * ```
 * @since 0.1.0
 * @category models
 */
export const metricNames = {
  /** Calls started (counter). */
  calls: "effect_kv_calls",
  /** Keys read and found (counter). */
  hits: "effect_kv_hits",
  /** Keys read and not found (counter). */
  misses: "effect_kv_misses",
  /** Entries written (counter). */
  writes: "effect_kv_writes",
  /** Entries removed (counter). */
  removes: "effect_kv_removes",
  /** Failed calls, also tagged with `error`: the error's tag, `Interrupted` or `Defect` (counter). */
  failures: "effect_kv_failures",
  /** Duration of the finished calls, in milliseconds (histogram). */
  latency: "effect_kv_latency_ms"
} as const

/**
 * The default upper boundaries of the latency histogram, in milliseconds (from 50 µs for a memory store to 10 s).
 *
 * @example
 * ```ts
 * import { Statistics } from "effect-kv"
 * Statistics.defaultBoundaries[0] // 0.05
 * ```
 * @since 0.1.0
 * @category models
 */
export const defaultBoundaries: ReadonlyArray<number> = [
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  25,
  50,
  100,
  250,
  500,
  1000,
  2500,
  5000,
  10000
]

/**
 * Options of the wrapper.
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The `store` tag of the metrics, to tell several stores apart (default `"default"`): a non-empty string. */
  readonly name?: string | undefined
  /**
   * The upper boundaries of the latency histogram in milliseconds: 1 to 100 finite positive numbers in increasing
   * order (default `defaultBoundaries`). A last bucket holds the longer calls.
   */
  readonly boundaries?: Iterable<number> | undefined
}

/**
 * The latency of the finished calls of one operation, in milliseconds. The percentiles are estimated from the
 * histogram: the upper boundary of the bucket that holds them, bounded by the observed minimum and maximum.
 *
 * @since 0.1.0
 * @category models
 */
export interface Latency {
  readonly count: number
  readonly totalMillis: number
  /** 0 when there was no call. */
  readonly minMillis: number
  readonly maxMillis: number
  readonly meanMillis: number
  readonly p50Millis: number
  readonly p99Millis: number
  /** `[upper boundary, calls]` per bucket (not cumulative); the last boundary is `Infinity`. */
  readonly buckets: ReadonlyArray<readonly [upperMillis: number, count: number]>
}

/**
 * What happened to one operation (or primitive) since the store was built or last reset.
 *
 * @since 0.1.0
 * @category models
 */
export interface OperationStatistics {
  readonly calls: number
  readonly hits: number
  readonly misses: number
  readonly writes: number
  readonly removes: number
  /** Failed calls by error tag (`BackendError`, `KeyNotFound`, `Interrupted`, `Defect`...). */
  readonly failures: Readonly<Record<string, number>>
  readonly latency: Latency
}

/**
 * A readable view of the counts, per operation and per primitive, listing those called since the last reset.
 *
 * @since 0.1.0
 * @category models
 */
export interface Snapshot {
  /** The `name` option. */
  readonly name: string
  readonly backend: string
  readonly operations: Readonly<Record<string, OperationStatistics>>
  /** Calls of this store's primitives by a store built over them (a namespace). */
  readonly primitives: Readonly<Record<string, OperationStatistics>>
}

/**
 * The statistics of one wrapped store. `reset` clears the snapshot only: the metrics are monotonic (an exporter
 * derives rates from them) and keep counting.
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly name: string
  readonly snapshot: Effect.Effect<Snapshot>
  readonly reset: Effect.Effect<void>
}

/**
 * The tag of the statistics service that `layer` provides beside the store.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Statistics } from "effect-kv"
 *
 * const calls = Effect.map(Statistics.Statistics, (statistics) => statistics.name)
 * ```
 * @since 0.1.0
 * @category tags
 */
export class Statistics extends Context.Tag("effect-kv/Statistics")<Statistics, Service>() {}

/**
 * The snapshot of the `Statistics` service in context.
 *
 * @example
 * ```ts
 * import { Effect, Layer } from "effect"
 * import { KeyValueStore, MemoryStore, Statistics } from "effect-kv"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* KeyValueStore.KeyValueStore
 *   yield* store.get("missing")
 *   const snapshot = yield* Statistics.snapshot
 *   return snapshot.operations.get?.misses // 1
 * }).pipe(Effect.provide(Statistics.layer().pipe(Layer.provide(MemoryStore.layer()))))
 * ```
 * @since 0.1.0
 * @category accessors
 */
export const snapshot: Effect.Effect<Snapshot, never, Statistics> = Effect.flatMap(Statistics, (s) => s.snapshot)

/**
 * Clears the snapshot of the `Statistics` service in context (the metrics keep counting).
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { Statistics } from "effect-kv"
 *
 * const freshWindow = Effect.zipRight(Statistics.reset, Statistics.snapshot)
 * ```
 * @since 0.1.0
 * @category accessors
 */
export const reset: Effect.Effect<void, never, Statistics> = Effect.flatMap(Statistics, (s) => s.reset)

const keys = {
  calls: MetricKey.counter(metricNames.calls, { description: "effect-kv: calls started", incremental: true }),
  hits: MetricKey.counter(metricNames.hits, { description: "effect-kv: keys read and found", incremental: true }),
  misses: MetricKey.counter(metricNames.misses, {
    description: "effect-kv: keys read and not found",
    incremental: true
  }),
  writes: MetricKey.counter(metricNames.writes, { description: "effect-kv: entries written", incremental: true }),
  removes: MetricKey.counter(metricNames.removes, { description: "effect-kv: entries removed", incremental: true }),
  failures: MetricKey.counter(metricNames.failures, { description: "effect-kv: failed calls", incremental: true })
}

// The hook of a metric under tags: what `Metric.update` reaches through a lookup by tags, resolved once.
const hookOf = <In, Out>(
  key: MetricKey.MetricKey<MetricKeyType.MetricKeyType<In, Out>>,
  labels: ReadonlyArray<MetricLabel.MetricLabel>
): MetricHook.MetricHook<In, Out> =>
  Metric.globalMetricRegistry.get(MetricKey.taggedWithLabels(key, labels)) as unknown as MetricHook.MetricHook<
    In,
    Out
  >

type Counter = MetricHook.MetricHook<number, unknown>

// The counts of one operation or primitive: plain numbers for the snapshot, and the hooks of its metrics, resolved
// once (an update is then an addition, with no lookup by tags).
class Track {
  calls = 0
  hits = 0
  misses = 0
  writes = 0
  removes = 0
  failures = new Map<string, number>()
  latencyCount = 0
  totalMillis = 0
  minMillis = Infinity
  maxMillis = 0
  readonly buckets: Array<number>
  readonly hooks: {
    readonly calls: Counter
    readonly hits: Counter
    readonly misses: Counter
    readonly writes: Counter
    readonly removes: Counter
    readonly latency: Counter
  }
  readonly failureHooks = new Map<string, Counter>()

  constructor(
    readonly method: string,
    readonly kind: Outcome.Kind,
    readonly labels: ReadonlyArray<MetricLabel.MetricLabel>,
    readonly boundaries: ReadonlyArray<number>,
    latency: MetricKey.MetricKey.Histogram,
    readonly tally: Outcome.Tally
  ) {
    this.buckets = new Array<number>(boundaries.length + 1).fill(0)
    this.hooks = {
      calls: hookOf(keys.calls, labels),
      hits: hookOf(keys.hits, labels),
      misses: hookOf(keys.misses, labels),
      writes: hookOf(keys.writes, labels),
      removes: hookOf(keys.removes, labels),
      latency: hookOf(latency, labels)
    }
  }

  started(): void {
    this.calls++
    this.hooks.calls.update(1)
  }

  succeeded(value: unknown, args: ReadonlyArray<unknown>, millis: number): void {
    const tally = this.tally
    Outcome.tally(this.kind, value, args, tally)
    if (tally.hits > 0) this.add("hits", tally.hits)
    if (tally.misses > 0) this.add("misses", tally.misses)
    if (tally.writes > 0) this.add("writes", tally.writes)
    if (tally.removes > 0) this.add("removes", tally.removes)
    this.observe(millis)
  }

  failed(cause: Cause.Cause<unknown>, millis: number): void {
    const tag = Outcome.failureTag(cause)
    if (tag === "KeyNotFound" && this.kind === "readOrFail") this.add("misses", 1)
    this.failures.set(tag, (this.failures.get(tag) ?? 0) + 1)
    let hook = this.failureHooks.get(tag)
    if (hook === undefined) {
      hook = hookOf(keys.failures, [...this.labels, MetricLabel.make("error", tag)])
      this.failureHooks.set(tag, hook)
    }
    hook.update(1)
    this.observe(millis)
  }

  private add(counter: "hits" | "misses" | "writes" | "removes", n: number): void {
    this[counter] += n
    this.hooks[counter].update(n)
  }

  private observe(millis: number): void {
    this.latencyCount++
    this.totalMillis += millis
    if (millis < this.minMillis) this.minMillis = millis
    if (millis > this.maxMillis) this.maxMillis = millis
    const boundaries = this.boundaries
    let i = 0
    while (i < boundaries.length && millis > boundaries[i]!) i++
    this.buckets[i]!++
    this.hooks.latency.update(millis)
  }

  reset(): void {
    this.calls = 0
    this.hits = 0
    this.misses = 0
    this.writes = 0
    this.removes = 0
    this.failures = new Map()
    this.latencyCount = 0
    this.totalMillis = 0
    this.minMillis = Infinity
    this.maxMillis = 0
    this.buckets.fill(0)
  }

  view(): OperationStatistics {
    const count = this.latencyCount
    const min = count === 0 ? 0 : this.minMillis
    const max = this.maxMillis
    const quantile = (q: number): number => {
      if (count === 0) return 0
      const rank = Math.ceil(q * count)
      let seen = 0
      for (let i = 0; i < this.buckets.length; i++) {
        seen += this.buckets[i]!
        if (seen >= rank) return Math.max(min, Math.min(max, this.boundaries[i] ?? max))
      }
      return max
    }
    return {
      calls: this.calls,
      hits: this.hits,
      misses: this.misses,
      writes: this.writes,
      removes: this.removes,
      failures: Object.fromEntries(this.failures),
      latency: {
        count,
        totalMillis: this.totalMillis,
        minMillis: min,
        maxMillis: max,
        meanMillis: count === 0 ? 0 : this.totalMillis / count,
        p50Millis: quantile(0.5),
        p99Millis: quantile(0.99),
        buckets: this.buckets.map((n, i) => [this.boundaries[i] ?? Infinity, n] as const)
      }
    }
  }
}

interface Checked {
  readonly name: string
  readonly boundaries: ReadonlyArray<number>
}

const invalid = (argument: string, reason: string) => new InvalidArgument({ method: "Statistics", argument, reason })

const checkOptions = (options: unknown): Checked | InvalidArgument => {
  if (options === undefined) return { name: "default", boundaries: defaultBoundaries }
  if (typeof options !== "object" || options === null) return invalid("options", "expected an object or undefined")
  const { boundaries, name } = options as { readonly name?: unknown; readonly boundaries?: unknown }
  if (name !== undefined && (typeof name !== "string" || name === "" || !name.isWellFormed())) {
    return invalid("name", "expected a non-empty string of valid Unicode")
  }
  let checked = defaultBoundaries
  if (boundaries !== undefined) {
    if (
      typeof boundaries !== "object" || boundaries === null ||
      typeof (boundaries as Partial<Iterable<unknown>>)[Symbol.iterator] !== "function"
    ) {
      return invalid("boundaries", "expected an iterable of numbers")
    }
    const list: Array<number> = []
    for (const boundary of boundaries as Iterable<unknown>) {
      if (list.length === 100) return invalid("boundaries", "expected at most 100 boundaries")
      if (typeof boundary !== "number" || !Number.isFinite(boundary) || boundary <= 0) {
        return invalid("boundaries", "expected finite positive numbers of milliseconds")
      }
      if (list.length > 0 && boundary <= list[list.length - 1]!) {
        return invalid("boundaries", "expected boundaries in strictly increasing order")
      }
      list.push(boundary)
    }
    if (list.length === 0) return invalid("boundaries", "expected at least one boundary")
    checked = list
  }
  return { name: name ?? "default", boundaries: checked }
}

// The live Clock (the default service): its durations are read with `performance.now()` (fractional milliseconds, no
// BigInt); any other Clock (a `TestClock`) through `unsafeCurrentTimeNanos`.
const liveClock: Clock.Clock = Effect.runSync(Effect.clock)

// Both handlers of a match, given as arguments: no object literal of functions built (and named) per call.
const match = <A, E, R, A2, E2, R2, A3, E3, R3>(
  self: Effect.Effect<A, E, R>,
  onFailure: (cause: Cause.Cause<E>) => Effect.Effect<A2, E2, R2>,
  onSuccess: (a: A) => Effect.Effect<A3, E3, R3>
): Effect.Effect<A2 | A3, E2 | E3, R | R2 | R3> => Effect.matchCauseEffect(self, { onFailure, onSuccess })

// The aspect, over the Clock of the fiber that built the wrapper. Per call: one clock read before and one after, the
// hooks' additions, and no lookup.
const observer = (clock: Clock.Clock) => {
  const live = clock === liveClock
  const startOf = (): number | bigint => live ? performance.now() : clock.unsafeCurrentTimeNanos()
  const millisSince = (start: number | bigint): number =>
    typeof start === "number"
      ? performance.now() - start
      : Number(clock.unsafeCurrentTimeNanos() - start) / 1_000_000
  const effect = <A, E, R>(call: Wrapper.Call<Track>, self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.suspend(() => {
      const track = call.decision
      const start = startOf()
      track.started()
      return match(self, (cause) => {
        track.failed(cause, millisSince(start))
        return Effect.failCause(cause)
      }, (value) => {
        track.succeeded(value, call.args, millisSince(start))
        return Effect.succeed(value)
      })
    })
  const stream = <A, E>(call: Wrapper.Call<Track>, self: Stream.Stream<A, E>): Stream.Stream<A, E> =>
    Stream.suspend(() => {
      const track = call.decision
      const start = startOf()
      track.started()
      return Stream.ensuringWith(self, (exit: Exit.Exit<unknown, E>) =>
        Effect.sync(() => {
          if (exit._tag === "Success") track.succeeded(undefined, call.args, millisSince(start))
          else track.failed(exit.cause, millisSince(start))
        }))
    })
  return { effect, stream }
}

const allInherit = {
  ...Object.fromEntries(Object.keys(Wrapper.operationShapes).map((name) => [name, Wrapper.inherit])),
  backend: Wrapper.inherit,
  capabilities: Wrapper.inherit,
  separator: Wrapper.inherit,
  primitives: Wrapper.inherit
} as unknown as Wrapper.ServiceDecisions

/**
 * `store` with every operation and effectful primitive counted, and the statistics service reading the counts. Fails
 * with `InvalidArgument` on a bad option.
 *
 * @example
 * ```ts
 * import { Effect } from "effect"
 * import { KeyValueStore, MemoryStore, Statistics } from "effect-kv"
 *
 * const program = Effect.gen(function*() {
 *   const { statistics, store } = yield* Statistics.make(yield* KeyValueStore.KeyValueStore, { name: "cache" })
 *   yield* store.set("a", "1")
 *   return (yield* statistics.snapshot).operations.set?.writes // 1
 * }).pipe(Effect.provide(MemoryStore.layer()))
 * ```
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  store: Store,
  options?: Options
): Effect.Effect<{ readonly store: Store; readonly statistics: Service }, InvalidArgument> =>
  Effect.clockWith((clock) => {
    const checked = checkOptions(options)
    if (checked instanceof InvalidArgument) return Effect.fail(checked)
    const { boundaries, name } = checked
    const latency = MetricKey.histogram(
      metricNames.latency,
      MetricBoundaries.fromIterable(boundaries),
      "effect-kv: duration of the finished calls in milliseconds"
    )
    const tally = Outcome.makeTally()
    const base = [MetricLabel.make("backend", store.backend), MetricLabel.make("store", name)]
    const track = (method: string, kind: Outcome.Kind, primitive: boolean) =>
      new Track(
        method,
        kind,
        [
          ...base,
          MetricLabel.make("operation", method),
          MetricLabel.make("kind", primitive ? "primitive" : "operation")
        ],
        boundaries,
        latency,
        tally
      )
    const operations = Object.fromEntries(
      Object.entries(Outcome.operationKinds).map(([method, kind]) => [method, track(method, kind, false)])
    ) as unknown as { readonly [K in Wrapper.Operation]: Track }
    const primitiveTracks = Object.fromEntries(
      Object.entries(Outcome.primitiveKinds).map(([method, kind]) => [method, track(method, kind, true)])
    ) as unknown as { readonly [K in Outcome.EffectfulPrimitive]: Track }
    const primitives: Wrapper.Policy<Track>["primitives"] = {
      ...primitiveTracks,
      ...Wrapper.observeEveryCall
    }
    const observed = Wrapper.around<Track>(store, { operations, primitives, ...observer(clock) })
    const wrapped = Wrapper.service(observed, {
      ...allInherit,
      setMany: (entries, batch) => observed.setMany(Outcome.counting(entries), batch)
    })
    const tracks = [...Object.values(operations), ...Object.values(primitiveTracks)] as ReadonlyArray<Track>
    const viewOf = (list: ReadonlyArray<Track>): Record<string, OperationStatistics> =>
      Object.fromEntries(list.filter((t) => t.calls > 0).map((t) => [t.method, t.view()]))
    const statistics: Service = {
      name,
      snapshot: Effect.sync(() => ({
        name,
        backend: store.backend,
        operations: viewOf(Object.values(operations)),
        primitives: viewOf(Object.values(primitiveTracks))
      })),
      reset: Effect.sync(() => {
        for (const t of tracks) t.reset()
      })
    }
    return Effect.succeed({ store: wrapped, statistics })
  })

/**
 * The wrapper as a layer: needs a `KeyValueStore`, gives the counted one and the `Statistics` service. Compose it with
 * `Layer.provide` to keep the `Statistics` service in the output (`KeyValueStore.wrap` keeps only the store).
 *
 * @example
 * ```ts
 * import { Layer } from "effect"
 * import { MemoryStore, Statistics } from "effect-kv"
 *
 * const StoreWithStatistics = Statistics.layer({ name: "sessions" }).pipe(Layer.provide(MemoryStore.layer()))
 * ```
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<KeyValueStore | Statistics, InvalidArgument, KeyValueStore> =>
  Layer.effectContext(
    Effect.flatMap(KeyValueStore, (inner) =>
      Effect.map(
        make(inner, options),
        ({ statistics, store }) => Context.make(KeyValueStore, store).pipe(Context.add(Statistics, statistics))
      ))
  )
