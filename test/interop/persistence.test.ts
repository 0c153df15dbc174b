/**
 * The Persistence bridge (`@effect/experimental`'s `BackingPersistence` on our stores) on MemoryStore, SqliteStore,
 * RedisStore and PostgresStore: the backing store's operations with JSON values, ttl under `TestClock` (a zero ttl
 * stores nothing), `clear` limited to its store id, store ids that look like nested namespaces, failures mapped to
 * `PersistenceBackingError` with our error as cause; then experimental's own behaviours on top of it (its
 * `PersistedCache` and `RequestResolver.persisted` tests, written again here): a cached lookup runs once and is read
 * back by a new cache, persisted requests with per-exit ttls and `clear`; and a `PersistedCache` over a SQLite file
 * that survives a restart of the program (the layer closed and built again, and a child process).
 */
import * as PersistedCache from "@effect/experimental/PersistedCache"
import * as ExperimentalPersistence from "@effect/experimental/Persistence"
import * as RequestResolverX from "@effect/experimental/RequestResolver"
import { assert, describe, it } from "@effect/vitest"
import { KeyValueStore, MemoryStore, Persistence, ReadOnly, SqliteStore } from "effect-kv"
import * as Arr from "effect/Array"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as PrimaryKey from "effect/PrimaryKey"
import * as Request from "effect/Request"
import * as RequestResolver from "effect/RequestResolver"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import * as path from "node:path"
import { freshRedisLayer } from "../backends/fixtures/redis.js"
import { describeServer } from "../backends/fixtures/servers.js"
import { freshLayer } from "../backends/fixtures/sql-servers.js"
import { freshSqliteLayer, tempDir } from "../backends/fixtures/temp.js"
import * as Workers from "../backends/fixtures/workers.js"

const script = "test/interop/fixtures/persisted-cache-worker.ts"

class User extends Schema.Class<User>("User")({ id: Schema.Number, name: Schema.String }) {}

class UserRequest extends Schema.TaggedRequest<UserRequest>()("UserRequest", {
  failure: Schema.String,
  success: User,
  payload: { id: Schema.Number }
}) {
  [PrimaryKey.symbol]() {
    return `UserRequest:${this.id}`
  }
}

class TTLRequest extends Schema.TaggedRequest<TTLRequest>()("TTLRequest", {
  failure: Schema.String,
  success: User,
  payload: { id: Schema.Number }
}) {
  [PrimaryKey.symbol]() {
    return `TTLRequest:${this.id}`
  }
}

type StoreLayer = () => Layer.Layer<KeyValueStore.KeyValueStore, unknown>

const BackingAndStore = (storeLayer: StoreLayer) => Persistence.layer().pipe(Layer.provideMerge(storeLayer()))
const ResultAndStore = (storeLayer: StoreLayer) => Persistence.layerResult().pipe(Layer.provideMerge(storeLayer()))

const backingStore = (storeId: string) =>
  Effect.flatMap(ExperimentalPersistence.BackingPersistence, (backing) => backing.make(storeId))

/**
 * Options and Exits as plain data, so that a comparison sees them: `@effect/vitest`'s `assert.deepStrictEqual` takes
 * `Option.none()` and `Option.some(x)` for equal.
 */
const plain = (u: unknown): unknown =>
  Option.isOption(u)
    ? Option.match(u, { onNone: () => ({ none: true }), onSome: (value) => ({ some: plain(value) }) })
    : Exit.isExit(u)
    ? Exit.match(u, {
      onSuccess: (value) => ({ success: plain(value) }),
      onFailure: (cause) => ({ failure: plain(Cause.failureOption(cause)) })
    })
    : Array.isArray(u)
    ? u.map(plain)
    : u

const same = (actual: unknown, expected: unknown): void => assert.deepStrictEqual(plain(actual), plain(expected))

/** The tag of a `PersistenceBackingError`'s cause (failing on any other error). */
const causeTag = (error: ExperimentalPersistence.PersistenceError): string => {
  assert.instanceOf(error, ExperimentalPersistence.PersistenceBackingError)
  return (error.cause as { readonly _tag: string })._tag
}

const text = (bytes: Option.Option<Uint8Array>) => Option.map(bytes, (b) => new TextDecoder().decode(b))

