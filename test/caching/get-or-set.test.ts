/**
 * `getOrSet` on `KeyValueStore` and `TypedStore`: hits, misses written with the write options, failures (of the
 * computation, of the read, of the write, of a decode), option checks before anything runs, the reserved lease names,
 * and single flight in the process (one computation shared by concurrent callers, interruption, failures).
 */
import { assert, describe, it } from "@effect/vitest"
import { KeyValueStore, MemoryStore, TypedStore } from "effect-kv"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import * as Scripted from "../wrappers/fixtures/scripted.js"

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes)

const withStore = <A, E>(f: (store: KeyValueStore.Service) => Effect.Effect<A, E>) =>
  Effect.flatMap(KeyValueStore.KeyValueStore, f).pipe(Effect.provide(MemoryStore.layer()))

/** A computation that counts its runs and returns `v<n>`. */
const counter = () => {
  let runs = 0
  return {
    get runs() {
      return runs
    },
    compute: Effect.sync(() => `v${++runs}`)
  }
}

describe("getOrSet: semantics", () => {
  it.effect("a live value is returned without computing", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const c = counter()
        yield* store.set("k", "stored")
        assert.strictEqual(text(yield* store.getOrSet("k", c.compute)), "stored")
        assert.strictEqual(c.runs, 0)
      })
    ))

  it.effect("a miss computes, writes with ttl, tags and metadata, and returns the value", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const c = counter()
        const options = { ttl: "10 seconds", tags: ["t"], metadata: { m: 1 } } as const
        assert.strictEqual(text(yield* store.getOrSet("k", c.compute, options)), "v1")
        const entry = Option.getOrThrow(yield* store.getEntry("k"))
        assert.strictEqual(text(entry.value), "v1")
        assert.deepStrictEqual(entry.tags, ["t"])
        assert.deepStrictEqual(Option.getOrThrow(entry.metadata), { m: 1 })
        assert.deepStrictEqual(entry.expiresAt, Option.some(10_000))
        assert.strictEqual(text(yield* store.getOrSet("k", c.compute, options)), "v1")
        yield* TestClock.adjust("10 seconds")
        assert.strictEqual(text(yield* store.getOrSet("k", c.compute, options)), "v2")
        assert.strictEqual(c.runs, 2)
      })
    ))

  it.effect("a failed computation reaches the caller and is not cached", () =>
    withStore((store) =>
      Effect.gen(function*() {
        let runs = 0
        const failing = Effect.suspend(() => (++runs === 1 ? Effect.fail("boom" as const) : Effect.succeed("ok")))
        assert.strictEqual(yield* Effect.flip(store.getOrSet("k", failing)), "boom")
        assert.isTrue(Option.isNone(yield* store.get("k")))
        assert.strictEqual(text(yield* store.getOrSet("k", failing)), "ok")
        assert.strictEqual(runs, 2)
      })
    ))

  it.effect("a failed read fails typed without computing, unless onReadFailure is \"compute\"", () =>
    withStore((inner) =>
      Effect.gen(function*() {
        const { control, store } = Scripted.make(inner)
        const c = counter()
        control.script({ method: "get", mode: "fail" })
        const error = yield* Effect.flip(store.getOrSet("k", c.compute))
        assert.strictEqual(error._tag, "BackendError")
        assert.strictEqual(error.method, "get")
        assert.strictEqual(c.runs, 0)
        control.script({ method: "get", mode: "fail" })
        assert.strictEqual(text(yield* store.getOrSet("k", c.compute, { onReadFailure: "compute" })), "v1")
        assert.strictEqual(text(Option.getOrThrow(yield* inner.get("k"))), "v1")
      })
    ))

  it.effect("a failed write after the computation fails typed (the caller asked for caching)", () =>
    withStore((inner) =>
      Effect.gen(function*() {
        const { control, store } = Scripted.make(inner)
        const c = counter()
        control.script({ method: "set", mode: "fail" })
        const error = yield* Effect.flip(store.getOrSet("k", c.compute))
        assert.strictEqual(error._tag, "BackendError")
        assert.strictEqual(c.runs, 1)
        assert.strictEqual(text(yield* store.getOrSet("k", c.compute)), "v2")
      })
    ))

  it.effect("TypedStore: a value that does not decode is a DecodeError, or a miss with onMismatch: \"miss\"", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const strict = TypedStore.make(store, Schema.Number)
        const lenient = TypedStore.make(store, Schema.Number, { onMismatch: "miss", version: 2 })
        yield* strict.set("n", 1)
        let runs = 0
        const compute = Effect.sync(() => ++runs * 100)
        assert.strictEqual(yield* strict.getOrSet("n", compute), 1)
        yield* store.set("n", "not a typed value")
        const error = yield* Effect.flip(strict.getOrSet("n", compute))
        assert.strictEqual(error._tag, "DecodeError")
        assert.strictEqual(runs, 0)
        yield* strict.set("n", 1)
        // Version 1 data read by a version 2 store with onMismatch "miss": replaced.
        assert.strictEqual(yield* lenient.getOrSet("n", compute), 100)
        assert.strictEqual(yield* lenient.getOrSet("n", compute), 100)
        assert.strictEqual(runs, 1)
      })
    ))

  it.effect("the value returned for a string computed is its UTF-8 bytes", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const value = yield* store.getOrSet("k", Effect.succeed("é"))
        assert.deepStrictEqual(Array.from(value), [0xc3, 0xa9])
      })
    ))
})

