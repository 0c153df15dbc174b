/**
 * Fallback: the contract suite over Fallback(MemoryStore, MemoryStore) and Fallback(SqliteStore, MemoryStore) with no
 * faults, then the wrapper's own cases on a scripted primary (availability failures fall through, misses and argument
 * errors do not, writes to both, streams resumed after the last delivered key, transactions and fences kept on the
 * primary, who served), and the live case: a RedisStore on a private redis-server killed and restarted, SQLite behind.
 */
import { assert, describe, it } from "@effect/vitest"
import { Fallback, KeyValueStore, KeyValueStoreError, MemoryStore, RedisStore, SqliteStore } from "effect-kv"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as path from "node:path"
import { describeRedisBinary, privateServer } from "../backends/fixtures/redisServer.js"
import { freshSqliteLayer, tempDir } from "../backends/fixtures/temp.js"
import { assertSomeBytes } from "../contract/bytes.js"
import { suite } from "../contract/suite.js"
import * as Scripted from "./fixtures/scripted.js"

suite(
  "Fallback(MemoryStore, MemoryStore)",
  MemoryStore.layer().pipe(KeyValueStore.wrap(Fallback.layer(MemoryStore.layer()))),
  MemoryStore.capabilities
)
suite(
  "Fallback(SqliteStore, MemoryStore)",
  freshSqliteLayer().pipe(KeyValueStore.wrap(Fallback.layer(MemoryStore.layer()))),
  Fallback.capabilities(SqliteStore.capabilities, MemoryStore.capabilities)
)

type Store = KeyValueStore.Service

const collect = <A, E>(stream: Stream.Stream<A, E>) => Effect.map(Stream.runCollect(stream), Chunk.toArray)

/** A scripted primary over a memory store, a memory secondary, and the fallback store over them. */
const setup = (options?: Fallback.Options) =>
  Effect.gen(function*() {
    const inner = yield* MemoryStore.make()
    const { control, store: primary } = Scripted.make(inner)
    const secondary = yield* MemoryStore.make()
    const store = yield* Fallback.make(primary, secondary, options)
    return { control, inner, secondary, store }
  })

const servedBy = (store: Store) => Effect.map(Fallback.servedBy(store), Option.getOrThrow)

const timeout = (call: { readonly method: string }) =>
  new KeyValueStoreError.Timeout({ method: call.method, millis: 1 })
const busy = (call: { readonly method: string }) =>
  new KeyValueStoreError.Busy({ method: call.method, backend: "scripted" })