const cases = (name: string, storeLayer: StoreLayer) =>
  describe(name, () => {
    it.effect("get, getMany, set, setMany and remove hold JSON values", () =>
      Effect.gen(function*() {
        const users = yield* backingStore("users")
        const values: Array<unknown> = [
          { id: 1, name: "Ada", tags: ["a", "b"] },
          [1, "two", null],
          "text",
          42,
          null,
          true
        ]
        yield* users.setMany(values.map((value, i) => [`k${i}`, value, Option.none()] as const))
        same(
          yield* users.getMany([...values.keys()].map((i) => `k${i}`).concat("absent")),
          [...values.map(Option.some), Option.none()]
        )
        yield* users.set("one", { nested: { deep: [1, 2, 3] } }, Option.none())
        same(yield* users.get("one"), Option.some({ nested: { deep: [1, 2, 3] } }))
        yield* users.set("one", "replaced", Option.none())
        same(yield* users.get("one"), Option.some("replaced"))
        yield* users.remove("one")
        same(yield* users.get("one"), Option.none())
        yield* users.remove("one") // removing an absent key is not an error
        // What the store holds: UTF-8 JSON under the store id's namespace.
        const store = yield* KeyValueStore.KeyValueStore
        same(
          text(yield* store.get("persistence.users.k0")),
          Option.some(`{"id":1,"name":"Ada","tags":["a","b"]}`)
        )
      }).pipe(Effect.scoped, Effect.provide(BackingAndStore(storeLayer))))

    it.effect("a ttl is measured by the Clock: live before it, gone at it", () =>
      Effect.gen(function*() {
        const users = yield* backingStore("users")
        yield* users.set("short", "s", Option.some(Duration.seconds(5)))
        yield* users.setMany([["many", "m", Option.some(Duration.seconds(10))], ["forever", "f", Option.none()]])
        yield* users.set("infinite", "i", Option.some(Duration.infinity))
        yield* TestClock.adjust("4999 millis")
        same(yield* users.getMany(["short", "many", "forever", "infinite"]), [
          Option.some("s"),
          Option.some("m"),
          Option.some("f"),
          Option.some("i")
        ])
        yield* TestClock.adjust("1 millis")
        same(yield* users.get("short"), Option.none())
        same(yield* users.get("many"), Option.some("m"))
        yield* TestClock.adjust("5 seconds")
        same(yield* users.getMany(["short", "many", "forever", "infinite"]), [
          Option.none(),
          Option.none(),
          Option.some("f"),
          Option.some("i")
        ])
        const store = yield* KeyValueStore.KeyValueStore
        same(yield* store.ttl("persistence.users.forever"), Option.some(Duration.infinity))
      }).pipe(Effect.scoped, Effect.provide(BackingAndStore(storeLayer))))

    it.effect("a ttl of zero stores nothing and drops what was there", () =>
      Effect.gen(function*() {
        const users = yield* backingStore("users")
        yield* users.setMany([["a", 1, Option.none()], ["b", 2, Option.none()]])
        yield* users.set("a", 10, Option.some(Duration.zero))
        yield* users.setMany([["b", 20, Option.some(Duration.zero)], ["c", 3, Option.some(Duration.zero)]])
        same(yield* users.getMany(["a", "b", "c"]), [Option.none(), Option.none(), Option.none()])
        // In a batch, the last write of a key wins.
        yield* users.setMany([["d", 1, Option.none()], ["d", 2, Option.none()], ["e", 1, Option.none()], [
          "e",
          2,
          Option.some(Duration.zero)
        ]])
        same(yield* users.getMany(["d", "e"]), [Option.some(2), Option.none()])
      }).pipe(Effect.scoped, Effect.provide(BackingAndStore(storeLayer))))

    it.effect("clear removes its store id's entries and nothing else", () =>
      Effect.gen(function*() {
        const store = yield* KeyValueStore.KeyValueStore
        const users = yield* backingStore("users")
        const nested = yield* backingStore("users.admins") // looks like a namespace inside "users": it is not
        const usersX = yield* backingStore("usersX")
        const other = yield* backingStore("orders")
        yield* users.setMany([["1", "u1", Option.none()], ["2", "u2", Option.some(Duration.minutes(1))]])
        yield* nested.set("1", "admin", Option.none())
        yield* usersX.set("1", "x", Option.none())
        yield* other.set("1", "order", Option.none())
        yield* store.set("users.1", "plain data")
        yield* store.set("persistence.users", "the namespace's own name")
        yield* users.clear
        same(yield* users.getMany(["1", "2"]), [Option.none(), Option.none()])
        same(yield* nested.get("1"), Option.some("admin"))
        same(yield* usersX.get("1"), Option.some("x"))
        same(yield* other.get("1"), Option.some("order"))
        same(text(yield* store.get("users.1")), Option.some("plain data"))
        same(text(yield* store.get("persistence.users")), Option.some("the namespace's own name"))
        assert.strictEqual(yield* store.size, 5)
        // The other way round: clearing the id that looks nested leaves its "parent" alone.
        yield* users.set("3", "u3", Option.none())
        yield* nested.clear
        same(yield* users.get("3"), Option.some("u3"))
        same(yield* nested.get("1"), Option.none())
      }).pipe(Effect.scoped, Effect.provide(BackingAndStore(storeLayer))))

    it.effect("failures become PersistenceBackingError with our error as cause", () =>
      Effect.gen(function*() {
        const store = yield* KeyValueStore.KeyValueStore
        const users = yield* Persistence.make(store).make("users")
        // A value that is not JSON.
        yield* store.set("persistence.users.broken", "{not json")
        const broken = yield* Effect.flip(users.get("broken"))
        assert.strictEqual(broken.reason, "BackingError")
        assert.strictEqual(broken.method, "get")
        assert.strictEqual(causeTag(broken), "DecodeError")
        const brokenMany = yield* Effect.flip(users.getMany(["1", "broken"]))
        assert.strictEqual(brokenMany.method, "getMany")
        // A value JSON cannot hold.
        const bigint = yield* Effect.flip(users.set("n", 1n, Option.none()))
        assert.strictEqual(causeTag(bigint), "EncodeError")
        const undef = yield* Effect.flip(users.setMany([["n", undefined, Option.none()]]))
        assert.strictEqual(undef.method, "setMany")
        assert.strictEqual(causeTag(undef), "EncodeError")
        // A key the store refuses.
        const emptyKey = yield* Effect.flip(users.set("", 1, Option.none()))
        assert.strictEqual(causeTag(emptyKey), "InvalidKey")
        // A store that refuses writes.
        const readOnly = yield* Persistence.make(yield* ReadOnly.make(store)).make("users")
        for (
          const [method, effect] of [
            ["set", readOnly.set("k", 1, Option.none())],
            ["setMany", readOnly.setMany([["k", 1, Option.none()]])],
            ["remove", readOnly.remove("k")],
            ["clear", readOnly.clear]
          ] as const
        ) {
          const error = yield* Effect.flip(effect)
          assert.instanceOf(error, ExperimentalPersistence.PersistenceBackingError)
          assert.strictEqual(error.method, method)
          assert.strictEqual(causeTag(error), "ReadOnlyViolation")
        }
        // A store id that cannot be a key prefix.
        const lone = yield* Persistence.make(store).make("\uD800")
        const invalid = yield* Effect.flip(lone.get("k"))
        assert.strictEqual(causeTag(invalid), "InvalidArgument")
      }).pipe(Effect.scoped, Effect.provide(storeLayer())))

    // experimental's PersistedCache test.
    it.effect("PersistedCache runs a lookup once and a new cache reads it back", () =>
      Effect.gen(function*() {
        const persistence = yield* ExperimentalPersistence.ResultPersistence
        const results = yield* persistence.make({ storeId: "users" })
        let invocations = 0
        const lookup = (req: TTLRequest) =>
          Effect.sync(() => {
            invocations++
            return new User({ id: req.id, name: "John" })
          })
        let cache = yield* PersistedCache.make({ storeId: "users", lookup, timeToLive: () => 5000 })
        same(yield* cache.get(new TTLRequest({ id: 1 })), new User({ id: 1, name: "John" }))
        same(
          yield* results.get(new TTLRequest({ id: 1 })),
          Option.some(Exit.succeed(new User({ id: 1, name: "John" })))
        )
        assert.strictEqual(invocations, 1)
        same(yield* cache.get(new TTLRequest({ id: 1 })), new User({ id: 1, name: "John" }))
        assert.strictEqual(invocations, 1)
        cache = yield* PersistedCache.make({ storeId: "users", lookup, timeToLive: () => 5000 })
        same(yield* cache.get(new TTLRequest({ id: 1 })), new User({ id: 1, name: "John" }))
        assert.strictEqual(invocations, 1)
        // The ttl is the store's: once it passed, a new cache (no in-memory copy) looks up again.
        yield* TestClock.adjust("5 seconds")
        same(yield* results.get(new TTLRequest({ id: 1 })), Option.none())
        cache = yield* PersistedCache.make({ storeId: "users", lookup, timeToLive: () => 5000 })
        yield* cache.get(new TTLRequest({ id: 1 }))
        assert.strictEqual(invocations, 2)
        // Failures are persisted too, as exits.
        yield* results.setMany([
          [new TTLRequest({ id: 7 }), Exit.fail("Not found")],
          [new TTLRequest({ id: 8 }), Exit.succeed(new User({ id: 8, name: "Jane" }))]
        ])
        same(yield* results.getMany([new TTLRequest({ id: 7 }), new TTLRequest({ id: 8 })]), [
          Option.some(Exit.fail("Not found")),
          Option.some(Exit.succeed(new User({ id: 8, name: "Jane" })))
        ])
      }).pipe(Effect.scoped, Effect.provide(ResultAndStore(storeLayer))))

    // experimental's RequestResolver.persisted test.
    it.effect("RequestResolver.persisted: batches, per-exit ttl and clear", () =>
      Effect.gen(function*() {
        let count = 0
        const baseResolver = RequestResolver.makeBatched((reqs: Arr.NonEmptyArray<UserRequest | TTLRequest>) => {
          count += reqs.length
          return Effect.forEach(reqs, (req) => {
            if (req.id === -1) return Request.fail(req, "not found")
            return Request.succeed(req, new User({ id: req.id, name: "John" }))
          }, { discard: true })
        })
        const persisted = yield* RequestResolverX.persisted(baseResolver, {
          storeId: "resolver",
          timeToLive: (_req, exit) => Exit.isSuccess(exit) ? 5000 : 1
        })
        const users = () =>
          Effect.forEach(Arr.range(1, 5), (id) => Effect.request(new UserRequest({ id }), persisted), {
            batching: true
          })
        const ttlRequests = () =>
          Effect.forEach(Arr.range(-1, 3), (id) => Effect.exit(Effect.request(new TTLRequest({ id }), persisted)), {
            batching: true
          })
        assert.strictEqual((yield* users()).length, 5)
        assert.strictEqual(count, 5)
        assert.strictEqual((yield* users()).length, 5)
        assert.strictEqual(count, 5)

        let results = yield* ttlRequests()
        assert.strictEqual(count, 10)
        assert.isTrue(Exit.isFailure(results[0]!))
        assert.isTrue(Exit.isSuccess(results[1]!))
        results = yield* ttlRequests()
        assert.strictEqual(count, 10)
        yield* TestClock.adjust(1) // the failure's ttl (1 ms) has passed
        results = yield* ttlRequests()
        assert.strictEqual(count, 11)
        same(results[0], Exit.fail("not found"))
        yield* TestClock.adjust(5000) // and the successes'
        results = yield* ttlRequests()
        assert.strictEqual(count, 16)
        assert.strictEqual(results.length, 5)

        const persistence = yield* ExperimentalPersistence.ResultPersistence
        const store = yield* persistence.make({ storeId: "resolver" })
        yield* store.clear
        assert.strictEqual((yield* users()).length, 5)
        assert.strictEqual(count, 21)
      }).pipe(Effect.scoped, Effect.provide(ResultAndStore(storeLayer))))
  })