describe("getOrSet: options are checked before anything runs", () => {
  const bad: ReadonlyArray<readonly [string, unknown]> = [
    ["ttl 0", { ttl: 0 }],
    ["a negative ttl", { ttl: "-1 seconds" }],
    ["a NaN staleWhileRevalidate", { ttl: "1 second", staleWhileRevalidate: Number.NaN }],
    ["a negative grace", { ttl: "1 second", grace: -5 }],
    ["staleWhileRevalidate without a ttl", { staleWhileRevalidate: "1 second" }],
    ["grace with an infinite ttl", { ttl: Duration.infinity, grace: "1 second" }],
    ["softTimeout 0", { softTimeout: 0 }],
    ["an infinite hardTimeout", { hardTimeout: Duration.infinity }],
    ["lock as a string", { lock: "yes" }],
    ["lock.ttl 0", { lock: { ttl: 0 } }],
    ["an infinite lock.ttl", { lock: { ttl: Duration.infinity } }],
    ["a negative lock.timeout", { lock: { timeout: -1 } }],
    ["a bad lock.onTimeout", { lock: { onTimeout: "wait" } }],
    ["a bad onReadFailure", { onReadFailure: "ignore" }],
    ["tags as a string", { tags: "t" }],
    ["metadata with a bigint", { metadata: { n: 1n } }],
    ["options as an array", []]
  ]
  for (const [title, options] of bad) {
    it.effect(`${title}: InvalidArgument, no read, no computation`, () =>
      withStore((inner) =>
        Effect.gen(function*() {
          const { control, store } = Scripted.make(inner)
          const c = counter()
          const error = yield* Effect.flip(store.getOrSet("k", c.compute, options as KeyValueStore.GetOrSetOptions))
          assert.strictEqual(error._tag, "InvalidArgument")
          assert.strictEqual(error.method, "getOrSet")
          assert.strictEqual(c.runs, 0)
          assert.strictEqual(control.calls.length, 0)
        })
      ))
  }

  it.effect("a computation that is not an Effect is InvalidArgument", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(store.getOrSet("k", (() => "v") as unknown as Effect.Effect<string>))
        assert.strictEqual(error._tag, "InvalidArgument")
      })
    ))

  it.effect("a bad key is InvalidKey without computing, even with onReadFailure: \"compute\"", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const c = counter()
        const error = yield* Effect.flip(store.getOrSet("", c.compute, { onReadFailure: "compute" }))
        assert.strictEqual(error._tag, "InvalidKey")
        assert.strictEqual(c.runs, 0)
      })
    ))

  it.effect("a user lock name carrying the library's reserved mark is refused", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(Effect.scoped(store.lock("k\u0000effect-kv:getOrSet")))
        assert.strictEqual(error._tag, "InvalidArgument")
        yield* Effect.scoped(store.lock("k\u0000effect-kv"))
      })
    ))
})

class Tenant extends Context.Tag("test/Tenant")<Tenant, string>() {}

