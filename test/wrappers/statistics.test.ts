/**
 * The `Statistics` wrapper: the contract suite passes through it unchanged; it counts calls, hits, misses, writes,
 * removes and failures by tag per operation, observes TestClock-driven latency, tags its metrics with backend, store,
 * operation and kind, resets its snapshot, tells two stores apart by name, keeps counting a namespace built over its
 * primitives, and refuses bad options with `InvalidArgument`. An OpenTelemetry metric reader wired with
 * `@effect/opentelemetry` receives the metrics with their tags.
 */
import * as Metrics from "@effect/opentelemetry/Metrics"
import * as Resource from "@effect/opentelemetry/Resource"
import { assert, describe, it } from "@effect/vitest"
import type { DataPoint, Histogram } from "@opentelemetry/sdk-metrics"
import { MetricReader } from "@opentelemetry/sdk-metrics"
import { KeyValueStore, KeyValueStoreError, MemoryStore, Statistics } from "effect-kv"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import type * as MetricPair from "effect/MetricPair"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as Wrapper from "../../src/internal/wrapper.js"
import { suite } from "../contract/suite.js"
import * as Scripted from "./fixtures/scripted.js"

let names = 0
/** A store name of its own per test: the metrics live in one global registry. */
const uniqueName = () => `statistics-test-${process.pid}-${++names}`

const counted = (options?: Statistics.Options) =>
  Effect.flatMap(KeyValueStore.KeyValueStore, (store) => Statistics.make(store, options))

const op = (snapshot: Statistics.Snapshot, name: string): Statistics.OperationStatistics => {
  const found = snapshot.operations[name]
  if (found === undefined) return assert.fail(`no statistics for operation ${name}`)
  return found
}

const counts = (s: Statistics.OperationStatistics) => ({
  calls: s.calls,
  hits: s.hits,
  misses: s.misses,
  writes: s.writes,
  removes: s.removes,
  failures: s.failures
})

const tagsOf = (pair: MetricPair.MetricPair.Untyped): Record<string, string> =>
  Object.fromEntries(pair.metricKey.tags.map((label) => [label.key, label.value]))

/** The metric pairs of one metric name whose tags include `tags`. */
const metricPairs = (name: string, tags: Record<string, string>) =>
  Effect.map(Metric.snapshot, (pairs) =>
    pairs.filter((pair) => {
      if (pair.metricKey.name !== name) return false
      const own = tagsOf(pair)
      return Object.entries(tags).every(([key, value]) => own[key] === value)
    }))

const counterValue = (name: string, tags: Record<string, string>) =>
  Effect.map(
    metricPairs(name, tags),
    (pairs) => pairs.reduce((sum, pair) => sum + (pair.metricState as unknown as { readonly count: number }).count, 0)
  )

suite(
  "MemoryStore through Statistics",
  Statistics.layer({ name: "contract" }).pipe(Layer.provide(MemoryStore.layer())),
  MemoryStore.capabilities
)

