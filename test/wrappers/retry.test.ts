/**
 * The Retry wrapper: the contract suite through an inert Retry (MemoryStore and SqliteStore), then its own cases on the
 * scripted backend under `TestClock`: retries up to the schedule's limit, never for non-availability errors, never
 * after an ambiguous failure of a non-repeatable operation unless asked (and the store shows the first attempt was
 * applied), `Busy` retried for every operation, streams resumed mid-way without duplicates or gaps, a namespace over
 * the Retry store keeping the policy, locks and regions never re-running a user's effect, no retries inside a
 * transaction, the attempts recorded on a span, bad options, options from `Config`, and Timeout inside Retry.
 */
import { assert, describe, it } from "@effect/vitest"
import { KeyValueStore, KeyValueStoreError, MemoryStore, Retry, SqliteStore, Timeout } from "effect-kv"
import * as Chunk from "effect/Chunk"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as Tracer from "effect/Tracer"
import * as Wrapper from "../../src/internal/wrapper.js"
import { freshSqliteLayer } from "../backends/fixtures/temp.js"
import { suite } from "../contract/suite.js"
import * as Scripted from "./fixtures/scripted.js"

suite(
  "MemoryStore through Retry",
  MemoryStore.layer().pipe(KeyValueStore.wrap(Retry.layer())),
  MemoryStore.capabilities
)
suite("SqliteStore through Retry", freshSqliteLayer().pipe(KeyValueStore.wrap(Retry.layer())), SqliteStore.capabilities)

/** A Retry store over a scripted MemoryStore; `derived`: the scripted store seen through `make` over its primitives. */
const setup = (options?: Retry.Options, derived = false) =>
  Effect.gen(function*() {
    const { control, store: scripted } = Scripted.make(yield* KeyValueStore.KeyValueStore)
    const afters: Array<string | undefined> = []
    const inner = derived ? KeyValueStore.make(recordingScans(scripted.primitives, afters)) : scripted
    const store = yield* Retry.make(inner, options)
    return { afters, control, store, inner }
  })

/** `p` recording the cursor (`after`) of every scan page it is asked for. */
const recordingScans = (p: KeyValueStore.Primitives, afters: Array<string | undefined>) => {
  const decisions = Object.fromEntries(
    Object.keys(Wrapper.primitiveShapes).map((name) => [name, Wrapper.inherit])
  ) as unknown as Record<string, unknown>
  decisions.scanKeys = (
    range: KeyValueStore.ScanRange,
    now: number
  ) => (afters.push(range.after), p.scanKeys!(range, now))
  decisions.scanEntries = (range: KeyValueStore.ScanRange, now: number) => (
    afters.push(range.after), p.scanEntries!(range, now)
  )
  return Wrapper.mapPrimitives(p, decisions as unknown as Wrapper.PrimitiveDecisions)
}

/** Runs `self` while the test clock moves far past every wait of the default schedule. */
const settle = <A, E, R>(self: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(self)
    yield* TestClock.adjust("1 minute")
    return yield* Fiber.join(fiber)
  })

const outcomes = (control: Scripted.Control, method: string) => control.callsOf(method).map((call) => call.outcome)

const fails = (error: KeyValueStoreError.KeyValueStoreError) => () => error