cases("MemoryStore", () => MemoryStore.layer())
cases("SqliteStore", () => freshSqliteLayer())

await describeServer("redis", "Persistence on RedisStore", () => cases("RedisStore", () => freshRedisLayer()))
await describeServer(
  "postgres",
  "Persistence on PostgresStore",
  () => cases("PostgresStore", () => freshLayer("postgres"))
)

describe("namespaces and options", () => {
  it.effect("store ids are escaped so that no namespace contains another", () =>
    Effect.gen(function*() {
      const dot = yield* KeyValueStore.KeyValueStore.pipe(Effect.provide(MemoryStore.layer()))
      assert.strictEqual(Persistence.namespace(dot, "users"), "persistence.users.")
      assert.strictEqual(Persistence.namespace(dot, "users.admins"), "persistence.users%sadmins.")
      assert.strictEqual(Persistence.namespace(dot, "100%"), "persistence.100%e.")
      assert.strictEqual(Persistence.namespace(dot, "users", { prefix: "" }), "users.")
      const percent = yield* KeyValueStore.KeyValueStore.pipe(Effect.provide(MemoryStore.layer({ separator: "%" })))
      assert.strictEqual(Persistence.namespace(percent, "a%b~c"), "persistence%a~sb~ec%")
      const ids = ["a", "a.b", "a%sb", "a%", "a%e", "", ".", "%", "a.", ".a"]
      const spaces = ids.map((id) => Persistence.namespace(dot, id))
      for (const [i, one] of spaces.entries()) {
        for (const [j, other] of spaces.entries()) {
          if (i !== j) assert.isFalse(other.startsWith(one), `${ids[i]} / ${ids[j]}`)
        }
      }
    }))

  it.effect("a custom prefix, and an invalid one", () =>
    Effect.gen(function*() {
      const store = yield* KeyValueStore.KeyValueStore
      const users = yield* backingStore("users").pipe(
        Effect.provide(
          Persistence.layer({ prefix: "cache:" }).pipe(Layer.provide(Layer.succeed(KeyValueStore.KeyValueStore, store)))
        )
      )
      yield* users.set("1", "one", Option.none())
      same(text(yield* store.get("cache:users.1")), Option.some(`"one"`))
      const error = yield* Effect.flip(Layer.build(Persistence.layer({ prefix: "\uD800" })))
      assert.strictEqual(error._tag, "InvalidArgument")
    }).pipe(Effect.scoped, Effect.provide(MemoryStore.layer())))
})

