/**
 * `Memoize.effect` and `Memoize.promise` over `MemoryStore` under `TestClock`: one computation per key, ttl expiry,
 * cached `undefined`, failures not cached (defects neither) unless `cacheFailures` takes them, `when` (arguments,
 * results, a flag in the store), custom keys, typed results through a schema and the mismatch policy, tags and
 * `keyOf` for invalidation, typed store failures (no silent recompute unless `onReadFailure: "compute"`), and the
 * Promise variant's rejections.
 */
import { assert, describe, it } from "@effect/vitest"
import { KeyValueStore, KeyValueStoreError, Memoize, MemoryStore, TypedStore } from "effect-kv"
import * as Codec from "effect-kv/Codec"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"

/** Runs `f` against a fresh memory store, provided as the `KeyValueStore` too. */
const withStore = <A, E>(f: (store: KeyValueStore.Service) => Effect.Effect<A, E, KeyValueStore.KeyValueStore>) =>
  Effect.flatMap(KeyValueStore.KeyValueStore, f).pipe(Effect.provide(MemoryStore.layer()))

/** A function counting its runs. */
const counted = <Args extends ReadonlyArray<unknown>, A, E = never>(
  body: (...args: Args) => Effect.Effect<A, E>
) =>
  Effect.map(Ref.make(0), (runs) => ({
    runs,
    f: (...args: Args) => Effect.zipRight(Ref.update(runs, (n) => n + 1), body(...args))
  }))

class NotFound extends Schema.TaggedError<NotFound>()("NotFound", { id: Schema.Number }) {}
class Unavailable extends Schema.TaggedError<Unavailable>()("Unavailable", {}) {}

class Account extends Schema.Class<Account>("Account")({
  id: Schema.Number,
  opened: Schema.Date,
  balance: Schema.BigInt
}) {}