describe("Retry: what is retried", () => {
  it.effect("an availability failure is retried up to the schedule's limit (3 by default)", () =>
    Effect.gen(function*() {
      const { control, store } = yield* setup()
      yield* store.set("a", "1")
      control.script({ method: "get", mode: "fail", times: 3 })
      assert.deepStrictEqual(yield* settle(store.getString("a")), Option.some("1"), "getString is not get")
      control.reset()
      control.script({ method: "getString", mode: "fail", times: 3 })
      assert.deepStrictEqual(yield* settle(store.getString("a")), Option.some("1"))
      assert.deepStrictEqual(outcomes(control, "getString"), ["fail", "fail", "fail", "passed"])
      control.reset()
      control.script({ method: "getString", mode: "fail", times: 4 })
      const error = yield* settle(Effect.flip(store.getString("a")))
      assert.strictEqual(error._tag, "BackendError")
      assert.deepStrictEqual(outcomes(control, "getString"), ["fail", "fail", "fail", "fail"])
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("Busy and Timeout are retried like BackendError; the schedule option sets the limit", () =>
    Effect.gen(function*() {
      const { control, store } = yield* setup({ schedule: Schedule.recurs(5) })
      control.script(
        {
          method: "set",
          mode: "fail",
          times: 2,
          error: fails(new KeyValueStoreError.Busy({ method: "set", backend: "x" }))
        },
        {
          method: "set",
          mode: "fail",
          times: 3,
          error: fails(new KeyValueStoreError.Timeout({ method: "set", millis: 1 }))
        }
      )
      yield* settle(store.set("a", "1"))
      assert.deepStrictEqual(outcomes(control, "set"), ["fail", "fail", "fail", "fail", "fail", "passed"])
      assert.deepStrictEqual(yield* store.getString("a"), Option.some("1"))
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("bad input, decoding and contract errors are not retried", () =>
    Effect.gen(function*() {
      const { control, store } = yield* setup()
      const errors: ReadonlyArray<KeyValueStoreError.KeyValueStoreError> = [
        new KeyValueStoreError.InvalidKey({ method: "get", key: "k", reason: "r" }),
        new KeyValueStoreError.InvalidArgument({ method: "get", argument: "a", reason: "r" }),
        new KeyValueStoreError.ValueTooLarge({ method: "get", size: 2, limit: 1 }),
        new KeyValueStoreError.NotANumber({ method: "get" }),
        new KeyValueStoreError.DecodeError({ method: "get", issue: "i" }),
        new KeyValueStoreError.LockLost({ method: "get", name: "l" }),
        new KeyValueStoreError.LockTimeout({ method: "get", name: "l" }),
        new KeyValueStoreError.Unsupported({ method: "get", backend: "x" }),
        new KeyValueStoreError.KeyNotFound({ method: "get", key: "k" }),
        new KeyValueStoreError.StoreFull({ method: "get", backend: "x", limit: "maxEntries", max: 1 }),
        new KeyValueStoreError.ReadOnlyViolation({ method: "get" })
      ]
      for (const error of errors) {
        control.reset()
        control.script({ method: "get", mode: "fail", times: 2, error: fails(error) })
        const failed = yield* settle(Effect.flip(store.get("k")))
        assert.strictEqual(failed._tag, error._tag)
        assert.deepStrictEqual(outcomes(control, "get"), ["fail"], error._tag)
      }
      control.reset()
      assert.strictEqual((yield* settle(Effect.flip(store.getOrFail("missing"))))._tag, "KeyNotFound")
      assert.strictEqual(control.callsOf("getOrFail").length, 1)
    }).pipe(Effect.provide(MemoryStore.layer())))
})

describe("Retry: ambiguous failures", () => {
  it.effect("a non-repeatable operation is not retried after an ambiguous failure; the store shows it applied once", () =>
    Effect.gen(function*() {
      const { control, inner, store } = yield* setup()
      control.script({ method: "increment", mode: "failAfter" })
      assert.strictEqual((yield* settle(Effect.flip(store.increment("n"))))._tag, "BackendError")
      assert.deepStrictEqual(outcomes(control, "increment"), ["failAfter"])
      assert.deepStrictEqual(yield* inner.getString("n"), Option.some("1"))
      control.script({
        method: "append",
        mode: "failAfter",
        error: fails(new KeyValueStoreError.Timeout({ method: "append", key: "s", millis: 5 }))
      })
      assert.strictEqual((yield* settle(Effect.flip(store.append("s", "x"))))._tag, "Timeout")
      assert.deepStrictEqual(yield* inner.getString("s"), Option.some("x"))
      for (const method of ["add", "pop", "compareAndSwap", "update", "decrement"] as const) {
        control.reset()
        control.script({ method, mode: "fail" })
        const run: Effect.Effect<unknown, KeyValueStoreError.KeyValueStoreError> = {
          add: Effect.asVoid(store.add("x", "1")),
          pop: Effect.asVoid(store.pop("x")),
          compareAndSwap: Effect.asVoid(store.compareAndSwap("x", Option.none(), Option.some("1"))),
          update: Effect.asVoid(store.update("x", () => Option.some("1"))),
          decrement: Effect.asVoid(store.decrement("x"))
        }[method]
        assert.strictEqual((yield* settle(Effect.flip(run)))._tag, "BackendError", method)
        assert.strictEqual(control.callsOf(method).length, 1, method)
      }
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("a repeatable operation is retried after an ambiguous failure", () =>
    Effect.gen(function*() {
      const { control, inner, store } = yield* setup()
      control.script({ method: "set", mode: "failAfter" })
      yield* settle(store.set("a", "1"))
      assert.deepStrictEqual(outcomes(control, "set"), ["failAfter", "passed"])
      assert.deepStrictEqual(yield* inner.getString("a"), Option.some("1"))
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("with retryAmbiguous: true it is retried, and may apply twice", () =>
    Effect.gen(function*() {
      const { control, inner, store } = yield* setup({ retryAmbiguous: true })
      control.script({ method: "increment", mode: "failAfter" })
      assert.strictEqual(yield* settle(store.increment("n")), 2n)
      assert.deepStrictEqual(outcomes(control, "increment"), ["failAfter", "passed"])
      assert.deepStrictEqual(yield* inner.getString("n"), Option.some("2"))
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("Busy is retried even for increment (the engine refused before applying)", () =>
    Effect.gen(function*() {
      const { control, inner, store } = yield* setup()
      control.script({
        method: "increment",
        mode: "fail",
        times: 2,
        error: fails(new KeyValueStoreError.Busy({ method: "increment", key: "n", backend: "sqlite" }))
      })
      assert.strictEqual(yield* settle(store.increment("n")), 1n)
      assert.deepStrictEqual(outcomes(control, "increment"), ["fail", "fail", "passed"])
      assert.deepStrictEqual(yield* inner.getString("n"), Option.some("1"))
    }).pipe(Effect.provide(MemoryStore.layer())))
})

describe("Retry: streams", () => {
  const keys = Array.from({ length: 2500 }, (_, i) => `k${String(i).padStart(4, "0")}`)

  it.effect("keys resumes after the last key it delivered: no duplicate, no gap", () =>
    Effect.gen(function*() {
      const { afters, control, inner, store } = yield* setup(undefined, true)
      yield* inner.setMany(keys.map((key) => [key, "v"] as const))
      control.reset()
      control.script(
        { method: (call) => call.method === "scanKeys" && scanAfter(call) !== undefined, mode: "fail", times: 2 }
      )
      const seen = Chunk.toReadonlyArray(yield* settle(Stream.runCollect(store.keys())))
      assert.deepStrictEqual(seen, keys)
      assert.deepStrictEqual(outcomes(control, "scanKeys"), ["passed", "fail", "fail", "passed", "passed"])
      assert.deepStrictEqual(afters, [undefined, "k0999", "k0999", "k0999", "k1999"])
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("entries and getPattern resume too; a failure before the first page restarts", () =>
    Effect.gen(function*() {
      const { afters, control, inner, store } = yield* setup(undefined, true)
      yield* inner.setMany(keys.slice(0, 250).map((key) => [key, key] as const))
      control.reset()
      control.script(
        { method: "scanEntries", mode: "fail" },
        { method: (call) => call.method === "scanEntries" && scanAfter(call) === "k0199", mode: "fail" }
      )
      const entries = Chunk.toReadonlyArray(yield* settle(Stream.runCollect(store.entries())))
      assert.deepStrictEqual(entries.map(([key]) => key), keys.slice(0, 250))
      assert.deepStrictEqual(outcomes(control, "scanEntries"), ["fail", "passed", "passed", "fail", "passed"])
      control.reset()
      control.script({ method: (call) => call.method === "scanEntries" && scanAfter(call) === "k0199", mode: "fail" })
      const matched = Chunk.toReadonlyArray(yield* settle(Stream.runCollect(store.getPattern("k01*"))))
      assert.deepStrictEqual(matched.map(([key]) => key), keys.slice(100, 200))
      assert.deepStrictEqual(outcomes(control, "scanEntries"), ["passed", "fail", "passed"])
      assert.deepStrictEqual(afters.slice(-3), [undefined, "k0199", "k0199"])
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("a stream failing on every page gives up after the schedule's retries", () =>
    Effect.gen(function*() {
      const { control, inner, store } = yield* setup(undefined, true)
      yield* inner.setMany(keys.map((key) => [key, "v"] as const))
      control.reset()
      control.script({
        method: (call) => call.method === "scanKeys" && scanAfter(call) !== undefined,
        mode: "fail",
        times: Infinity
      })
      const error = yield* settle(Effect.flip(Stream.runDrain(store.keys())))
      assert.strictEqual(error._tag, "BackendError")
      assert.deepStrictEqual(outcomes(control, "scanKeys"), ["passed", "fail", "fail", "fail", "fail"])
    }).pipe(Effect.provide(MemoryStore.layer())))
})

const scanAfter = (call: Wrapper.Call<"scripted">): string | undefined =>
  (call.args[0] as KeyValueStore.ScanRange).after

describe("Retry: namespaces, locks and regions", () => {
  it.effect("a namespace over the Retry store keeps the policy", () =>
    Effect.gen(function*() {
      const { control, inner, store } = yield* setup()
      const ns = KeyValueStore.prefix(store, "ns.")
      control.script({ method: "set", mode: "fail", times: 2 })
      yield* settle(ns.set("a", "1"))
      assert.deepStrictEqual(control.callsOf("set").map((call) => [call.primitive, call.outcome]), [
        [true, "fail"],
        [true, "fail"],
        [true, "passed"]
      ])
      assert.deepStrictEqual(yield* inner.getString("ns.a"), Option.some("1"))
      control.script({ method: "modify", mode: "failAfter" })
      assert.strictEqual((yield* settle(Effect.flip(ns.increment("n"))))._tag, "BackendError")
      assert.deepStrictEqual(outcomes(control, "modify"), ["failAfter"])
      assert.deepStrictEqual(yield* inner.getString("ns.n"), Option.some("1"))
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("lock is retried on an availability failure, never on LockTimeout", () =>
    Effect.gen(function*() {
      const { control, inner, store } = yield* setup()
      control.script({ method: "lock", mode: "failAfter" })
      const options = { ttl: "10 seconds", holders: 2 } as const
      const scope = yield* Scope.make()
      const fiber = yield* Effect.fork(Scope.extend(store.lock("L", options), scope))
      yield* TestClock.adjust("100 millis")
      assert.strictEqual((yield* Fiber.join(fiber)).name, "L")
      // The slot the failed attempt took was released: with two holders, another one fits beside this lock.
      const other = yield* Effect.exit(Effect.scoped(inner.lock("L", { ...options, timeout: 0 })))
      yield* Scope.close(scope, Exit.void)
      assert.isTrue(Exit.isSuccess(other), "the failed attempt's slot is still taken")
      assert.deepStrictEqual(outcomes(control, "lock"), ["failAfter", "passed", "passed"])
      control.reset()
      control.script({
        method: "lock",
        mode: "fail",
        times: 2,
        error: fails(new KeyValueStoreError.LockTimeout({ method: "lock", name: "L" }))
      })
      assert.strictEqual((yield* settle(Effect.flip(Effect.scoped(store.lock("L")))))._tag, "LockTimeout")
      assert.deepStrictEqual(outcomes(control, "lock"), ["fail"])
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("withLock and withTransaction retry a failure before the effect started, never re-run the effect", () =>
    Effect.gen(function*() {
      const { control, store } = yield* setup()
      let runs = 0
      const effect = Effect.sync(() => ++runs)
      control.script({ method: "withLock", mode: "fail" }, { method: "withTransaction", mode: "fail" })
      assert.strictEqual(yield* settle(store.withLock("L", {})(effect)), 1)
      assert.strictEqual(yield* settle(store.withTransaction(effect)), 2)
      assert.deepStrictEqual(outcomes(control, "withLock"), ["fail", "passed"])
      assert.deepStrictEqual(outcomes(control, "withTransaction"), ["fail", "passed"])
      control.reset()
      control.script({ method: "withLock", mode: "failAfter" }, { method: "withTransaction", mode: "failAfter" })
      assert.strictEqual((yield* settle(Effect.flip(store.withLock("L", {})(effect))))._tag, "BackendError")
      assert.strictEqual((yield* settle(Effect.flip(store.withTransaction(effect))))._tag, "BackendError")
      assert.strictEqual(runs, 4)
      assert.deepStrictEqual(outcomes(control, "withLock"), ["failAfter"])
      assert.deepStrictEqual(outcomes(control, "withTransaction"), ["failAfter"])
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("nothing is retried inside a transaction region", () =>
    Effect.gen(function*() {
      const { control, store } = yield* setup()
      control.script({ method: "set", mode: "fail", times: 2 })
      const error = yield* settle(Effect.flip(store.withTransaction(store.set("a", "1"))))
      assert.strictEqual(error._tag, "BackendError")
      assert.deepStrictEqual(outcomes(control, "set"), ["fail"])
      control.reset()
      control.script({ method: "set", mode: "fail", times: 2 })
      const scoped = yield* settle(Effect.flip(Effect.scoped(Effect.zipRight(store.transaction, store.set("a", "1")))))
      assert.strictEqual(scoped._tag, "BackendError")
      assert.deepStrictEqual(outcomes(control, "set"), ["fail"])
      control.reset()
      control.script({ method: "set", mode: "fail" })
      yield* settle(store.set("a", "1"))
      assert.deepStrictEqual(outcomes(control, "set"), ["fail", "passed"], "retried again once the region ended")
    }).pipe(Effect.provide(MemoryStore.layer())))
})

/** A tracer that keeps every span's name and attributes. */
const recordingTracer = (spans: Array<{ readonly name: string; readonly attributes: Map<string, unknown> }>) =>
  Tracer.make({
    span: (name, parent, context, links, startTime, kind) => {
      const attributes = new Map<string, unknown>()
      spans.push({ name, attributes })
      const span: Tracer.Span = {
        _tag: "Span",
        name,
        spanId: `span-${spans.length}`,
        traceId: "trace",
        parent,
        context,
        status: { _tag: "Started", startTime },
        attributes,
        links: [...links],
        sampled: true,
        kind,
        end: () => {},
        attribute: (key, value) => void attributes.set(key, value),
        event: () => {},
        addLinks: () => {}
      }
      return span
    },
    context: (f) => f()
  })

describe("Retry: spans, options, composition", () => {
  it.effect("the retries of an operation are recorded on a span with their number of attempts", () =>
    Effect.gen(function*() {
      const spans: Array<{ readonly name: string; readonly attributes: Map<string, unknown> }> = []
      const { control, store } = yield* setup()
      control.script({ method: "get", mode: "fail", times: 2 })
      yield* settle(store.get("a")).pipe(Effect.withTracer(recordingTracer(spans)))
      const retries = spans.filter((span) => span.name === "effect-kv.retry")
      assert.strictEqual(retries.length, 1)
      assert.strictEqual(retries[0]!.attributes.get("kv.attempts"), 3)
      assert.strictEqual(retries[0]!.attributes.get("kv.method"), "get")
      assert.strictEqual(retries[0]!.attributes.get("kv.key"), "a")
      spans.length = 0
      yield* store.get("a").pipe(Effect.withTracer(recordingTracer(spans)))
      assert.isFalse(spans.some((span) => span.name === "effect-kv.retry"), "a span without a retry")
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.effect("invalid options fail with InvalidArgument at build", () =>
    Effect.gen(function*() {
      const store = yield* KeyValueStore.KeyValueStore
      const invalid: ReadonlyArray<unknown> = [
        { retries: -1 },
        { retries: 1.5 },
        { retries: Number.NaN },
        { delay: "-5 millis" },
        { delay: 0 },
        { delay: Number.NaN },
        { schedule: "often" },
        { schedule: Schedule.recurs(1), retries: 2 },
        { retryAmbiguous: "yes" },
        { retryAmbigous: true },
        "3 times"
      ]
      for (const options of invalid) {
        const error = yield* Effect.flip(Retry.make(store, options as Retry.Options))
        assert.strictEqual(error._tag, "InvalidArgument", JSON.stringify(options))
      }
      const built = yield* Effect.flip(
        Layer.build(Retry.layer({ retries: -1 }).pipe(Layer.provide(MemoryStore.layer())))
      )
      assert.strictEqual(built._tag, "InvalidArgument")
    }).pipe(Effect.scoped, Effect.provide(MemoryStore.layer())))

  it.effect("layerConfig reads its options from Config", () =>
    Effect.gen(function*() {
      let control: Scripted.Control | undefined
      const layer = Scripted.layer(MemoryStore.layer(), (c) => control = c).pipe(
        KeyValueStore.wrap(Retry.layerConfig({ retries: Config.integer("RETRIES") }))
      )
      const context = yield* Layer.build(layer).pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["RETRIES", "1"]])))
      )
      const store = Context.get(context, KeyValueStore.KeyValueStore)
      control!.script({ method: "get", mode: "fail", times: 2 })
      assert.strictEqual((yield* settle(Effect.flip(store.get("a"))))._tag, "BackendError")
      assert.deepStrictEqual(outcomes(control!, "get"), ["fail", "fail"])
    }).pipe(Effect.scoped))

  it.effect("Timeout inside Retry bounds each attempt: a hanging first attempt times out, the retry succeeds", () =>
    Effect.gen(function*() {
      const { control, store: scripted } = Scripted.make(yield* KeyValueStore.KeyValueStore)
      const store = yield* Retry.make(yield* Timeout.make(scripted, "1 second"))
      yield* scripted.set("a", "1")
      control.script({ method: "getString", mode: "hang" })
      assert.deepStrictEqual(yield* settle(store.getString("a")), Option.some("1"))
      assert.deepStrictEqual(outcomes(control, "getString"), ["hang", "passed"])
    }).pipe(Effect.provide(MemoryStore.layer())))
})