describe("getOrSet: single flight in the process", () => {
  it.effect("concurrent callers of one key share one computation and get its value", () =>
    withStore((store) =>
      Effect.gen(function*() {
        let runs = 0
        const gate = yield* Deferred.make<void>()
        const compute = Effect.zipRight(Deferred.await(gate), Effect.sync(() => `v${++runs}`))
        const fibers = yield* Effect.forEach(
          Array.from({ length: 20 }, (_, i) => i),
          () => Effect.fork(store.getOrSet("k", compute)),
          { concurrency: "unbounded" }
        )
        yield* Effect.yieldNow()
        yield* Deferred.succeed(gate, undefined)
        const values = yield* Effect.forEach(fibers, Fiber.join)
        assert.strictEqual(runs, 1)
        assert.deepStrictEqual(new Set(values.map(text)), new Set(["v1"]))
      })
    ))

  it.effect("a failure reaches every waiter and is not kept", () =>
    withStore((store) =>
      Effect.gen(function*() {
        let runs = 0
        const gate = yield* Deferred.make<void>()
        const compute = Effect.zipRight(
          Deferred.await(gate),
          Effect.suspend(() => (++runs === 1 ? Effect.fail(`boom${runs}`) : Effect.succeed("ok")))
        )
        const fibers = yield* Effect.forEach([1, 2, 3], () => Effect.fork(store.getOrSet("k", compute)))
        yield* Effect.yieldNow()
        yield* Deferred.succeed(gate, undefined)
        const exits = yield* Effect.forEach(fibers, Fiber.await)
        for (const exit of exits) assert.deepStrictEqual(exit, Exit.fail("boom1"))
        assert.strictEqual(text(yield* store.getOrSet("k", compute)), "ok")
        assert.strictEqual(runs, 2)
      })
    ))

  it.effect("interrupting one waiter leaves the computation to the others; when all are gone it is interrupted", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const gate = yield* Deferred.make<void>()
        const interrupted = yield* Deferred.make<void>()
        let runs = 0
        const compute = Effect.zipRight(Deferred.await(gate), Effect.sync(() => `v${++runs}`)).pipe(
          Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined))
        )
        const a = yield* Effect.fork(store.getOrSet("k", compute))
        const b = yield* Effect.fork(store.getOrSet("k", compute))
        yield* Effect.yieldNow()
        yield* Fiber.interrupt(a)
        assert.isFalse(yield* Deferred.isDone(interrupted))
        yield* Deferred.succeed(gate, undefined)
        assert.strictEqual(text(yield* Fiber.join(b)), "v1")

        // Every waiter gone: the computation is interrupted, and nothing is written.
        const gate2 = yield* Deferred.make<void>()
        const compute2 = Effect.zipRight(Deferred.await(gate2), Effect.succeed("never")).pipe(
          Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined))
        )
        const c = yield* Effect.fork(store.getOrSet("other", compute2))
        const d = yield* Effect.fork(store.getOrSet("other", compute2))
        yield* Effect.yieldNow()
        yield* Fiber.interrupt(c)
        assert.isFalse(yield* Deferred.isDone(interrupted))
        yield* Fiber.interrupt(d)
        yield* Deferred.await(interrupted)
        assert.isTrue(Option.isNone(yield* store.get("other")))
        // The next caller starts a new computation.
        assert.strictEqual(text(yield* store.getOrSet("other", Effect.succeed("fresh"))), "fresh")
      })
    ))

  it.effect("the computation keeps the context of the caller that started it", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const value = yield* store.getOrSet("k", Effect.map(Tenant, (tenant) => `for ${tenant}`)).pipe(
          Effect.provideService(Tenant, "acme")
        )
        assert.strictEqual(text(value), "for acme")
      })
    ))

  it.effect("callers reading the key through another representation do not join the flight", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const typed = TypedStore.make(store, Schema.String)
        const gate = yield* Deferred.make<void>()
        let runs = 0
        const raw = yield* Effect.fork(
          store.getOrSet("k", Effect.zipRight(Deferred.await(gate), Effect.sync(() => `raw${++runs}`)))
        )
        const viaTyped = yield* Effect.fork(
          typed.getOrSet("k", Effect.zipRight(Deferred.await(gate), Effect.sync(() => `typed${++runs}`)))
        )
        yield* Effect.yieldNow()
        yield* Deferred.succeed(gate, undefined)
        yield* Fiber.join(raw)
        assert.strictEqual((yield* Fiber.join(viaTyped)).startsWith("typed"), true)
        assert.strictEqual(runs, 2)
      })
    ))

  it.effect("a computation that outlives its ttl-less callers is interrupted only when the last one leaves", () =>
    withStore((store) =>
      Effect.gen(function*() {
        let runs = 0
        const compute = Effect.zipRight(Effect.sleep("5 seconds"), Effect.sync(() => `v${++runs}`))
        const a = yield* Effect.fork(store.getOrSet("k", compute))
        yield* TestClock.adjust("1 second")
        const b = yield* Effect.fork(store.getOrSet("k", compute))
        yield* TestClock.adjust("1 second")
        yield* Fiber.interrupt(a)
        yield* TestClock.adjust("3 seconds")
        assert.strictEqual(text(yield* Fiber.join(b)), "v1")
        assert.strictEqual(runs, 1)
      })
    ))
})