describe("Fallback", () => {
  describe("what falls through", () => {
    it.scoped("an unavailable primary (BackendError, Busy, Timeout): the secondary answers with its value", () =>
      Effect.gen(function*() {
        const { control, inner, secondary, store } = yield* setup()
        yield* inner.set("k", "primary")
        yield* secondary.set("k", "secondary")
        control.script({ method: "get", mode: "fail" })
        assertSomeBytes(yield* store.get("k"), "secondary")
        control.script({ method: "getString", mode: "fail", error: busy })
        assert.deepStrictEqual(yield* store.getString("k"), Option.some("secondary"))
        control.script({ method: "getEntry", mode: "fail", error: timeout })
        const entry = yield* store.getEntry("k")
        assert.isTrue(Option.isSome(entry))
        assert.deepStrictEqual(yield* store.getString("k"), Option.some("primary"), "the primary serves again")
        assert.deepStrictEqual(yield* servedBy(store), { primary: 1, secondary: 3, mirrorFailures: 0 })
      }))

    it.scoped("a miss on the primary is an answer: it does not fall through", () =>
      Effect.gen(function*() {
        const { secondary, store } = yield* setup()
        yield* secondary.set("k", "secondary")
        assert.isTrue(Option.isNone(yield* store.get("k")))
        assert.isFalse(yield* store.has("k"))
        const error = yield* Effect.flip(store.getOrFail("k"))
        assert.strictEqual(error._tag, "KeyNotFound")
        assert.deepStrictEqual(yield* servedBy(store), { primary: 3, secondary: 0, mirrorFailures: 0 })
      }))

    it.scoped("argument and contract errors do not fall through", () =>
      Effect.gen(function*() {
        const { control, secondary, store } = yield* setup()
        yield* secondary.set("k", "secondary")
        assert.strictEqual((yield* Effect.flip(store.get("")))._tag, "InvalidKey")
        assert.strictEqual((yield* Effect.flip(store.set("k", "v", { ttl: 0 })))._tag, "InvalidArgument")
        control.script({
          method: "get",
          mode: "fail",
          error: (call) => new KeyValueStoreError.InvalidArgument({ method: call.method, argument: "x", reason: "no" })
        })
        assert.strictEqual((yield* Effect.flip(store.get("k")))._tag, "InvalidArgument")
        yield* store.set("n", "1.5")
        assert.strictEqual((yield* Effect.flip(store.increment("n")))._tag, "NotANumber")
        assert.strictEqual((yield* servedBy(store)).secondary, 0)
        assert.isTrue(Option.isNone(yield* secondary.get("n")), "the rejected write did not reach the secondary")
      }))

    it.scoped("errors of both stores: the secondary's error is the answer", () =>
      Effect.gen(function*() {
        const { control, store: primary } = Scripted.make(yield* MemoryStore.make())
        const { control: control2, store: secondary } = Scripted.make(yield* MemoryStore.make())
        const both = yield* Fallback.make(primary, secondary)
        control.script({ method: "get", mode: "fail" })
        control2.script({ method: "get", mode: "fail", error: timeout })
        const error = yield* Effect.flip(both.get("k"))
        assert.strictEqual(error._tag, "Timeout")
      }))
  })

  describe("writes", () => {
    it.scoped("\"primary\" (default): writes go to the primary only, to the secondary only when it is unavailable", () =>
      Effect.gen(function*() {
        const { control, inner, secondary, store } = yield* setup()
        yield* store.set("a", "1")
        assertSomeBytes(yield* inner.get("a"), "1")
        assert.isTrue(Option.isNone(yield* secondary.get("a")))
        control.script({ method: "set", mode: "fail" })
        yield* store.set("b", "2")
        assert.isTrue(Option.isNone(yield* inner.get("b")))
        assertSomeBytes(yield* secondary.get("b"), "2")
      }))

    it.scoped("\"both\": every write reaches both stores, read-modify-writes by their outcome", () =>
      Effect.gen(function*() {
        const { inner, secondary, store } = yield* setup({ writes: "both" })
        const same = (key: string) =>
          Effect.gen(function*() {
            const a = yield* inner.getString(key)
            const b = yield* secondary.getString(key)
            assert.deepStrictEqual(b, a, `the secondary holds the primary's ${key}`)
          })
        yield* store.set("a", "1", { ttl: "1 hour", tags: ["t"], metadata: { m: 1 } })
        yield* same("a")
        assert.deepStrictEqual((yield* secondary.getEntry("a")).pipe(Option.map((e) => e.tags)), Option.some(["t"]))
        yield* store.increment("n", 5, { initial: 10 })
        yield* store.increment("n")
        yield* same("n")
        assert.deepStrictEqual(yield* secondary.getString("n"), Option.some("16"))
        yield* store.append("a", "x")
        yield* same("a")
        yield* store.update("u", () => Option.some("u"))
        yield* same("u")
        assert.isTrue(yield* store.compareAndSwap("u", Option.some("u"), Option.some("v")))
        yield* same("u")
        assert.isTrue(yield* store.add("added", "1"))
        yield* same("added")
        function* generated() {
          yield ["g1", "1"] as const
          yield ["g2", "2"] as const
        }
        yield* store.setMany(generated())
        yield* same("g1")
        yield* same("g2")
        assertSomeBytes(yield* store.pop("g1"), "1")
        yield* same("g1")
        assert.strictEqual(yield* store.removeMany(["g2", "u"]), 2)
        yield* same("g2")
        yield* same("u")
        assert.isTrue(yield* store.remove("added"))
        yield* same("added")
        yield* store.set("p.1", "1")
        assert.strictEqual(yield* store.removePattern("p.*"), 1)
        yield* same("p.1")
        assert.strictEqual(yield* store.removeTag("t"), 1)
        yield* same("a")
        yield* store.set("z", "1")
        yield* store.clear
        assert.strictEqual(yield* secondary.size, 0)
      }))

    it.scoped("\"both\": a copied entry keeps its remaining ttl (TestClock)", () =>
      Effect.gen(function*() {
        const { secondary, store } = yield* setup({ writes: "both" })
        yield* store.increment("n", 1, { ttl: "1 minute" })
        yield* TestClock.adjust("30 seconds")
        yield* store.increment("n")
        const ttl = Duration.toMillis(Option.getOrThrow(yield* secondary.ttl("n")))
        assert.isTrue(ttl > 0 && ttl <= 30_000, `remaining ttl ${ttl} ms`)
        yield* TestClock.adjust("31 seconds")
        assert.isTrue(Option.isNone(yield* secondary.get("n")), "expired on the secondary with the primary")
      }))

    it.scoped("\"both\": a failed copy leaves the primary's success standing, counted and logged", () =>
      Effect.gen(function*() {
        const inner = yield* MemoryStore.make()
        const { control, store: secondary } = Scripted.make(yield* MemoryStore.make())
        const store = yield* Fallback.make(inner, secondary, { writes: "both" })
        control.script({ method: "set", mode: "fail" })
        yield* store.set("a", "1")
        assertSomeBytes(yield* inner.get("a"), "1")
        assert.isTrue(Option.isNone(yield* secondary.get("a")))
        assert.deepStrictEqual(yield* servedBy(store), { primary: 1, secondary: 0, mirrorFailures: 1 })
      }))

    it.scoped("\"both\": a write the secondary served is not copied back", () =>
      Effect.gen(function*() {
        const { control, inner, secondary, store } = yield* setup({ writes: "both" })
        control.script({ method: "set", mode: "fail" })
        yield* store.set("a", "1")
        assert.isTrue(Option.isNone(yield* inner.get("a")))
        assertSomeBytes(yield* secondary.get("a"), "1")
      }))
  })

  describe("streams", () => {
    it.scoped("a primary stream that fails at once is served by the secondary", () =>
      Effect.gen(function*() {
        const { control, secondary, store } = yield* setup()
        yield* secondary.setMany([["a", "1"], ["b", "2"]])
        control.script({ method: "keys", mode: "fail" })
        assert.deepStrictEqual(yield* collect(store.keys()), ["a", "b"])
      }))

    it.scoped("mid-stream failure: resumed on the secondary after the last delivered key, no duplicate", () =>
      Effect.gen(function*() {
        const inner = yield* MemoryStore.make()
        const secondary = yield* MemoryStore.make()
        const keys = ["a", "b", "c", "d", "é", "\u{1F600}", "\uFFFF"]
        yield* inner.setMany(keys.map((key) => [key, "p"] as const))
        yield* secondary.setMany([...keys, "c2", "0"].map((key) => [key, "s"] as const))
        const fail = new KeyValueStoreError.BackendError({ method: "entries", backend: "scripted" })
        const primary: Store = {
          ...inner,
          keys: (pattern) => Stream.concat(Stream.take(inner.keys(pattern), 3), Stream.fail(fail)),
          entries: (pattern) => Stream.concat(Stream.take(inner.entries(pattern), 3), Stream.fail(fail))
        }
        const store = yield* Fallback.make(primary, secondary)
        const expected = yield* collect(inner.keys())
        const got = yield* collect(store.keys())
        assert.deepStrictEqual(got, [...expected.slice(0, 3), "c2", ...expected.slice(3)])
        const entries = yield* collect(store.entries())
        assert.deepStrictEqual(entries.map(([key]) => key), got)
        assert.deepStrictEqual(
          entries.map(([, value]) => new TextDecoder().decode(value)),
          got.map((_, i) => i < 3 ? "p" : "s")
        )
        assert.deepStrictEqual(yield* servedBy(store), { primary: 0, secondary: 2, mirrorFailures: 0 })
      }))

    it.scoped("a namespace over the fallback store keeps the fallback (primitives)", () =>
      Effect.gen(function*() {
        const { control, secondary, store } = yield* setup()
        yield* secondary.set("ns.k", "secondary")
        const ns = KeyValueStore.prefix(store, "ns.")
        control.script({ method: (call) => call.primitive && call.method === "get", mode: "fail" })
        assertSomeBytes(yield* ns.get("k"), "secondary")
        control.script({ method: (call) => call.primitive && call.method === "scanKeys", mode: "fail" })
        assert.deepStrictEqual(yield* collect(ns.keys()), ["k"])
      }))
  })

  describe("transactions, locks, fences", () => {
    it.scoped("inside a transaction nothing falls through", () =>
      Effect.gen(function*() {
        const { control, secondary, store } = yield* setup()
        control.script({ method: "set", mode: "fail" })
        const error = yield* Effect.flip(store.withTransaction(store.set("k", "v")))
        assert.strictEqual(error._tag, "BackendError")
        assert.isTrue(Option.isNone(yield* secondary.get("k")))
        control.script({ method: "set", mode: "fail" })
        yield* store.set("k", "v")
        assertSomeBytes(yield* secondary.get("k"), "v", "outside the region it falls through")
      }))

    it.scoped("a fenced write stays on the primary", () =>
      Effect.gen(function*() {
        const { control, secondary, store } = yield* setup()
        const lock = yield* store.lock("L")
        control.script({ method: "set", mode: "fail" })
        const error = yield* Effect.flip(store.set("k", "v", { fence: lock }))
        assert.strictEqual(error._tag, "BackendError")
        assert.isTrue(Option.isNone(yield* secondary.get("k")))
      }))
  })

  describe("who served", () => {
    it.scoped("kv.served_by on the current span, the metric, the snapshot and the summed stats", () =>
      Effect.gen(function*() {
        const { control, inner, secondary, store } = yield* setup()
        yield* inner.set("k", "p")
        yield* secondary.set("k", "s")
        const metric = Fallback.served.pipe(Metric.tagged("store", "secondary"), Metric.tagged("operation", "get"))
        const before = (yield* Metric.value(metric)).count
        control.script({ method: "get", mode: "fail" })
        const attribute = yield* Effect.gen(function*() {
          yield* store.get("k")
          const span = yield* Effect.currentSpan
          return span.attributes.get("kv.served_by")
        }).pipe(Effect.withSpan("test"))
        assert.strictEqual(attribute, "secondary")
        const primaryAttribute = yield* Effect.gen(function*() {
          yield* store.get("k")
          return (yield* Effect.currentSpan).attributes.get("kv.served_by")
        }).pipe(Effect.withSpan("test"))
        assert.strictEqual(primaryAttribute, "primary")
        assert.strictEqual((yield* Metric.value(metric)).count, before + 1)
        assert.deepStrictEqual(yield* servedBy(store), { primary: 1, secondary: 1, mirrorFailures: 0 })
        const stats = yield* store.stats
        assert.strictEqual(stats.hits, 2, "one hit on each store")
        assert.strictEqual(stats.writes, 2)
        yield* store.resetStats
        assert.deepStrictEqual(yield* servedBy(store), { primary: 0, secondary: 0, mirrorFailures: 0 })
        assert.strictEqual((yield* secondary.stats).hits, 0)
        assert.isTrue(Option.isNone(yield* Fallback.servedBy(inner)))
      }))
  })

  describe("layer", () => {
    it.effect("builds the secondary privately: it is not the primary, and not taken from the context", () =>
      Effect.gen(function*() {
        const store = yield* KeyValueStore.KeyValueStore
        yield* store.set("k", "v")
        assert.isTrue(Option.isSome(yield* Fallback.servedBy(store)))
      }).pipe(Effect.provide(MemoryStore.layer().pipe(KeyValueStore.wrap(Fallback.layer(MemoryStore.layer()))))))

    it.effect("refuses a secondary with another separator or missing features, and bad options", () =>
      Effect.gen(function*() {
        const build = (layer: Layer.Layer<KeyValueStore.KeyValueStore, unknown>) =>
          Effect.flip(Layer.build(layer).pipe(Effect.scoped))
        const separator = yield* build(
          MemoryStore.layer().pipe(KeyValueStore.wrap(Fallback.layer(MemoryStore.layer({ separator: "/" }))))
        )
        assert.strictEqual((separator as KeyValueStoreError.KeyValueStoreError)._tag, "InvalidArgument")
        const options = yield* build(
          MemoryStore.layer().pipe(
            KeyValueStore.wrap(Fallback.layer(MemoryStore.layer(), { writes: "all" as unknown as "both" }))
          )
        )
        assert.strictEqual((options as KeyValueStoreError.KeyValueStoreError)._tag, "InvalidArgument")
      }))
  })
})