describe("Memoize.effect", () => {
  it.effect("computes once per key and reads the store after", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const { f, runs } = yield* counted((a: number, b: { x: string }) => Effect.succeed({ sum: a + b.x.length }))
        const memo = Memoize.effect(f, { namespace: "sum" })
        assert.deepStrictEqual(yield* memo(1, { x: "ab" }), { sum: 3 })
        assert.deepStrictEqual(yield* memo(1, { x: "ab" }), { sum: 3 })
        assert.strictEqual(yield* Ref.get(runs), 1)
        assert.deepStrictEqual(yield* memo(2, { x: "ab" }), { sum: 4 })
        assert.strictEqual(yield* Ref.get(runs), 2)
        assert.isTrue(yield* store.has(yield* memo.keyOf(1, { x: "ab" })))
        assert.strictEqual(yield* memo.keyOf(1, { x: "ab" }), yield* Memoize.keyOf("sum", [1, { x: "ab" }]))
        assert.strictEqual(yield* store.size, 2)
      })
    ))

  it.effect("uses the function's name as the namespace", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const lookupUser = (id: number) => Effect.succeed(`user ${id}`)
        const memo = Memoize.effect(lookupUser)
        yield* memo(7)
        const key = yield* Memoize.keyOf("lookupUser", [7])
        assert.isTrue(key.startsWith("lookupUser."))
        assert.isTrue(yield* store.has(key))
      })
    ))

  it.effect("fails with InvalidArgument, without running f, for an anonymous function or an unhashable argument", () =>
    withStore(() =>
      Effect.gen(function*() {
        const runs = yield* Ref.make(0)
        const anonymous = [(x: number) => Effect.as(Ref.update(runs, (n) => n + 1), x)][0]!
        const error = yield* Effect.flip(Memoize.effect(anonymous)(1))
        assert.strictEqual(error._tag, "InvalidArgument")
        const withFn = Memoize.effect((g: () => number) => Effect.as(Ref.update(runs, (n) => n + 1), g()), {
          namespace: "fn"
        })
        const refused = yield* Effect.flip(withFn(() => 1))
        assert.strictEqual(refused._tag, "InvalidArgument")
        assert.include(refused.message, "a function")
        assert.strictEqual(yield* Ref.get(runs), 0)
      })
    ))

  it.effect("recomputes after the ttl", () =>
    withStore(() =>
      Effect.gen(function*() {
        const { f, runs } = yield* counted((n: number) => Effect.succeed(n * 2))
        const memo = Memoize.effect(f, { namespace: "double", ttl: "1 minute" })
        yield* memo(2)
        yield* TestClock.adjust("59 seconds")
        yield* memo(2)
        assert.strictEqual(yield* Ref.get(runs), 1)
        yield* TestClock.adjust("2 seconds")
        assert.strictEqual(yield* memo(2), 4)
        assert.strictEqual(yield* Ref.get(runs), 2)
      })
    ))

  it.effect("caches undefined results", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const { f, runs } = yield* counted((_: string) => Effect.void)
        const memo = Memoize.effect(f, { namespace: "void" })
        assert.isUndefined(yield* memo("a"))
        assert.isUndefined(yield* memo("a"))
        assert.strictEqual(yield* Ref.get(runs), 1)
        assert.isTrue(yield* store.has(yield* memo.keyOf("a")))
      })
    ))

  it.effect("caches null, false, 0 and empty strings as values", () =>
    withStore(() =>
      Effect.gen(function*() {
        for (const value of [null, false, 0, "", [], {}]) {
          const { f, runs } = yield* counted(() => Effect.succeed(value))
          const memo = Memoize.effect(f, { namespace: `falsy.${JSON.stringify(value)}` })
          yield* memo()
          assert.deepStrictEqual(yield* memo(), value)
          assert.strictEqual(yield* Ref.get(runs), 1, JSON.stringify(value))
        }
      })
    ))

  it.effect("does not cache failures nor defects", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const { f, runs } = yield* counted((id: number) => Effect.fail(new NotFound({ id })))
        const memo = Memoize.effect(f, { namespace: "missing" })
        assert.strictEqual((yield* Effect.flip(memo(1)))._tag, "NotFound")
        assert.strictEqual((yield* Effect.flip(memo(1)))._tag, "NotFound")
        assert.strictEqual(yield* Ref.get(runs), 2)
        const dying = yield* counted((_: number) => Effect.die("boom"))
        const memoDying = Memoize.effect(dying.f, { namespace: "dying" })
        assert.isTrue(Exit.isFailure(yield* Effect.exit(memoDying(1))))
        assert.isTrue(Exit.isFailure(yield* Effect.exit(memoDying(1))))
        assert.strictEqual(yield* Ref.get(dying.runs), 2)
        assert.strictEqual(yield* store.size, 0)
      })
    ))

  it.effect("caches failures its cacheFailures schema takes, for their own ttl, and replays them", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const { f, runs } = yield* counted((id: number): Effect.Effect<string, NotFound | Unavailable> =>
          id < 0 ? Effect.fail(new Unavailable()) : id === 0 ? Effect.die("defect") : Effect.fail(new NotFound({ id }))
        )
        const memo = Memoize.effect(f, {
          namespace: "account",
          ttl: "1 hour",
          cacheFailures: { schema: NotFound, ttl: "10 seconds" }
        })
        const first = yield* Effect.flip(memo(5))
        const replayed = yield* Effect.flip(memo(5))
        assert.strictEqual(yield* Ref.get(runs), 1)
        assert.instanceOf(replayed, NotFound)
        assert.deepStrictEqual(replayed, first)
        assert.strictEqual((replayed as NotFound).id, 5)
        const ttl = yield* store.ttl(yield* memo.keyOf(5))
        assert.isTrue(Option.isSome(ttl))
        yield* TestClock.adjust("11 seconds")
        yield* Effect.flip(memo(5))
        assert.strictEqual(yield* Ref.get(runs), 2)
        // a failure the schema does not take, and a defect, are not cached
        yield* Effect.flip(memo(-1))
        yield* Effect.flip(memo(-1))
        assert.strictEqual(yield* Ref.get(runs), 4)
        yield* Effect.exit(memo(0))
        yield* Effect.exit(memo(0))
        assert.strictEqual(yield* Ref.get(runs), 6)
        assert.isFalse(yield* store.has(yield* memo.keyOf(-1)))
      })
    ))

  it.effect("successes still cache with cacheFailures set, and honour when.result", () =>
    withStore(() =>
      Effect.gen(function*() {
        const { f, runs } = yield* counted((n: number) => Effect.succeed(n))
        const memo = Memoize.effect(f, {
          namespace: "ok",
          cacheFailures: { schema: NotFound },
          when: { result: (n) => n > 0 }
        })
        yield* memo(1)
        yield* memo(1)
        yield* memo(-1)
        yield* memo(-1)
        assert.strictEqual(yield* Ref.get(runs), 3)
      })
    ))

  it.effect("when.args false bypasses the cache; when.result false returns without writing", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const { f, runs } = yield* counted((n: number) => Effect.succeed(n * 10))
        const byArgs = Memoize.effect(f, { namespace: "pred", when: { args: (n) => n !== 13 } })
        assert.strictEqual(yield* byArgs(13), 130)
        assert.strictEqual(yield* byArgs(13), 130)
        assert.strictEqual(yield* Ref.get(runs), 2)
        assert.strictEqual(yield* store.size, 0)
        // a bypassed call does not read either: a value stored under its key is not served
        yield* store.set(yield* byArgs.keyOf(13), "garbage")
        assert.strictEqual(yield* byArgs(13), 130)
        assert.strictEqual(yield* Ref.get(runs), 3)
        yield* store.clear
        yield* Ref.set(runs, 2)
        const memo = Memoize.effect(f, {
          namespace: "pred",
          when: { args: (n) => n !== 13, result: (r) => r < 100 }
        })
        assert.strictEqual(yield* memo(20), 200)
        assert.strictEqual(yield* memo(20), 200)
        assert.strictEqual(yield* Ref.get(runs), 4)
        assert.strictEqual(yield* store.size, 0)
        yield* memo(5)
        yield* memo(5)
        assert.strictEqual(yield* Ref.get(runs), 5)
        assert.strictEqual(yield* store.size, 1)
      })
    ))

  it.effect("a flag in the store switches caching off and on (absent: on)", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const { f, runs } = yield* counted((n: number) => Effect.succeed(n + 1))
        const memo = Memoize.effect(f, { namespace: "flagged", when: { flag: "cache.enabled" } })
        yield* memo(1)
        yield* memo(1)
        assert.strictEqual(yield* Ref.get(runs), 1)
        assert.isTrue(yield* Memoize.isEnabled(store, "cache.enabled"))
        yield* Memoize.disable(store, "cache.enabled")
        assert.isFalse(yield* Memoize.isEnabled(store, "cache.enabled"))
        yield* memo(1)
        yield* memo(2)
        yield* memo(2)
        assert.strictEqual(yield* Ref.get(runs), 4)
        assert.isFalse(yield* store.has(yield* memo.keyOf(2)), "nothing written while off")
        yield* Memoize.enable(store, "cache.enabled")
        yield* memo(1)
        assert.strictEqual(yield* Ref.get(runs), 4, "the entry written before is served again")
        yield* memo(2)
        yield* memo(2)
        assert.strictEqual(yield* Ref.get(runs), 5)
        // any value but `false` means on; removing the flag means on
        yield* store.set("cache.enabled", "no")
        yield* memo(2)
        yield* Memoize.disable(store, "cache.enabled")
        yield* store.remove("cache.enabled")
        yield* memo(2)
        assert.strictEqual(yield* Ref.get(runs), 5)
      })
    ))

  it.effect("a custom key function gives the whole key", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const { f, runs } = yield* counted((query: string, page: number) => Effect.succeed(`${query}:${page}`))
        const memo = Memoize.effect(f, { key: (query) => `search.${query}` })
        assert.strictEqual(yield* memo("cats", 1), "cats:1")
        assert.strictEqual(yield* memo("cats", 2), "cats:1")
        assert.strictEqual(yield* Ref.get(runs), 1)
        assert.deepStrictEqual(Array.from(yield* Stream.runCollect(store.keys())), ["search.cats"])
        assert.strictEqual(yield* memo.keyOf("dogs", 1), "search.dogs")
        const throwing = Memoize.effect(f, {
          key: () => {
            throw new Error("no key")
          }
        })
        const error = yield* Effect.flip(throwing("x", 1))
        assert.strictEqual(error._tag, "InvalidArgument")
        assert.include(error.message, "no key")
      })
    ))

  it.effect("typed results round-trip through a schema, in the typed-store envelope", () =>
    withStore((store) =>
      Effect.gen(function*() {
        for (const codec of [Codec.json, Codec.msgpack]) {
          const { f, runs } = yield* counted((id: number) =>
            Effect.succeed(new Account({ id, opened: new Date(1_000), balance: 2n ** 70n }))
          )
          const memo = Memoize.effect(f, { namespace: `account.${codec.name}`, schema: Account, codec, version: 3 })
          yield* memo(1)
          const back = yield* memo(1)
          assert.strictEqual(yield* Ref.get(runs), 1)
          assert.instanceOf(back, Account)
          assert.instanceOf(back.opened, Date)
          assert.strictEqual(back.balance, 2n ** 70n)
          const bytes = Option.getOrThrow(yield* store.get(yield* memo.keyOf(1)))
          assert.strictEqual(bytes[0], 0xc1)
          assert.strictEqual(bytes[1], codec.id)
          assert.strictEqual(bytes[2], 3)
        }
      })
    ))

  it.effect("a stored value it cannot read is recomputed and overwritten; onMismatch: fail reports it", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const { f, runs } = yield* counted((id: number) =>
          Effect.succeed(new Account({ id, opened: new Date(0), balance: 1n }))
        )
        const memo = Memoize.effect(f, { namespace: "acc", schema: Account })
        const key = yield* memo.keyOf(1)
        // garbage, another schema version, and a payload of the wrong shape under this version
        const other = TypedStore.make(store, Schema.Array(Schema.Unknown), { version: 1 })
        for (
          const write of [
            store.set(key, "garbage"),
            TypedStore.make(store, Schema.Array(Schema.Unknown), { version: 2 }).set(key, [{}]),
            other.set(key, [{ id: "not a number" }])
          ]
        ) {
          yield* write
          assert.strictEqual((yield* memo(1)).id, 1)
        }
        assert.strictEqual(yield* Ref.get(runs), 3)
        yield* memo(1)
        assert.strictEqual(yield* Ref.get(runs), 3, "the recomputed value was written")
        const strict = Memoize.effect(f, { namespace: "acc", schema: Account, onMismatch: "fail" })
        yield* other.set(key, [{ id: "not a number" }])
        const error = yield* Effect.flip(strict(1))
        assert.strictEqual(error._tag, "DecodeError")
        yield* store.set(key, "garbage")
        assert.strictEqual((yield* Effect.flip(strict(1)))._tag, "DecodeError")
        assert.strictEqual(yield* Ref.get(runs), 3)
      })
    ))

  it.effect("a result JSON cannot hold, without a schema, fails with EncodeError", () =>
    withStore(() =>
      Effect.gen(function*() {
        const memo = Memoize.effect((n: number) => Effect.succeed(new Map([[n, n]])), { namespace: "map" })
        assert.strictEqual((yield* Effect.flip(memo(1)))._tag, "EncodeError")
        const nan = Memoize.effect((_: number) => Effect.succeed(Number.NaN), { namespace: "nan" })
        assert.strictEqual((yield* Effect.flip(nan(1)))._tag, "EncodeError")
      })
    ))

  it.effect("tags and keyOf invalidate memoized results", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const { f, runs } = yield* counted((id: number) => Effect.succeed(id))
        const memo = Memoize.effect(f, { namespace: "tagged", tags: ["users"] })
        yield* memo(1)
        yield* memo(2)
        assert.strictEqual(yield* store.removeTag("users"), 2)
        yield* memo(1)
        yield* memo(2)
        assert.strictEqual(yield* Ref.get(runs), 4)
        assert.isTrue(yield* store.remove(yield* Memoize.keyOf("tagged", [1])))
        yield* memo(1)
        yield* memo(2)
        assert.strictEqual(yield* Ref.get(runs), 5)
      })
    ))

  it.effect("a store option needs no KeyValueStore in context", () =>
    Effect.gen(function*() {
      const store = yield* MemoryStore.make()
      const { f, runs } = yield* counted((n: number) => Effect.succeed(n))
      const memo = Memoize.effect(f, { namespace: "explicit", store })
      yield* memo(1)
      yield* memo(1)
      assert.strictEqual(yield* Ref.get(runs), 1)
      assert.strictEqual(yield* store.size, 1)
    }).pipe(Effect.scoped))

  it.effect("a store failure fails the call typed and does not run f, unless onReadFailure: compute", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const broken: KeyValueStore.Service = {
          ...store,
          get: (key) => Effect.fail(new KeyValueStoreError.BackendError({ method: "get", key, backend: "test" }))
        }
        const { f, runs } = yield* counted((n: number) => Effect.succeed(n))
        const memo = Memoize.effect(f, { namespace: "broken", store: broken })
        assert.strictEqual((yield* Effect.flip(memo(1)))._tag, "BackendError")
        assert.strictEqual(yield* Ref.get(runs), 0)
        const lenient = Memoize.effect(f, { namespace: "broken", store: broken, onReadFailure: "compute" })
        assert.strictEqual(yield* lenient(1), 1)
        assert.strictEqual(yield* Ref.get(runs), 1)
        // a flag that cannot be read: a failure, or (compute) caching off
        const flagged = Memoize.effect(f, { namespace: "broken", store: broken, when: { flag: "flag" } })
        assert.strictEqual((yield* Effect.flip(flagged(1)))._tag, "BackendError")
        const flaggedLenient = Memoize.effect(f, {
          namespace: "broken",
          store: broken,
          when: { flag: "flag" },
          onReadFailure: "compute"
        })
        assert.strictEqual(yield* flaggedLenient(1), 1)
        assert.strictEqual(yield* Ref.get(runs), 2)
        // a write failure is typed too
        const readOnly: KeyValueStore.Service = {
          ...store,
          set: (key) => Effect.fail(new KeyValueStoreError.ReadOnlyViolation({ method: "set", key }))
        }
        const memoRO = Memoize.effect(f, { namespace: "ro", store: readOnly })
        assert.strictEqual((yield* Effect.flip(memoRO(1)))._tag, "ReadOnlyViolation")
      })
    ))
})

