/**
 * The Batched wrapper: the contract suite through Batched over MemoryStore (both modes) and SqliteStore, then its own
 * cases, each in both modes (`requestBatching` true and false), over a store that records every `getMany` it is
 * given: concurrent reads of separate fibers and of one `Effect.all` become one `getMany` (a sequential `Effect.all`
 * with `batching: true` only with `requestBatching`), results in the right places (hits, misses, expired keys), keys
 * deduplicated, `maxBatchSize` splitting, the `window` under `TestClock`, failures of the batch and of one key,
 * interruption, reads inside transactions, and bad options.
 */
import { assert, beforeEach, describe, it } from "@effect/vitest"
import { Batched, KeyValueStore, MemoryStore, SqliteStore } from "effect-kv"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as Wrapper from "../../src/internal/wrapper.js"
import { freshSqliteLayer } from "../backends/fixtures/temp.js"
import { suite } from "../contract/suite.js"
import { mixedReads } from "./fixtures/batched.js"

suite(
  "MemoryStore through Batched",
  MemoryStore.layer().pipe(KeyValueStore.wrap(Batched.layer())),
  MemoryStore.capabilities
)
suite(
  "MemoryStore through Batched (requestBatching: false)",
  MemoryStore.layer().pipe(KeyValueStore.wrap(Batched.layer({ requestBatching: false }))),
  MemoryStore.capabilities
)
suite(
  "SqliteStore through Batched",
  freshSqliteLayer().pipe(KeyValueStore.wrap(Batched.layer({ maxBatchSize: 7 }))),
  SqliteStore.capabilities
)

const utf8 = new TextEncoder()
const text = (bytes: Option.Option<Uint8Array>): string | undefined =>
  Option.getOrUndefined(Option.map(bytes, (b) => new TextDecoder().decode(b)))

/** A store recording the keys of every `getMany` (and the single reads that reach it), with `getMany` replaceable. */
const recording = (store: KeyValueStore.Service) => {
  const batches: Array<Array<string>> = []
  const singles: Array<string> = []
  let override: ((keys: Array<string>) => Effect.Effect<ReadonlyArray<Option.Option<Uint8Array>>, any>) | undefined
  const recorded = Wrapper.service(store, {
    ...Object.fromEntries(Object.keys(Wrapper.operationShapes).map((name) => [name, Wrapper.inherit])),
    backend: Wrapper.inherit,
    capabilities: Wrapper.inherit,
    separator: Wrapper.inherit,
    primitives: Wrapper.inherit,
    get: (key: string) => Effect.suspend(() => (singles.push(key), store.get(key))),
    getMany: (keys: Iterable<string>) =>
      Effect.suspend(() => {
        const list = Array.from(keys)
        batches.push(list)
        return override === undefined ? store.getMany(list) : override(list)
      })
  } as unknown as Wrapper.ServiceDecisions)
  return {
    store: recorded,
    batches,
    singles,
    setGetMany: (f: typeof override) => {
      override = f
    }
  }
}

// The mode the cases of `describe` run in (both modes run every case).
let requestBatching = true

const setup = (options?: Batched.Options) =>
  Effect.gen(function*() {
    const inner = yield* KeyValueStore.KeyValueStore
    const rec = recording(inner)
    const store = yield* Batched.make(rec.store, { ...options, requestBatching })
    return { ...rec, inner, store }
  })

/** Waits on the real clock: the default window is the rest of the event-loop turn, not a duration. */
const realSleep = (millis: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, millis)))

const memory = (self: Effect.Effect<void, unknown, KeyValueStore.KeyValueStore>) =>
  Effect.provide(self, MemoryStore.layer())