describeRedisBinary("Fallback(RedisStore on a private redis-server, SqliteStore)", () => {
  const COMMAND_TIMEOUT = 500
  const sleep = (millis: number) => Effect.promise(() => new Promise((resolve) => setTimeout(resolve, millis)))
  /** Polls `self` (real time) until `ok` holds, for at most `millis`. */
  const until = <A, E>(self: Effect.Effect<A, E>, ok: (a: A) => boolean, millis: number, what: string) =>
    Effect.gen(function*() {
      const deadline = Date.now() + millis
      for (;;) {
        const a = yield* self
        if (ok(a)) return a
        if (Date.now() > deadline) return assert.fail(`${what} within ${millis} ms`)
        yield* sleep(50)
      }
    })

  it.live(
    "killed: SQLite serves reads and writes, typed and bounded; restarted: Redis serves again",
    () =>
      Effect.scoped(Effect.gen(function*() {
        const server = yield* privateServer
        const dir = yield* tempDir
        const redis = yield* RedisStore.make({
          url: server.url,
          prefix: "fallback:",
          commandTimeout: COMMAND_TIMEOUT,
          connectTimeout: 2000
        })
        const context = yield* Layer.build(SqliteStore.layer({ filename: path.join(dir, "kv.db") }))
        const sqlite = Context.get(context, KeyValueStore.KeyValueStore)
        const store = yield* Fallback.make(redis, sqlite, { writes: "both" })

        yield* store.set("a", "1")
        assertSomeBytes(yield* redis.get("a"), "1")
        assertSomeBytes(yield* sqlite.get("a"), "1")
        assert.deepStrictEqual(yield* servedBy(store), { primary: 1, secondary: 0, mirrorFailures: 0 })

        yield* Effect.promise(() => server.kill())
        const direct = yield* Effect.flip(redis.get("a"))
        assert.strictEqual(direct._tag, "BackendError", "the primary itself fails, typed")

        const before = (yield* servedBy(store)).secondary
        assertSomeBytes(yield* store.get("a"), "1")
        yield* store.set("b", "2")
        assert.strictEqual(yield* store.increment("n"), 1n)
        assert.deepStrictEqual(yield* collect(store.keys()), ["a", "b", "n"])
        assertSomeBytes(yield* sqlite.get("b"), "2")
        assert.strictEqual((yield* servedBy(store)).secondary - before, 4, "the outage was served by SQLite")

        yield* Effect.promise(() => server.restart())
        // The client reconnects by itself; the restarted server is empty (no persistence).
        const servedBefore = yield* until(
          Effect.gen(function*() {
            const start = yield* servedBy(store)
            yield* store.set("c", "3")
            const end = yield* servedBy(store)
            return end.primary - start.primary
          }),
          (n) => n === 1,
          10_000,
          "Redis did not serve again"
        )
        assert.strictEqual(servedBefore, 1)
        assertSomeBytes(yield* redis.get("c"), "3")
        assert.isTrue(Option.isNone(yield* store.get("b")), "the primary answers again: its miss is an answer")
      })),
    { timeout: 60_000 }
  )
})
