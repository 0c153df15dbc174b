/**
 * Routing's own cases, on routers over MemoryStores built by the test (so each store can be looked at directly):
 * routing to the first matching route, batches split by store and answered in order, enumeration merged in key order
 * across stores and filtered to each store's routed keys, routes skipped when the pattern's prefix cannot reach them
 * (shown on a scripted store that records its scans), clear and size over every store, transactions confined to one
 * store, locks routed like keys, capabilities as the intersection, ttls under TestClock, and bad options as
 * `InvalidArgument`.
 */
import { assert, describe, it } from "@effect/vitest"
import { KeyValueStore, MemoryStore, Pattern, Routing } from "effect-kv"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as Scripted from "./fixtures/scripted.js"

type Store = KeyValueStore.Service

const text = (value: Option.Option<Uint8Array>): string | null =>
  Option.match(value, { onNone: () => null, onSome: (bytes) => Buffer.from(bytes).toString() })

const collect = <A, E>(stream: Stream.Stream<A, E>) => Effect.map(Stream.runCollect(stream), Chunk.toArray)

/** Three stores and a router: `users.**` to `users`, `cache.*` to `cache`, everything else to `rest`. */
const three = Effect.gen(function*() {
  const users = yield* MemoryStore.make()
  const cache = yield* MemoryStore.make()
  const rest = yield* MemoryStore.make()
  const store = yield* Routing.make({ routes: [["users.**", users], ["cache.*", cache]], default: rest })
  return { store, users, cache, rest }
})

const has = (store: Store, key: string) => store.has(key)