for (const mode of [true, false]) {
  describe(`Batched (requestBatching: ${mode})`, () => {
    beforeEach(() => {
      requestBatching = mode
    })

    for (
      const [name, layer] of [["MemoryStore", MemoryStore.layer()], ["SqliteStore", freshSqliteLayer()]] as const
    ) {
      it.effect(`100 concurrent gets of separate fibers are one getMany, in order (${name})`, () =>
        Effect.gen(function*() {
          const { batches, inner, store } = yield* setup()
          // hits, misses and expired keys mixed
          for (let i = 0; i < 100; i++) {
            if (i % 3 === 0) yield* inner.set(`k${i}`, `v${i}`)
            if (i % 3 === 1) yield* inner.set(`k${i}`, `gone${i}`, { ttl: "1 second" })
          }
          yield* TestClock.adjust("2 seconds")
          const keys = Array.from({ length: 100 }, (_, i) => `k${i}`)
          const fibers = yield* Effect.forEach(keys, (key) => Effect.fork(store.get(key)))
          const results = yield* Fiber.joinAll(fibers)
          assert.strictEqual(batches.length, 1)
          assert.deepStrictEqual(batches[0], keys)
          results.forEach((found, i) => assert.strictEqual(text(found), i % 3 === 0 ? `v${i}` : undefined, `k${i}`))
        }).pipe(Effect.provide(layer)))
    }

    it.effect("the reads of one sequential Effect.all with batching are one getMany (with requestBatching)", () =>
      memory(Effect.gen(function*() {
        const { batches, inner, store } = yield* setup()
        yield* inner.set("a", "1")
        yield* inner.set("c", "3")
        const results = yield* Effect.all([store.get("a"), store.get("b"), store.get("c")], { batching: true })
        assert.deepStrictEqual(results.map(text), ["1", undefined, "3"])
        assert.deepStrictEqual(batches, mode ? [["a", "b", "c"]] : [["a"], ["b"], ["c"]])
        batches.length = 0
        const forEach = yield* Effect.forEach(["c", "a"], (key) => store.getString(key), { batching: true })
        assert.deepStrictEqual(forEach, [Option.some("3"), Option.some("1")])
        assert.deepStrictEqual(batches, mode ? [["c", "a"]] : [["c"], ["a"]])
        batches.length = 0
        // concurrent: one batch in both modes
        yield* Effect.all([store.get("a"), store.get("b")], { batching: true, concurrency: "unbounded" })
        assert.deepStrictEqual(batches, [["a", "b"]])
      })))

    it.effect("getString, getOrFail and has join the same batch; a miss of getOrFail is KeyNotFound", () =>
      memory(Effect.gen(function*() {
        const { batches, inner, store } = yield* setup()
        yield* inner.set("a", "héllo")
        const [s, o, h, n, missing] = yield* Effect.all([
          store.getString("a"),
          store.getOrFail("a"),
          store.has("a"),
          store.has("b"),
          Effect.flip(store.getOrFail("c"))
        ], { concurrency: "unbounded" })
        assert.deepStrictEqual(s, Option.some("héllo"))
        assert.deepStrictEqual(o, utf8.encode("héllo"))
        assert.isTrue(h)
        assert.isFalse(n)
        assert.strictEqual(missing._tag, "KeyNotFound")
        assert.strictEqual(missing.method, "getOrFail")
        assert.strictEqual(missing.key, "c")
        assert.deepStrictEqual(batches, [["a", "b", "c"]])
      })))

    it.effect("a key read by many callers is read once, each caller with its own bytes", () =>
      memory(Effect.gen(function*() {
        const { batches, inner, store } = yield* setup()
        yield* inner.set("a", "1")
        const results = yield* Effect.all(Array.from({ length: 10 }, (_, i) => store.get(i % 2 === 0 ? "a" : "b")), {
          concurrency: "unbounded"
        })
        assert.deepStrictEqual(batches, [["a", "b"]])
        const hits = results.filter(Option.isSome).map((found) => found.value)
        assert.strictEqual(hits.length, 5)
        assert.strictEqual(new Set(hits).size, 5)
        hits[0]![0] = 0
        assert.deepStrictEqual(hits.slice(1).map((bytes) => bytes[0]), [49, 49, 49, 49])
      })))

    it.effect("maxBatchSize splits a larger gathering", () =>
      memory(Effect.gen(function*() {
        const { batches, store } = yield* setup({ maxBatchSize: 25 })
        const keys = Array.from({ length: 100 }, (_, i) => `k${i}`)
        yield* Effect.forEach(keys, store.get, { concurrency: "unbounded" })
        assert.deepStrictEqual(batches.map((batch) => batch.length), [25, 25, 25, 25])
        assert.deepStrictEqual(batches.flat(), keys)
      })))

    it.effect("a window gathers reads until it ends on the Clock", () =>
      memory(Effect.gen(function*() {
        const { batches, store } = yield* setup({ window: "10 millis" })
        const first = yield* Effect.fork(store.get("a"))
        yield* TestClock.adjust("5 millis")
        const second = yield* Effect.fork(store.get("b"))
        yield* Effect.yieldNow()
        assert.deepStrictEqual(batches, [])
        yield* TestClock.adjust("5 millis")
        yield* Fiber.joinAll([first, second])
        assert.deepStrictEqual(batches, [["a", "b"]])
      })))

    it.effect("a failed getMany fails every request of the batch, each under its own method and key", () =>
      memory(Effect.gen(function*() {
        const { setGetMany, store } = yield* setup()
        const { BackendError } = yield* Effect.promise(() => import("../../src/KeyValueStoreError.js"))
        setGetMany(() =>
          Effect.fail(new BackendError({ method: "getMany", backend: "test", cause: new Error("down") }))
        )
        const errors = yield* Effect.all([
          Effect.flip(store.get("a")),
          Effect.flip(store.has("b")),
          Effect.flip(store.getString("c"))
        ], { concurrency: "unbounded" })
        assert.deepStrictEqual(errors.map((e) => [e._tag, e.method, e.key]), [
          ["BackendError", "get", "a"],
          ["BackendError", "has", "b"],
          ["BackendError", "getString", "c"]
        ])
        assert.include(errors[0]!.message, "down")
      })))

    it.effect("an invalid key fails only its own request, without the batch", () =>
      memory(Effect.gen(function*() {
        const { batches, inner, store } = yield* setup()
        yield* inner.set("a", "1")
        const [a, bad, b] = yield* Effect.all([
          store.get("a"),
          Effect.flip(store.get("")),
          store.get("b")
        ], { concurrency: "unbounded" })
        assert.strictEqual(text(a), "1")
        assert.isTrue(Option.isNone(b))
        assert.strictEqual(bad._tag, "InvalidKey")
        assert.strictEqual(bad.method, "get")
        assert.deepStrictEqual(batches, [["a", "b"]])
      })))

    it.effect("a key the engine refuses inside a batch fails alone; the rest is read again", () =>
      memory(Effect.gen(function*() {
        const { batches, inner, setGetMany, store } = yield* setup()
        const { InvalidKey } = yield* Effect.promise(() => import("../../src/KeyValueStoreError.js"))
        yield* inner.set("a", "1")
        setGetMany((keys) =>
          keys.includes("long")
            ? Effect.fail(new InvalidKey({ method: "getMany", key: "long", reason: "too long for the column" }))
            : inner.getMany(keys)
        )
        const [a, bad, b] = yield* Effect.all([
          store.get("a"),
          Effect.flip(store.getOrFail("long")),
          store.get("b")
        ], { concurrency: "unbounded" })
        assert.strictEqual(text(a), "1")
        assert.isTrue(Option.isNone(b))
        assert.deepStrictEqual([bad._tag, bad.method, bad.key], ["InvalidKey", "getOrFail", "long"])
        assert.deepStrictEqual(batches, [["a", "long", "b"], ["a", "b"]])
      })))

    it.effect("an interrupted caller leaves the batch; the others get their results", () =>
      memory(Effect.gen(function*() {
        const { batches, inner, store } = yield* setup({ window: "10 millis" })
        yield* inner.set("a", "1")
        yield* inner.set("b", "2")
        const a = yield* Effect.fork(store.get("a"))
        const b = yield* Effect.fork(store.get("b"))
        // both requests have joined the pending batch (the window is on the TestClock and does not end meanwhile)
        yield* realSleep(10)
        yield* Fiber.interrupt(a)
        yield* TestClock.adjust("10 millis")
        assert.strictEqual(text(yield* Fiber.join(b)), "2")
        assert.deepStrictEqual(batches, [["b"]])
      })))

    it.effect("a running batch whose callers all left is interrupted; one caller leaving does not break it", () =>
      memory(Effect.gen(function*() {
        const { inner, setGetMany, store } = yield* setup()
        const gate = yield* Deferred.make<void>()
        let interrupted = 0
        setGetMany((keys) =>
          Effect.zipRight(Deferred.await(gate), inner.getMany(keys)).pipe(
            Effect.onInterrupt(() => Effect.sync(() => interrupted++))
          )
        )
        yield* inner.set("a", "1")
        // one batch, two callers: one leaves while it runs, the other still gets its result
        const first = yield* Effect.fork(store.get("a"))
        const second = yield* Effect.fork(store.get("a"))
        yield* realSleep(20)
        yield* Fiber.interrupt(first)
        yield* Deferred.succeed(gate, undefined)
        assert.strictEqual(text(yield* Fiber.join(second)), "1")
        assert.strictEqual(interrupted, 0)
        // a batch whose every caller leaves is interrupted
        const stuck = yield* Deferred.make<void>()
        setGetMany((keys) =>
          Effect.zipRight(Deferred.await(stuck), inner.getMany(keys)).pipe(
            Effect.onInterrupt(() => Effect.sync(() => interrupted++))
          )
        )
        const third = yield* Effect.fork(store.get("b"))
        yield* realSleep(20)
        yield* Fiber.interrupt(third)
        yield* realSleep(20)
        assert.strictEqual(interrupted, 1)
      })))

    for (
      const [name, layer] of [["MemoryStore", MemoryStore.layer()], ["SqliteStore", freshSqliteLayer()]] as const
    ) {
      it.effect(`reads inside a transaction see its writes and go straight to the store (${name})`, () =>
        Effect.gen(function*() {
          const { batches, inner, singles, store } = yield* setup()
          yield* inner.set("a", "before")
          const inside = yield* store.withTransaction(Effect.gen(function*() {
            yield* store.set("a", "inside")
            yield* store.set("b", "new")
            return yield* Effect.all([store.get("a"), store.getString("b"), store.has("b")], { batching: true })
          }))
          assert.deepStrictEqual([text(inside[0]), inside[1], inside[2]], ["inside", Option.some("new"), true])
          assert.deepStrictEqual(batches, [])
          assert.deepStrictEqual(singles, ["a"])
          // a reader outside the region waits for it (batched) and sees what it committed
          const region = yield* Effect.fork(store.withTransaction(Effect.gen(function*() {
            yield* store.set("c", "committed")
            yield* realSleep(30)
          })))
          yield* realSleep(5)
          const outside = yield* Effect.all([store.get("c"), store.get("a")], { concurrency: "unbounded" })
          yield* Fiber.join(region)
          assert.deepStrictEqual(outside.map(text), ["committed", "inside"])
          assert.deepStrictEqual(batches, [["c", "a"]])
        }).pipe(Effect.provide(layer)))

      for (const outsideFirst of [false, true]) {
        it.effect(
          `a read outside a region and one inside it in the same tick never share a batch (${name}, ${
            outsideFirst ? "outside" : "inside"
          } first)`,
          () =>
            Effect.gen(function*() {
              const { store } = yield* setup()
              yield* store.set("a", "before")
              const [inside, outside] = yield* mixedReads(store, store.withTransaction, outsideFirst)
              assert.strictEqual(text(inside), "inside")
              assert.strictEqual(text(outside), "before", "the outside reader saw the region's rolled-back write")
            }).pipe(Effect.provide(layer)),
          5_000
        )
      }
    }

    it.effect("KeyValueStore.batched batches with the defaults; other operations pass through", () =>
      memory(Effect.gen(function*() {
        const inner = yield* KeyValueStore.KeyValueStore
        const rec = recording(inner)
        const store = KeyValueStore.batched(rec.store)
        yield* store.set("a", "1", { ttl: "1 minute", tags: ["t"] })
        const [a, b] = yield* Effect.all([store.get("a"), store.get("b")], { concurrency: "unbounded" })
        assert.deepStrictEqual([text(a), text(b)], ["1", undefined])
        assert.deepStrictEqual(rec.batches, [["a", "b"]])
        const entry = yield* store.getEntry("a")
        assert.deepStrictEqual(Option.map(entry, (e) => e.tags), Option.some(["t"]))
        assert.deepStrictEqual(yield* store.getMany(["a", "b"]), [Option.some(utf8.encode("1")), Option.none()])
        assert.strictEqual(yield* store.size, 1)
        assert.strictEqual(rec.batches.length, 2)
      })))

    it.effect("bad options fail with InvalidArgument", () =>
      memory(Effect.gen(function*() {
        const inner = yield* KeyValueStore.KeyValueStore
        for (
          const options of [
            { maxBatchSize: 0 },
            { maxBatchSize: 1.5 },
            { maxBatchSize: 100_001 },
            { window: -1 },
            { window: "forever" },
            { window: Infinity },
            { batchSize: 3 },
            { requestBatching: "yes" }
          ]
        ) {
          const error = yield* Effect.flip(Batched.make(inner, options as Batched.Options))
          assert.strictEqual(error._tag, "InvalidArgument", JSON.stringify(options))
        }
        const error = yield* Layer.build(Batched.layer({ maxBatchSize: -1 }).pipe(Layer.provide(MemoryStore.layer())))
          .pipe(Effect.scoped, Effect.flip)
        assert.strictEqual(error._tag, "InvalidArgument")
      })))
  })
}