describe("a PersistedCache over SqliteStore survives a restart", () => {
  const program = (filename: string, onLookup: () => void) =>
    Effect.gen(function*() {
      const cache = yield* PersistedCache.make({
        storeId: "users",
        lookup: (req: UserRequest) =>
          Effect.sync(() => {
            onLookup()
            return new User({ id: req.id, name: `user ${req.id}` })
          }),
        timeToLive: () => "1 hour"
      })
      return yield* Effect.forEach([1, 2, 3], (id) => cache.get(new UserRequest({ id })))
    }).pipe(
      Effect.scoped,
      Effect.provide(Persistence.layerResult().pipe(Layer.provide(SqliteStore.layer({ filename }))))
    )

  it.effect("the layer closed and built again over the same file", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const filename = path.join(dir, "cache.db")
      let lookups = 0
      const first = yield* program(filename, () => lookups++)
      assert.strictEqual(lookups, 3)
      const second = yield* program(filename, () => lookups++)
      assert.strictEqual(lookups, 3)
      same(second, first)
      // Still under the store's ttl: an hour later every lookup runs again.
      yield* TestClock.adjust("1 hour")
      yield* program(filename, () => lookups++)
      assert.strictEqual(lookups, 6)
    }).pipe(Effect.scoped))

  it.scopedLive("in child processes: the second reads what the first cached", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      const filename = path.join(dir, "cache.db")
      const child = (id: string) =>
        Effect.map(
          Workers.run<{ ok: boolean; lookups: number; users: Array<unknown> }>(script, [[
            JSON.stringify({ id, filename })
          ]]),
          (reports) => reports[0]!
        )
      const first = yield* child("first")
      assert.isTrue(first.ok, JSON.stringify(first))
      assert.strictEqual(first.lookups, 3)
      const second = yield* child("second")
      assert.isTrue(second.ok, JSON.stringify(second))
      assert.strictEqual(second.lookups, 0)
      same(second.users, first.users)
      // And a program in this process reads them too.
      let lookups = 0
      yield* program(filename, () => lookups++)
      assert.strictEqual(lookups, 0)
    }), Workers.testTimeout)
})