describe("Routing", () => {
  describe("routing", () => {
    it.scoped("sends each key to the first route whose pattern matches, else to the default store", () =>
      Effect.gen(function*() {
        const admins = yield* MemoryStore.make()
        const users = yield* MemoryStore.make()
        const rest = yield* MemoryStore.make()
        const store = yield* Routing.make({
          routes: [["users.admin.*", admins], ["users.**", users]],
          default: rest
        })
        yield* store.set("users.admin.ada", "a")
        yield* store.set("users.42", "u")
        yield* store.set("users", "root")
        yield* store.set("settings", "s")
        assert.deepStrictEqual(
          [
            yield* has(admins, "users.admin.ada"),
            yield* has(users, "users.admin.ada"),
            yield* has(rest, "users.admin.ada")
          ],
          [true, false, false]
        )
        assert.deepStrictEqual([yield* has(users, "users.42"), yield* has(rest, "users.42")], [true, false])
        assert.isTrue(yield* has(users, "users"), "users.** matches users itself")
        assert.deepStrictEqual([yield* has(rest, "settings"), yield* has(users, "settings")], [true, false])
        assert.strictEqual(text(yield* store.get("users.admin.ada")), "a")
        assert.strictEqual(text(yield* store.get("settings")), "s")
        assert.strictEqual(store.backend, "routing")
      }))

    it.scoped("single-key operations reach the routed store only", () =>
      Effect.gen(function*() {
        const { cache, rest, store } = yield* three
        assert.strictEqual(yield* store.increment("cache.hits", 3), 3n)
        assert.strictEqual(text(yield* cache.get("cache.hits")), "3")
        assert.isFalse(yield* rest.has("cache.hits"))
        yield* rest.set("cache.hits", "stray")
        assert.strictEqual(text(yield* store.pop("cache.hits")), "3")
        assert.isFalse(yield* store.has("cache.hits"))
        assert.strictEqual(text(yield* rest.get("cache.hits")), "stray", "the stray copy was not touched")
      }))
    it.scoped("a store given to several routes is one store: each key shows once, regions may span those routes", () =>
      Effect.gen(function*() {
        const shared = yield* MemoryStore.make()
        const rest = yield* MemoryStore.make()
        const store = yield* Routing.make({ routes: [["a.*", shared], ["b.*", shared]], default: rest })
        yield* store.withTransaction(store.setMany([["a.1", "1"], ["b.1", "1"]]))
        yield* store.set("c", "1")
        assert.deepStrictEqual(yield* collect(store.keys()), ["a.1", "b.1", "c"])
        assert.strictEqual(yield* store.size, 3)
        assert.strictEqual(yield* shared.size, 2)
        yield* store.clear
        assert.deepStrictEqual([yield* shared.size, yield* rest.size], [0, 0])
      }))
  })

  describe("batches", () => {
    it.scoped("are split by store and answer in the order asked", () =>
      Effect.gen(function*() {
        const { cache, rest, store, users } = yield* three
        yield* store.setMany([["users.1", "u1"], ["x", "x"], ["cache.a", "c"], ["users.2", "u2"], ["y", "y"]])
        assert.deepStrictEqual(
          [yield* users.size, yield* cache.size, yield* rest.size],
          [2, 1, 2]
        )
        const got = yield* store.getMany(["y", "cache.a", "absent", "users.2", "x", "users.1", "cache.b"])
        assert.deepStrictEqual(got.map(text), ["y", "c", null, "u2", "x", "u1", null])
        assert.strictEqual(yield* store.removeMany(["users.1", "nope", "cache.a", "x"]), 3)
        assert.deepStrictEqual(
          [yield* users.size, yield* cache.size, yield* rest.size],
          [1, 0, 1]
        )
      }))
  })

  describe("enumeration", () => {
    it.scoped("merges the stores' keys in key order, with patterns", () =>
      Effect.gen(function*() {
        const { store } = yield* three
        const keys = ["b", "users.2.name", "cache.z", "a", "users.1.name", "cache.a", "users.1.email", "c.d", "cache"]
        for (const key of keys) yield* store.set(key, key)
        assert.deepStrictEqual(yield* collect(store.keys()), [...keys].sort())
        assert.deepStrictEqual(yield* collect(store.keys("users.*.name")), ["users.1.name", "users.2.name"])
        assert.deepStrictEqual(yield* collect(store.keys("c*")), ["cache"])
        assert.deepStrictEqual(yield* collect(store.keys("{cache,c}.*")), ["c.d", "cache.a", "cache.z"])
        assert.deepStrictEqual(
          (yield* collect(store.entries("**.name"))).map(([key, value]) => `${key}=${Buffer.from(value)}`),
          ["users.1.name=users.1.name", "users.2.name=users.2.name"]
        )
        assert.strictEqual(yield* store.countPattern("**"), keys.length)
        assert.strictEqual(yield* store.countPattern("{users,cache}.**"), 6)
        assert.strictEqual(yield* store.removePattern("*.a"), 1)
        assert.strictEqual(yield* store.removePattern("users.1.*"), 2)
        assert.deepStrictEqual(yield* collect(store.keys()), ["a", "b", "c.d", "cache", "cache.z", "users.2.name"])
      }))

    it.scoped("pages through many interleaved keys of several stores in order, each once", () =>
      Effect.gen(function*() {
        const even = yield* MemoryStore.make()
        const odd = yield* MemoryStore.make()
        const store = yield* Routing.make({ routes: [["*.even", even]], default: odd })
        const keys = Array.from({ length: 2500 }, (_, i) => `k${String(i).padStart(5, "0")}.${i % 2 ? "odd" : "even"}`)
        yield* store.setMany(keys.map((key) => [key, "v"] as const))
        assert.strictEqual(yield* even.size, 1250)
        assert.deepStrictEqual(yield* collect(store.keys()), keys)
        assert.strictEqual((yield* collect(store.entries())).length, 2500)
        assert.strictEqual(yield* store.countPattern("k0*.*"), 2500)
      }))

    it.scoped("never shows a key held by a store it is not routed to", () =>
      Effect.gen(function*() {
        const { rest, store, users } = yield* three
        yield* store.set("users.1", "routed")
        yield* rest.set("users.2", "stray in rest")
        yield* users.set("other", "stray in users")
        assert.deepStrictEqual(yield* collect(store.keys()), ["users.1"])
        assert.deepStrictEqual(yield* collect(store.keys("users.*")), ["users.1"])
        assert.strictEqual(yield* store.countPattern("**"), 1)
        assert.strictEqual(yield* store.countPattern("users.**"), 1)
        assert.isFalse(yield* store.has("users.2"))
        assert.isFalse(yield* store.has("other"))
        assert.strictEqual(yield* store.removePattern("**"), 1)
        assert.isTrue(yield* rest.has("users.2"), "removePattern leaves the stray key alone")
        // Documented: store-wide operations count whole stores.
        assert.strictEqual(yield* store.size, 2)
      }))

    it.effect("skips a store whose routes cannot match the pattern's prefix", () =>
      Effect.gen(function*() {
        let control: Scripted.Control | undefined
        const scripted = Scripted.layer(MemoryStore.layer(), (c) => {
          control = c
        })
        yield* Effect.gen(function*() {
          const users = Context.get(yield* Layer.build(scripted), KeyValueStore.KeyValueStore)
          const rest = yield* MemoryStore.make()
          const store = yield* Routing.make({ routes: [["users.**", users]], default: rest })
          yield* store.set("users.1", "u")
          yield* store.set("cache.1", "c")
          const scans = () =>
            control!.calls.filter((call) =>
              ["scanKeys", "scanEntries", "countRange", "removeRange"].includes(call.method)
            )
              .length
          control!.reset()
          assert.deepStrictEqual(yield* collect(store.keys("cache.*")), ["cache.1"])
          assert.strictEqual((yield* collect(store.entries("cache.**"))).length, 1)
          assert.strictEqual(yield* store.countPattern("cache.*"), 1)
          assert.strictEqual(yield* store.countPattern("other.*"), 0)
          assert.strictEqual(yield* store.removePattern("cache.1"), 1)
          assert.strictEqual(scans(), 0, "the users store was never scanned")
          // The control: a pattern its route can match does reach it.
          assert.deepStrictEqual(yield* collect(store.keys("us*.*")), ["users.1"])
          assert.isAbove(scans(), 0)
        }).pipe(Effect.scoped)
      }))

    it.effect("skips the routes after one that takes every key of the range", () =>
      Effect.gen(function*() {
        let control: Scripted.Control | undefined
        const scripted = Scripted.layer(MemoryStore.layer(), (c) => {
          control = c
        })
        yield* Effect.gen(function*() {
          const late = Context.get(yield* Layer.build(scripted), KeyValueStore.KeyValueStore)
          const everything = yield* MemoryStore.make()
          const shadowing = yield* Routing.make({ routes: [["**", everything], ["app.x", late]], default: late })
          yield* shadowing.set("app.x", "1")
          assert.isTrue(yield* everything.has("app.x"))
          control!.reset()
          assert.deepStrictEqual(yield* collect(shadowing.keys("app.x")), ["app.x"])
          assert.deepStrictEqual(yield* collect(shadowing.keys()), ["app.x"])
          assert.strictEqual(control!.calls.length, 0, "neither the shadowed route nor the default was read")
          // The control: a first route that does not take every key of the range leaves the others to read.
          const partial = yield* Routing.make({ routes: [["app.*", everything], ["app.x", late]], default: late })
          assert.deepStrictEqual(yield* collect(partial.keys("app.x")), ["app.x"])
          assert.isAbove(control!.callsOf("scanKeys").length, 0)
        }).pipe(Effect.scoped)
      }))
  })

  describe("store-wide operations", () => {
    it.scoped("clear empties every store and size adds them up", () =>
      Effect.gen(function*() {
        const { cache, rest, store, users } = yield* three
        yield* store.setMany([["users.1", "1"], ["users.2", "2"], ["cache.a", "a"], ["x", "x"]])
        assert.strictEqual(yield* store.size, 4)
        yield* store.clear
        assert.deepStrictEqual([yield* users.size, yield* cache.size, yield* rest.size], [0, 0, 0])
        assert.strictEqual(yield* store.size, 0)
      }))

    it.scoped("check runs on every store and joins their reports", () =>
      Effect.gen(function*() {
        const { store } = yield* three
        yield* store.set("users.1", "1", { ttl: "1 second" })
        yield* store.set("x", "1", { ttl: "1 second" })
        yield* TestClock.adjust("2 seconds")
        const report = yield* store.check()
        assert.isTrue(report.ok)
        assert.strictEqual(report.expiredPending, 2)
        const fixed = yield* store.check({ fix: true })
        assert.deepStrictEqual(fixed.fixed, ["removed 2 expired entries"])
      }))

    it.scoped("removeTag, expire and stats add up the stores", () =>
      Effect.gen(function*() {
        const { cache, store, users } = yield* three
        yield* store.set("users.1", "1", { tags: ["t"] })
        yield* store.set("cache.a", "a", { tags: ["t"], ttl: "1 second" })
        yield* store.set("x", "x", { tags: ["t"] })
        yield* store.set("y", "y", { ttl: "1 second" })
        yield* store.set("users.2", "2", { ttl: "1 second" })
        assert.strictEqual(yield* store.removeTag("t"), 3)
        assert.deepStrictEqual([yield* users.size, yield* cache.size], [1, 0])
        yield* TestClock.adjust("2 seconds")
        assert.strictEqual(yield* store.size, 0)
        assert.strictEqual(yield* store.expire, 2)
        const stats = yield* store.stats
        assert.strictEqual(stats.writes, 5)
        assert.strictEqual(stats.expirations, 2)
      }))

    it.scoped("ttls follow the routed store's clock: TestClock expires them everywhere", () =>
      Effect.gen(function*() {
        const { store } = yield* three
        yield* store.set("users.1", "1", { ttl: "10 seconds" })
        yield* store.set("cache.1", "1", { ttl: "20 seconds" })
        yield* store.set("z", "1")
        assert.strictEqual(Option.map(yield* store.ttl("users.1"), Duration.toMillis).pipe(Option.getOrNull), 10_000)
        yield* TestClock.adjust("15 seconds")
        assert.deepStrictEqual(yield* collect(store.keys()), ["cache.1", "z"])
        assert.isFalse(yield* store.has("users.1"))
        yield* TestClock.adjust("10 seconds")
        assert.deepStrictEqual(yield* collect(store.keys()), ["z"])
        assert.strictEqual(yield* store.size, 1)
      }))
  })

  describe("transactions", () => {
    it.scoped("a change to a second route fails with Unsupported and nothing of the region is written", () =>
      Effect.gen(function*() {
        const { cache, store, users } = yield* three
        yield* store.set("users.1", "before")
        const error = yield* Effect.flip(store.withTransaction(Effect.gen(function*() {
          yield* store.set("users.1", "inside")
          yield* store.set("users.2", "inside")
          yield* store.set("cache.a", "inside")
        })))
        assert.strictEqual(error._tag, "Unsupported")
        assert.strictEqual(text(yield* users.get("users.1")), "before")
        assert.isFalse(yield* users.has("users.2"))
        assert.isFalse(yield* cache.has("cache.a"))
      }))

    it.scoped("a refused change dooms the region even when its failure is caught", () =>
      Effect.gen(function*() {
        const { cache, rest, store, users } = yield* three
        yield* rest.set("x", "1")
        yield* cache.set("cache.a", "1", { tags: ["t"] })
        const exit = yield* Effect.exit(store.withTransaction(Effect.gen(function*() {
          yield* store.set("users.1", "inside")
          const refused = yield* Effect.flip(store.remove("x"))
          assert.strictEqual(refused._tag, "Unsupported")
          yield* Effect.ignore(store.removeTag("t"))
          yield* Effect.ignore(store.increment("x"))
          return "done"
        })))
        const doomed = Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error : undefined
        assert.strictEqual(
          typeof doomed === "object" ? doomed._tag : doomed,
          "Unsupported",
          "the region fails with the refusal it caught"
        )
        assert.isFalse(yield* users.has("users.1"))
        assert.strictEqual(text(yield* rest.get("x")), "1")
        assert.isTrue(yield* cache.has("cache.a"))
      }))

    it.scoped("a region confined to one route commits, reading other routes, and rolls back on failure", () =>
      Effect.gen(function*() {
        const { rest, store, users } = yield* three
        yield* store.set("x", "10")
        const result = yield* store.withTransaction(Effect.gen(function*() {
          const x = text(yield* store.get("x"))
          yield* store.set("users.1", `saw ${x}`)
          yield* store.setMany([["users.2", "2"], ["users.3", "3"]])
          assert.strictEqual(yield* store.size, 4)
          assert.strictEqual(yield* store.removeTag("none"), 0)
          return yield* store.countPattern("users.*")
        }))
        assert.strictEqual(result, 3)
        assert.strictEqual(text(yield* users.get("users.1")), "saw 10")
        const exit = yield* Effect.exit(store.withTransaction(Effect.gen(function*() {
          yield* store.set("x", "changed")
          yield* store.remove("y")
          return yield* Effect.fail("no")
        })))
        assert.isTrue(Exit.isFailure(exit))
        assert.strictEqual(text(yield* rest.get("x")), "10")
        // A later region may change another route.
        yield* store.withTransaction(store.set("x", "11"))
        assert.strictEqual(text(yield* rest.get("x")), "11")
      }))

    it.scoped("a batch spanning routes in a region is refused before any of it is written", () =>
      Effect.gen(function*() {
        const { rest, store, users } = yield* three
        const error = yield* Effect.flip(store.withTransaction(store.setMany([["users.1", "1"], ["x", "x"]])))
        assert.strictEqual(error._tag, "Unsupported")
        assert.deepStrictEqual([yield* users.size, yield* rest.size], [0, 0])
      }))

    it.scoped("the scoped form is confined to one route too", () =>
      Effect.gen(function*() {
        const { cache, store, users } = yield* three
        yield* Effect.scoped(Effect.gen(function*() {
          yield* store.transaction
          yield* store.set("users.1", "1")
        }))
        assert.isTrue(yield* users.has("users.1"))
        const exit = yield* Effect.exit(Effect.scoped(Effect.gen(function*() {
          yield* store.transaction
          yield* store.set("users.2", "2")
          yield* Effect.ignore(store.set("cache.a", "a"))
        })))
        assert.isTrue(Exit.isFailure(exit), "the doomed scoped region does not commit")
        assert.isFalse(yield* users.has("users.2"))
        assert.isFalse(yield* cache.has("cache.a"))
      }))

    it.scoped("a router over a store without transactions has none", () =>
      Effect.gen(function*() {
        const plain = yield* MemoryStore.make()
        const without = KeyValueStore.make({
          ...plain.primitives,
          capabilities: { ...plain.capabilities, transactions: false, volume: false },
          withTransaction: undefined,
          transaction: undefined,
          volume: undefined
        })
        const store = yield* Routing.make({ routes: [["a.*", without]], default: yield* MemoryStore.make() })
        assert.deepStrictEqual(store.capabilities, { ...MemoryStore.capabilities, transactions: false, volume: false })
        assert.strictEqual((yield* Effect.flip(store.withTransaction(Effect.void)))._tag, "Unsupported")
        yield* store.set("b", "outside a transaction")
        assert.strictEqual(yield* store.size, 1)
      }))
  })

  describe("locks", () => {
    it.scopedLive("a lock lives in the store its name is routed to; a fenced write must be routed there too", () =>
      Effect.gen(function*() {
        const { rest, store, users } = yield* three
        const lock = yield* store.lock("users.lock")
        // The lease is in the users store: taking the same name there directly waits (times out).
        const direct = yield* Effect.flip(users.lock("users.lock", { timeout: "10 millis" }).pipe(Effect.scoped))
        assert.strictEqual(direct._tag, "LockTimeout")
        const elsewhere = yield* Effect.scoped(rest.lock("users.lock", { timeout: "10 millis" }))
        assert.isDefined(elsewhere)
        yield* store.set("users.1", "fenced", { fence: lock })
        assert.strictEqual(text(yield* users.get("users.1")), "fenced")
        const refused = yield* Effect.flip(store.set("x", "fenced", { fence: lock }))
        assert.strictEqual(refused._tag, "Unsupported")
        assert.isFalse(yield* rest.has("x"))
      }))
  })

  describe("options", () => {
    it.scoped("bad options are InvalidArgument, never a defect", () =>
      Effect.gen(function*() {
        const a = yield* MemoryStore.make()
        const slash = yield* MemoryStore.make({ separator: "/" })
        const cases: ReadonlyArray<readonly [string, unknown]> = [
          ["no options", undefined],
          ["an empty route list", { routes: [], default: a }],
          ["routes not an array", { routes: "users.*", default: a }],
          ["a malformed pattern", { routes: [["users.[z-a]", a]], default: a }],
          ["an unterminated brace", { routes: [["{a,b", a]], default: a }],
          ["a route that is not a pair", { routes: [["users.*"]], default: a }],
          ["a route whose store is not a store", { routes: [["users.*", {}]], default: a }],
          ["no default store", { routes: [["users.*", a]] }],
          ["stores of different separators", { routes: [["users/*", slash]], default: a }],
          [
            "a Pattern of another separator",
            { routes: [[Either.getOrThrow(Pattern.compile("users/*", { separator: "/" })), a]], default: a }
          ]
        ]
        for (const [what, options] of cases) {
          const exit = yield* Effect.exit(Routing.make(options as Routing.Options<Store>))
          assert.isTrue(Exit.isFailure(exit), what)
          const failure = Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error : undefined
          assert.strictEqual(failure?._tag, "InvalidArgument", `${what}: a typed failure`)
        }
        // The same stores with one separator are fine, and a compiled Pattern of it too.
        const ok = yield* Routing.make({
          routes: [[Either.getOrThrow(Pattern.compile("users/*", { separator: "/" })), slash]],
          default: yield* MemoryStore.make({ separator: "/" })
        })
        assert.strictEqual(ok.separator, "/")
      }))

    it.effect("the layer fails with InvalidArgument, before building the route stores when a pattern is bad", () =>
      Effect.gen(function*() {
        let built = 0
        let closed = 0
        const counted = Layer.scoped(
          KeyValueStore.KeyValueStore,
          Effect.zipRight(
            Effect.acquireRelease(Effect.sync(() => built++), () => Effect.sync(() => closed++)),
            MemoryStore.make()
          )
        )
        const bad = Routing.layer({ routes: [["users.[z-a]", counted]], default: MemoryStore.layer() })
        const error = yield* Effect.flip(Layer.build(bad).pipe(Effect.scoped))
        assert.strictEqual(error._tag, "InvalidArgument")
        assert.strictEqual(built, 0)
        const empty = yield* Effect.flip(
          Layer.build(Routing.layer({ routes: [], default: counted })).pipe(Effect.scoped)
        )
        assert.strictEqual(empty._tag, "InvalidArgument")
        assert.strictEqual(built, 0)
        const separators = yield* Effect.flip(
          Layer.build(Routing.layer({ routes: [["a/*", MemoryStore.layer({ separator: "/" })]], default: counted }))
            .pipe(Effect.scoped)
        )
        assert.strictEqual(separators._tag, "InvalidArgument")
        const fine = yield* Layer.build(Routing.layer({ routes: [["a.*", counted]], default: counted })).pipe(
          Effect.map((context) => KeyValueStore.isKeyValueStore(Context.get(context, KeyValueStore.KeyValueStore))),
          Effect.scoped
        )
        assert.isTrue(fine)
        assert.strictEqual(built, 3, "each route's layer is a store of its own")
        assert.strictEqual(closed, 3, "the stores close with the layer's scope")
      }))
  })
})