describe("Memoize.promise", () => {
  it.effect("caches through the runtime's store, rejects with f's own error or the typed store error", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const runtime = yield* Effect.runtime<KeyValueStore.KeyValueStore>()
        let calls = 0
        class Boom extends Error {}
        const fetchJson = async (url: string, fail?: boolean) => {
          calls++
          if (fail) throw new Boom(url)
          return { url, at: calls }
        }
        const memo = Memoize.promise(fetchJson, { runtime, ttl: "1 minute" })
        const a = yield* Effect.promise(() => memo("a"))
        const b = yield* Effect.promise(() => memo("a"))
        assert.deepStrictEqual(a, b)
        assert.strictEqual(calls, 1)
        assert.isTrue(yield* store.has(yield* Memoize.keyOf("fetchJson", ["a"])))
        const rejected = yield* Effect.promise(() => memo("b", true).then(() => undefined, (e: unknown) => e))
        assert.instanceOf(rejected, Boom)
        yield* Effect.promise(() => memo("b", true).catch(() => undefined))
        assert.strictEqual(calls, 3, "rejections are not cached")
        const broken: KeyValueStore.Service = {
          ...store,
          get: (key) => Effect.fail(new KeyValueStoreError.BackendError({ method: "get", key, backend: "test" }))
        }
        const onBroken = Memoize.promise(fetchJson, { store: broken, runtime })
        const storeError = yield* Effect.promise(() => onBroken("c").then(() => undefined, (e: unknown) => e))
        assert.instanceOf(storeError, KeyValueStoreError.BackendError)
        assert.strictEqual(calls, 3)
      })
    ))

  it.effect("caches rejections its cacheFailures schema takes", () =>
    withStore(() =>
      Effect.gen(function*() {
        const runtime = yield* Effect.runtime<KeyValueStore.KeyValueStore>()
        let calls = 0
        const load = async (id: number): Promise<string> => {
          calls++
          throw new NotFound({ id })
        }
        const memo = Memoize.promise(load, { runtime, cacheFailures: { schema: NotFound, ttl: "1 minute" } })
        const first = yield* Effect.promise(() => memo(4).then(() => undefined, (e: unknown) => e))
        const second = yield* Effect.promise(() => memo(4).then(() => undefined, (e: unknown) => e))
        assert.instanceOf(first, NotFound)
        assert.instanceOf(second, NotFound)
        assert.strictEqual((second as NotFound).id, 4)
        assert.strictEqual(calls, 1)
      })
    ))

  it("runs without a runtime when a store is given", async () => {
    const store = await Effect.runPromise(Effect.scoped(MemoryStore.make()))
    let calls = 0
    const memo = Memoize.promise(async (n: number) => {
      calls++
      return n * 2
    }, { namespace: "double", store })
    assert.strictEqual(await memo(2), 4)
    assert.strictEqual(await memo(2), 4)
    assert.strictEqual(calls, 1)
  })
})