describe("Statistics", () => {
  it.effect("counts calls, hits, misses, writes and removes per operation", () =>
    Effect.gen(function*() {
      const { statistics, store } = yield* counted({ name: uniqueName() })
      yield* store.set("a", "1")
      yield* store.set("b", "2")
      yield* store.get("a")
      yield* store.get("missing")
      yield* store.getString("b")
      assert.isTrue(yield* store.has("a"))
      assert.isFalse(yield* store.has("missing"))
      yield* store.getMany(["a", "missing", "b"])
      yield* store.setMany((function*() {
        yield ["c", "3"] as const
        yield ["d", "4"] as const
        yield ["e", "5"] as const
      })())
      assert.isTrue(yield* store.add("f", "6"))
      assert.isFalse(yield* store.add("f", "7"))
      assert.isTrue(Option.isSome(yield* store.pop("f")))
      assert.isTrue(Option.isNone(yield* store.pop("f")))
      assert.isTrue(yield* store.remove("e"))
      assert.isFalse(yield* store.remove("e"))
      assert.strictEqual(yield* store.removeMany(["c", "d", "missing"]), 2)
      assert.strictEqual(yield* store.increment("n"), 1n)
      assert.strictEqual((yield* Effect.flip(store.getOrFail("missing")))._tag, "KeyNotFound")
      assert.deepStrictEqual(yield* Stream.runCollect(store.keys()).pipe(Effect.map((c) => [...c])), ["a", "b", "n"])

      const snapshot = yield* statistics.snapshot
      const none = {}
      assert.deepStrictEqual(counts(op(snapshot, "set")), {
        calls: 2,
        hits: 0,
        misses: 0,
        writes: 2,
        removes: 0,
        failures: none
      })
      assert.deepStrictEqual(counts(op(snapshot, "get")), {
        calls: 2,
        hits: 1,
        misses: 1,
        writes: 0,
        removes: 0,
        failures: none
      })
      assert.strictEqual(op(snapshot, "getString").hits, 1)
      assert.deepStrictEqual([op(snapshot, "has").hits, op(snapshot, "has").misses], [1, 1])
      assert.deepStrictEqual([op(snapshot, "getMany").hits, op(snapshot, "getMany").misses], [2, 1])
      assert.strictEqual(op(snapshot, "setMany").writes, 3, "a generator batch is counted as the store reads it")
      assert.deepStrictEqual([op(snapshot, "add").calls, op(snapshot, "add").writes], [2, 1])
      assert.deepStrictEqual(counts(op(snapshot, "pop")), {
        calls: 2,
        hits: 1,
        misses: 1,
        writes: 0,
        removes: 1,
        failures: none
      })
      assert.deepStrictEqual([op(snapshot, "remove").calls, op(snapshot, "remove").removes], [2, 1])
      assert.strictEqual(op(snapshot, "removeMany").removes, 2)
      assert.strictEqual(op(snapshot, "increment").writes, 1)
      assert.deepStrictEqual(counts(op(snapshot, "getOrFail")), {
        calls: 1,
        hits: 0,
        misses: 1,
        writes: 0,
        removes: 0,
        failures: { KeyNotFound: 1 }
      })
      assert.strictEqual(op(snapshot, "keys").calls, 1)
      assert.strictEqual(snapshot.operations.clear, undefined, "an operation never called is not listed")
      assert.deepStrictEqual(snapshot.primitives, {})
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("counts failures by tag (scripted backend), and a failed call writes nothing", () =>
    Effect.gen(function*() {
      const { control, store: scripted } = Scripted.make(yield* KeyValueStore.KeyValueStore)
      const { statistics, store } = yield* Statistics.make(scripted, { name: uniqueName() })
      control.script(
        { method: "set", mode: "fail", times: 2 },
        {
          method: "get",
          mode: "fail",
          error: (call) => new KeyValueStoreError.Timeout({ method: call.method, millis: 1 })
        },
        { method: "removePattern", mode: "fail" }
      )
      yield* Effect.flip(store.set("a", "1"))
      yield* Effect.flip(store.set("a", "1"))
      yield* store.set("a", "1")
      yield* Effect.flip(store.get("a"))
      yield* store.get("a")
      yield* Effect.flip(store.removePattern("*"))
      const snapshot = yield* statistics.snapshot
      assert.deepStrictEqual(counts(op(snapshot, "set")), {
        calls: 3,
        hits: 0,
        misses: 0,
        writes: 1,
        removes: 0,
        failures: { BackendError: 2 }
      })
      assert.deepStrictEqual(counts(op(snapshot, "get")), {
        calls: 2,
        hits: 1,
        misses: 0,
        writes: 0,
        removes: 0,
        failures: { Timeout: 1 }
      })
      assert.deepStrictEqual(op(snapshot, "removePattern").failures, { BackendError: 1 })
      assert.strictEqual(op(snapshot, "set").latency.count, 3, "failed calls are timed too")
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("observes the latency measured with the Clock (TestClock-driven)", () =>
    Effect.gen(function*() {
      const name = uniqueName()
      // A tiny delay aspect: `get` sleeps 30 ms, `has` 3 s, on the store's Clock.
      const slow = Wrapper.around<"slow">(yield* KeyValueStore.KeyValueStore, {
        operations: Object.fromEntries(Object.keys(Wrapper.operationShapes).map((k) => [k, "slow"])) as {
          readonly [K in Wrapper.Operation]: "slow"
        },
        primitives: Object.fromEntries(
          Object.entries(Wrapper.primitiveShapes).map(([k, shape]) => [k, shape === "other" ? Wrapper.inherit : "slow"])
        ) as unknown as Wrapper.Policy<"slow">["primitives"],
        effect: (call, self) =>
          call.method === "get"
            ? Effect.zipRight(Effect.sleep("30 millis"), self)
            : call.method === "has"
            ? Effect.zipRight(Effect.sleep("3 seconds"), self)
            : self,
        stream: (_, self) => self
      })
      const { statistics, store } = yield* Statistics.make(slow, { name, boundaries: [10, 50, 1000] })
      for (let i = 0; i < 3; i++) {
        const fiber = yield* Effect.fork(store.get("a"))
        yield* TestClock.adjust("30 millis")
        yield* Fiber.join(fiber)
      }
      const fiber = yield* Effect.fork(store.has("a"))
      yield* TestClock.adjust("3 seconds")
      yield* Fiber.join(fiber)
      yield* store.set("a", "1")

      const snapshot = yield* statistics.snapshot
      const get = op(snapshot, "get").latency
      assert.deepStrictEqual(
        { count: get.count, total: get.totalMillis, min: get.minMillis, max: get.maxMillis, mean: get.meanMillis },
        { count: 3, total: 90, min: 30, max: 30, mean: 30 }
      )
      assert.deepStrictEqual(get.buckets, [[10, 0], [50, 3], [1000, 0], [Infinity, 0]])
      assert.deepStrictEqual([get.p50Millis, get.p99Millis], [30, 30], "bounded by the observed min and max")
      assert.deepStrictEqual(op(snapshot, "has").latency.buckets, [[10, 0], [50, 0], [1000, 0], [Infinity, 1]])
      assert.strictEqual(op(snapshot, "has").latency.p99Millis, 3000)
      assert.deepStrictEqual(op(snapshot, "set").latency.buckets, [[10, 1], [50, 0], [1000, 0], [Infinity, 0]])

      const [histogram] = yield* metricPairs(Statistics.metricNames.latency, { store: name, operation: "get" })
      if (histogram === undefined) return assert.fail("no latency histogram for get")
      const state = histogram.metricState as unknown as {
        readonly count: number
        readonly sum: number
        readonly buckets: ReadonlyArray<readonly [number, number]>
      }
      assert.deepStrictEqual([state.count, state.sum], [3, 90])
      assert.deepStrictEqual(state.buckets.filter(([boundary]) => boundary === 10 || boundary === 50), [[10, 0], [
        50,
        3
      ]])
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("tags its metrics with backend, store, operation and kind (and error for failures)", () =>
    Effect.gen(function*() {
      const name = uniqueName()
      const { control, store: scripted } = Scripted.make(yield* KeyValueStore.KeyValueStore)
      const { store } = yield* Statistics.make(scripted, { name })
      control.script({ method: "has", mode: "fail" })
      yield* store.set("a", "1")
      yield* store.get("a")
      yield* store.get("b")
      yield* Effect.flip(store.has("a"))
      const tags = { backend: "memory", store: name, kind: "operation" }
      assert.strictEqual(yield* counterValue(Statistics.metricNames.calls, { ...tags, operation: "get" }), 2)
      assert.strictEqual(yield* counterValue(Statistics.metricNames.hits, { ...tags, operation: "get" }), 1)
      assert.strictEqual(yield* counterValue(Statistics.metricNames.misses, { ...tags, operation: "get" }), 1)
      assert.strictEqual(yield* counterValue(Statistics.metricNames.writes, { ...tags, operation: "set" }), 1)
      assert.strictEqual(
        yield* counterValue(Statistics.metricNames.failures, { ...tags, operation: "has", error: "BackendError" }),
        1
      )
      const [calls] = yield* metricPairs(Statistics.metricNames.calls, { store: name, operation: "set" })
      if (calls === undefined) return assert.fail("no calls metric for set")
      assert.deepStrictEqual(tagsOf(calls), { backend: "memory", store: name, operation: "set", kind: "operation" })
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("reset clears the snapshot; the metrics keep counting", () =>
    Effect.gen(function*() {
      const name = uniqueName()
      const { statistics, store } = yield* counted({ name })
      yield* store.set("a", "1")
      yield* store.get("a")
      assert.strictEqual(op(yield* statistics.snapshot, "get").calls, 1)
      yield* statistics.reset
      assert.deepStrictEqual((yield* statistics.snapshot).operations, {})
      yield* store.get("a")
      const get = op(yield* statistics.snapshot, "get")
      assert.deepStrictEqual([get.calls, get.hits, get.latency.count], [1, 1, 1])
      assert.strictEqual(yield* counterValue(Statistics.metricNames.calls, { store: name, operation: "get" }), 2)
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("counts two stores with different names apart", () =>
    Effect.gen(function*() {
      const [first, second] = [uniqueName(), uniqueName()]
      const inner = yield* KeyValueStore.KeyValueStore
      const a = yield* Statistics.make(inner, { name: first })
      const b = yield* Statistics.make(inner, { name: second })
      yield* a.store.get("x")
      yield* a.store.get("x")
      yield* b.store.get("x")
      assert.strictEqual(op(yield* a.statistics.snapshot, "get").calls, 2)
      assert.strictEqual(op(yield* b.statistics.snapshot, "get").calls, 1)
      assert.deepStrictEqual([a.statistics.name, b.statistics.name], [first, second])
      assert.strictEqual(yield* counterValue(Statistics.metricNames.calls, { store: first, operation: "get" }), 2)
      assert.strictEqual(yield* counterValue(Statistics.metricNames.calls, { store: second, operation: "get" }), 1)
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("keeps counting a namespace built over its primitives (under the primitives' names)", () =>
    Effect.gen(function*() {
      const name = uniqueName()
      const { statistics, store } = yield* counted({ name })
      const ns = KeyValueStore.prefix(store, "tenant.")
      yield* ns.set("a", "1")
      yield* ns.get("a")
      yield* ns.get("missing")
      yield* ns.increment("n")
      const snapshot = yield* statistics.snapshot
      assert.deepStrictEqual(snapshot.operations, {}, "the namespace calls primitives, not operations")
      assert.deepStrictEqual([snapshot.primitives.set?.calls, snapshot.primitives.set?.writes], [1, 1])
      assert.deepStrictEqual(
        [snapshot.primitives.get?.calls, snapshot.primitives.get?.hits, snapshot.primitives.get?.misses],
        [2, 1, 1]
      )
      assert.strictEqual(snapshot.primitives.modify?.calls, 1, "increment is the primitive modify")
      assert.strictEqual(
        yield* counterValue(Statistics.metricNames.calls, { store: name, operation: "modify", kind: "primitive" }),
        1
      )
      assert.isTrue(Option.isSome(yield* store.get("tenant.a")), "the namespace wrote through the counted store")
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("the layer gives the store and the Statistics service", () =>
    Effect.gen(function*() {
      const store = yield* KeyValueStore.KeyValueStore
      yield* store.set("a", "1")
      yield* store.get("a")
      const snapshot = yield* Statistics.snapshot
      assert.deepStrictEqual([snapshot.name, snapshot.backend], ["layered", "memory"])
      assert.strictEqual(op(snapshot, "get").hits, 1)
      yield* Statistics.reset
      assert.deepStrictEqual((yield* Statistics.snapshot).operations, {})
    }).pipe(Effect.provide(Statistics.layer({ name: "layered" }).pipe(Layer.provide(MemoryStore.layer())))))

  it.effect("refuses bad options with InvalidArgument at build", () =>
    Effect.gen(function*() {
      const bad: ReadonlyArray<readonly [string, unknown]> = [
        ["name", { name: "" }],
        ["name", { name: 42 }],
        ["name", { name: "\ud800" }],
        ["boundaries", { boundaries: [] }],
        ["boundaries", { boundaries: [5, 1] }],
        ["boundaries", { boundaries: [0, 1] }],
        ["boundaries", { boundaries: [1, Infinity] }],
        ["boundaries", { boundaries: "1,2" }],
        ["boundaries", { boundaries: Array.from({ length: 101 }, (_, i) => i + 1) }],
        ["options", 7]
      ]
      for (const [argument, options] of bad) {
        const error = yield* Effect.flip(counted(options as Statistics.Options))
        assert.strictEqual(error._tag, "InvalidArgument", JSON.stringify(options))
        assert.strictEqual(error.argument, argument, JSON.stringify(options))
      }
      const layered = yield* Effect.flip(
        Effect.provide(Statistics.snapshot, Statistics.layer({ name: "" }).pipe(Layer.provide(MemoryStore.layer())))
      )
      assert.strictEqual(layered._tag, "InvalidArgument")
    }).pipe(Effect.provide(MemoryStore.layer())))
})

/** An OpenTelemetry metric reader that only answers `collect` (what an exporter's periodic reader calls). */
class CollectingReader extends MetricReader {
  protected override onShutdown(): Promise<void> {
    return Promise.resolve()
  }
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve()
  }
}

describe("Statistics and OpenTelemetry", () => {
  it.effect("an OpenTelemetry metric reader receives the metrics with their tags", () => {
    const reader = new CollectingReader()
    const otel = Metrics.layer(() => reader).pipe(Layer.provide(Resource.layer({ serviceName: "effect-kv-test" })))
    return Effect.gen(function*() {
      const name = uniqueName()
      const { control, store: scripted } = Scripted.make(yield* KeyValueStore.KeyValueStore)
      const { store } = yield* Statistics.make(scripted, { name })
      control.script({ method: "remove", mode: "fail" })
      yield* store.set("a", "1")
      yield* store.get("a")
      yield* store.get("b")
      yield* Effect.flip(store.remove("a"))

      const { resourceMetrics } = yield* Effect.promise(() => reader.collect())
      assert.strictEqual(resourceMetrics.resource.attributes["service.name"], "effect-kv-test")
      const metrics = resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics)
      const points = (metric: string, operation: string) =>
        metrics
          .filter((m) => m.descriptor.name === metric)
          .flatMap((m) => m.dataPoints as ReadonlyArray<DataPoint<unknown>>)
          .filter((point) => point.attributes.store === name && point.attributes.operation === operation)
      const [calls] = points(Statistics.metricNames.calls, "get")
      if (calls === undefined) return assert.fail("the reader has no effect_kv_calls point for get")
      assert.deepStrictEqual(calls.attributes, { backend: "memory", store: name, operation: "get", kind: "operation" })
      assert.strictEqual(calls.value, 2)
      assert.strictEqual(points(Statistics.metricNames.hits, "get")[0]?.value, 1)
      assert.strictEqual(points(Statistics.metricNames.misses, "get")[0]?.value, 1)
      assert.strictEqual(points(Statistics.metricNames.writes, "set")[0]?.value, 1)
      const [failure] = points(Statistics.metricNames.failures, "remove")
      assert.deepStrictEqual([failure?.attributes.error, failure?.value], ["BackendError", 1])
      const [latency] = points(Statistics.metricNames.latency, "get") as ReadonlyArray<DataPoint<Histogram>>
      if (latency === undefined) return assert.fail("the reader has no latency histogram for get")
      assert.strictEqual(latency.value.count, 2)
      assert.deepStrictEqual(latency.value.buckets.boundaries, [...Statistics.defaultBoundaries])
    }).pipe(Effect.provide(otel), Effect.provide(MemoryStore.layer()))
  })
})
