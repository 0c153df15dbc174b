/**
 * The eviction contract every store with `capabilities.eviction` runs: `evictionSuite(name, makeLayer)` builds a store
 * from `makeLayer(limits)` for each case (so every case starts empty, with `TestClock` as the clock) and pins the
 * semantics of `maxEntries`, `maxSize` and the policies through the public service only. Which keys survive a known
 * sequence of writes and reads under `lru` (reads that return the entry and writes are uses), `lfu` (fewest uses, ties
 * to the least recently used, a new entry starts at one use) and `lrs` (writes only); `has`, `ttl` and enumeration are
 * not uses; the entry being written is never the victim; expired entries go before any live one and count as
 * expirations, not evictions; `none` refuses with `StoreFull` and changes nothing; a value larger than `maxSize` is
 * `ValueTooLarge` under every policy; overwrites account for the size difference; removals free room; invalid limits
 * fail the build. A property test runs random sequences against a small reference model of the policies.
 *
 * Deliberately not pinned: how many expired entries a write removes beyond those it needs (a backend may drop them
 * all), so `expirations` is only checked where exactly one entry had expired.
 */
import { assert, describe, it } from "@effect/vitest"
import type { KeyValueStoreError } from "effect-kv"
import { KeyValueStore } from "effect-kv"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { assertSomeBytes } from "./bytes.js"

type Store = KeyValueStore.Service
type StoreError = KeyValueStoreError.KeyValueStoreError
type Limits = KeyValueStore.LimitOptions
type Policy = KeyValueStore.EvictionPolicy
type MakeLayer = (limits: Limits) => Layer.Layer<KeyValueStore.KeyValueStore, unknown>

const evicting: ReadonlyArray<Exclude<Policy, "none">> = ["lru", "lfu", "lrs"]
const policies: ReadonlyArray<Policy> = [...evicting, "none"]

/** The candidates that are present, in the order given; `has` is not a use under any policy. */
const present = (store: Store, candidates: ReadonlyArray<string>) => Effect.filter(candidates, (key) => store.has(key))

const assertPresent = (store: Store, candidates: ReadonlyArray<string>, expected: ReadonlyArray<string>, what = "") =>
  Effect.map(present(store, candidates), (keys) => assert.deepStrictEqual(keys, expected, what))

const setAll = (store: Store, keys: ReadonlyArray<string>, value: KeyValueStore.Value = "v") =>
  Effect.forEach(keys, (key) => store.set(key, value), { discard: true })

/** Under lru and lrs alike, every kind of write makes its key the most recent. */
const writesRefresh = (store: Store) =>
  Effect.gen(function*() {
    yield* setAll(store, ["a", "b", "c"], "1")
    yield* store.set("a", "2")
    yield* store.set("d", "1")
    yield* assertPresent(store, ["a", "b", "c", "d"], ["a", "c", "d"], "after set")
    yield* store.increment("c")
    yield* store.set("e", "1")
    yield* assertPresent(store, ["a", "c", "d", "e"], ["c", "d", "e"], "after increment")
    yield* store.update("d", () => Option.some("9"))
    yield* store.set("f", "1")
    yield* assertPresent(store, ["c", "d", "e", "f"], ["d", "e", "f"], "after update")
    yield* store.append("e", "0")
    yield* store.set("g", "1")
    yield* assertPresent(store, ["d", "e", "f", "g"], ["e", "f", "g"], "after append")
  })

const readAll = (store: Store, keys: ReadonlyArray<string>) =>
  Effect.forEach(keys, (key) => store.get(key), { discard: true })

const evictions = (store: Store) => Effect.map(store.stats, (stats) => stats.evictions)
const expirations = (store: Store) => Effect.map(store.stats, (stats) => stats.expirations)

/** The error of `self`, which must fail (a success is a defect naming `what`). */
const failure = <A>(self: Effect.Effect<A, StoreError>, what: string): Effect.Effect<StoreError> =>
  Effect.flip(self).pipe(Effect.catchAll(() => Effect.dieMessage(`${what}: expected a failure, but it succeeded`)))

const expectTag = <A>(self: Effect.Effect<A, StoreError>, tag: StoreError["_tag"], what: string) =>
  Effect.map(failure(self, what), (error) => {
    assert.strictEqual(error._tag, tag, what)
    return error
  })

const collect = <A, E>(stream: Stream.Stream<A, E>) => Effect.map(Stream.runCollect(stream), Chunk.toArray)

/** Every live entry's key and value size, read without using any entry (needs enumeration). */
const contents = (store: Store) =>
  Effect.map(collect(store.entries()), (rows) => rows.map(([key, value]) => [key, value.byteLength] as const))

/**
 * Registers the eviction contract. `makeLayer(limits)` must build the store with those limits (and its default
 * options otherwise); it is called afresh for every case.
 */
export const evictionSuite = (name: string, makeLayer: MakeLayer): void => {
  const test = (title: string, limits: Limits, body: (store: Store) => Effect.Effect<void, unknown>) =>
    it.effect(title, () => Effect.flatMap(KeyValueStore.KeyValueStore, body).pipe(Effect.provide(makeLayer(limits))))

  describe(`${name}: eviction`, () => {
    describe("options", () => {
      test("reports the eviction capability", {}, (store) =>
        Effect.sync(() => {
          assert.isTrue(store.capabilities.eviction)
        }))

      it.effect("invalid limits fail the build with InvalidArgument, naming the option", () =>
        Effect.gen(function*() {
          const cases: ReadonlyArray<readonly [Limits, string]> = [
            [{ maxEntries: 0 }, "maxEntries"],
            [{ maxEntries: -1 }, "maxEntries"],
            [{ maxEntries: 1.5 }, "maxEntries"],
            [{ maxEntries: Number.NaN }, "maxEntries"],
            [{ maxSize: -1 }, "maxSize"],
            [{ maxSize: 0 }, "maxSize"],
            [{ maxSize: Number.POSITIVE_INFINITY }, "maxSize"],
            [{ maxEntries: 10, eviction: "fifo" as never }, "eviction"]
          ]
          for (const [limits, argument] of cases) {
            const error = yield* Effect.scoped(Effect.flip(Layer.build(makeLayer(limits))))
            const what = JSON.stringify(limits)
            assert.strictEqual((error as { readonly _tag?: unknown })._tag, "InvalidArgument", what)
            assert.strictEqual((error as { readonly argument?: unknown }).argument, argument, what)
          }
        }))

      test(
        "without limits nothing is evicted, whatever the policy",
        { eviction: "lfu" },
        (store) =>
          Effect.gen(function*() {
            yield* store.setMany(Array.from({ length: 2000 }, (_, i) => [`k${i}`, "v".repeat(100)] as const))
            assert.strictEqual(yield* store.size, 2000)
            assert.strictEqual(yield* evictions(store), 0)
          })
      )

      test("the default policy is lru", { maxEntries: 3 }, (store) =>
        Effect.gen(function*() {
          yield* setAll(store, ["a", "b", "c"])
          yield* readAll(store, ["a"])
          yield* store.set("d", "v")
          yield* assertPresent(store, ["a", "b", "c", "d"], ["a", "c", "d"])
        }))
    })

    describe("lru", () => {
      const limits: Limits = { maxEntries: 3, eviction: "lru" }

      test("evicts the least recently written entry when nothing was read", limits, (store) =>
        Effect.gen(function*() {
          yield* setAll(store, ["a", "b", "c", "d"])
          yield* assertPresent(store, ["a", "b", "c", "d"], ["b", "c", "d"])
          assert.strictEqual(yield* evictions(store), 1)
          assert.strictEqual(yield* store.size, 3)
        }))

      test("get, getString, getEntry and getMany hits are uses", limits, (store) =>
        Effect.gen(function*() {
          yield* setAll(store, ["a", "b", "c"])
          yield* store.get("a")
          yield* store.set("d", "v")
          yield* assertPresent(store, ["a", "b", "c", "d"], ["a", "c", "d"], "after get")
          yield* store.getString("c")
          yield* store.set("e", "v")
          yield* assertPresent(store, ["a", "c", "d", "e"], ["c", "d", "e"], "after getString")
          yield* store.getEntry("d")
          yield* store.set("f", "v")
          yield* assertPresent(store, ["c", "d", "e", "f"], ["d", "e", "f"], "after getEntry")
          yield* store.getMany(["e", "missing"])
          yield* store.set("g", "v")
          yield* assertPresent(store, ["d", "e", "f", "g"], ["e", "f", "g"], "after getMany")
          assert.strictEqual(yield* evictions(store), 4)
        }))

      test("writes of any kind are uses", limits, writesRefresh)

      test("has, ttl, a miss and enumeration are not uses", limits, (store) =>
        Effect.gen(function*() {
          yield* setAll(store, ["a", "b", "c"])
          yield* store.has("a")
          yield* store.ttl("a")
          yield* store.get("absent")
          if (store.capabilities.enumeration) {
            yield* collect(store.keys())
            yield* collect(store.entries())
            yield* store.countPattern("**")
          }
          yield* store.set("d", "v")
          yield* assertPresent(store, ["a", "b", "c", "d"], ["b", "c", "d"])
        }))
    })

    describe("lfu", () => {
      const limits: Limits = { maxEntries: 3, eviction: "lfu" }

      test("evicts the least used entry", limits, (store) =>
        Effect.gen(function*() {
          yield* setAll(store, ["a", "b", "c"])
          yield* readAll(store, ["a", "a", "b", "c", "b", "c", "c", "a"])
          // uses: a 4, b 3, c 4
          yield* store.set("d", "v")
          yield* assertPresent(store, ["a", "b", "c", "d"], ["a", "c", "d"])
          assert.strictEqual(yield* evictions(store), 1)
        }))

      test(
        "breaks ties by least recent use, and a new entry starts at one use",
        limits,
        (store) =>
          Effect.gen(function*() {
            yield* setAll(store, ["a", "b", "c"])
            yield* readAll(store, ["a", "b", "c"])
            // a, b and c have two uses each; a was used longest ago. d starts at one use but is being written.
            yield* store.set("d", "v")
            yield* assertPresent(store, ["a", "b", "c", "d"], ["b", "c", "d"], "after d")
            // d, with its single use, is now the least used.
            yield* store.set("e", "v")
            yield* assertPresent(store, ["b", "c", "d", "e"], ["b", "c", "e"], "after e")
            assert.strictEqual(yield* evictions(store), 2)
          })
      )

      test("writes are uses", limits, (store) =>
        Effect.gen(function*() {
          yield* setAll(store, ["a", "b", "c"])
          yield* store.set("a", "again")
          yield* store.set("c", "again")
          yield* store.set("d", "v")
          yield* assertPresent(store, ["a", "b", "c", "d"], ["a", "c", "d"])
        }))

      test("has, ttl, a miss and enumeration are not uses", limits, (store) =>
        Effect.gen(function*() {
          yield* setAll(store, ["a", "b", "c"])
          yield* readAll(store, ["a", "b"])
          for (let i = 0; i < 3; i++) {
            yield* store.has("c")
            yield* store.ttl("c")
          }
          if (store.capabilities.enumeration) {
            yield* collect(store.entries())
            yield* collect(store.keys())
          }
          yield* store.set("d", "v")
          yield* assertPresent(store, ["a", "b", "c", "d"], ["a", "b", "d"])
        }))

      test("a removed and re-added key starts again at one use", limits, (store) =>
        Effect.gen(function*() {
          yield* setAll(store, ["a", "b", "c"])
          yield* readAll(store, ["a", "a", "a", "b", "c"])
          yield* store.remove("a")
          yield* store.set("a", "back")
          yield* store.set("d", "v")
          yield* assertPresent(store, ["a", "b", "c", "d"], ["b", "c", "d"])
        }))
    })

    describe("lrs", () => {
      const limits: Limits = { maxEntries: 3, eviction: "lrs" }

      test("reads are not uses", limits, (store) =>
        Effect.gen(function*() {
          yield* setAll(store, ["a", "b", "c"])
          yield* readAll(store, ["a", "a", "a"])
          yield* store.getEntry("a")
          yield* store.getMany(["a"])
          yield* store.set("d", "v")
          yield* assertPresent(store, ["a", "b", "c", "d"], ["b", "c", "d"])
          assert.strictEqual(yield* evictions(store), 1)
        }))

      test("writes of any kind are stores", limits, writesRefresh)
    })

    describe("none", () => {
      test("a write beyond maxEntries fails with StoreFull and changes nothing", {
        maxEntries: 2,
        eviction: "none"
      }, (store) =>
        Effect.gen(function*() {
          yield* setAll(store, ["a", "b"])
          const error = yield* expectTag(store.set("c", "v"), "StoreFull", "set")
          if (error._tag === "StoreFull") {
            assert.strictEqual(error.method, "set")
            assert.strictEqual(error.key, "c")
            assert.strictEqual(error.limit, "maxEntries")
            assert.strictEqual(error.max, 2)
            assert.strictEqual(error.backend, store.backend)
          }
          yield* expectTag(store.add("c", "v"), "StoreFull", "add")
          yield* expectTag(store.increment("c"), "StoreFull", "increment")
          yield* expectTag(store.append("c", "v"), "StoreFull", "append")
          yield* expectTag(store.update("c", () => Option.some("v")), "StoreFull", "update")
          yield* expectTag(store.compareAndSwap("c", Option.none(), Option.some("v")), "StoreFull", "compareAndSwap")
          yield* expectTag(store.setMany([["c", "v"]]), "StoreFull", "setMany")
          yield* assertPresent(store, ["a", "b", "c"], ["a", "b"])
          assert.strictEqual(yield* store.size, 2)
          assert.strictEqual(yield* evictions(store), 0)
        }))

      test(
        "an overwrite within the limits succeeds",
        { maxEntries: 2, maxSize: 10, eviction: "none" },
        (store) =>
          Effect.gen(function*() {
            yield* setAll(store, ["a", "b"], "12345")
            yield* store.set("a", "abcde")
            yield* store.set("b", "7")
            assert.strictEqual(yield* store.increment("b"), 8n)
            assertSomeBytes(yield* store.get("a"), "abcde")
            assert.strictEqual(yield* evictions(store), 0)
          })
      )

      test("a write beyond maxSize fails with StoreFull; shrinking an entry makes room", {
        maxSize: 10,
        eviction: "none"
      }, (store) =>
        Effect.gen(function*() {
          yield* store.set("a", "123456")
          yield* store.set("b", "1234")
          const error = yield* expectTag(store.set("c", "1"), "StoreFull", "new entry")
          if (error._tag === "StoreFull") {
            assert.strictEqual(error.limit, "maxSize")
            assert.strictEqual(error.max, 10)
          }
          yield* expectTag(store.set("a", "1234567"), "StoreFull", "growing overwrite")
          yield* expectTag(store.append("b", "x"), "StoreFull", "append")
          assertSomeBytes(yield* store.get("a"), "123456")
          assertSomeBytes(yield* store.get("b"), "1234")
          yield* store.set("a", "12345")
          yield* store.set("c", "1")
          yield* assertPresent(store, ["a", "b", "c"], ["a", "b", "c"])
          assert.strictEqual(yield* evictions(store), 0)
        }))

      test("setMany is refused as a whole", { maxEntries: 3, eviction: "none" }, (store) =>
        Effect.gen(function*() {
          yield* store.set("a", "v")
          yield* expectTag(store.setMany([["b", "v"], ["c", "v"], ["d", "v"]]), "StoreFull", "setMany")
          yield* assertPresent(store, ["a", "b", "c", "d"], ["a"])
          yield* store.setMany([["b", "v"], ["c", "v"], ["a", "w"]])
          yield* assertPresent(store, ["a", "b", "c", "d"], ["a", "b", "c"])
        }))

      test(
        "setMany is judged on its final state",
        { maxSize: 10, eviction: "none" },
        (store) =>
          Effect.gen(function*() {
            yield* store.set("a", "123456")
            yield* store.setMany([["b", "12345"], ["a", "1"]])
            yield* store.setMany([["c", "123"], ["c", "1"]])
            assertSomeBytes(yield* store.get("a"), "1")
            assertSomeBytes(yield* store.get("c"), "1")
            const error = yield* expectTag(store.setMany([["d", "1234"], ["e", "1"]]), "StoreFull", "over at the end")
            assert.strictEqual(error.key, "e", "the refusal names the batch's last key")
            yield* assertPresent(store, ["a", "b", "c", "d", "e"], ["a", "b", "c"])
          })
      )

      test("removals make room", { maxEntries: 2, eviction: "none" }, (store) =>
        Effect.gen(function*() {
          yield* setAll(store, ["a", "b"])
          yield* store.remove("a")
          yield* store.set("c", "v")
          assert.strictEqual(yield* store.removeMany(["b", "c"]), 2)
          yield* setAll(store, ["d", "e"])
          yield* store.clear
          yield* setAll(store, ["f", "g"])
          yield* assertPresent(store, ["a", "b", "c", "d", "e", "f", "g"], ["f", "g"])
        }))
    })

    describe("maxSize", () => {
      for (const policy of evicting) {
        const limits: Limits = { maxSize: 10, eviction: policy }

        test(`${policy}: evicts until the values fit`, limits, (store) =>
          Effect.gen(function*() {
            yield* setAll(store, ["a", "b"], "1234")
            yield* store.set("c", "1234")
            yield* assertPresent(store, ["a", "b", "c"], ["b", "c"], "one victim")
            yield* store.set("d", "0123456789")
            yield* assertPresent(store, ["a", "b", "c", "d"], ["d"], "a value of exactly maxSize")
            assert.strictEqual(yield* evictions(store), 3)
          }))

        test(
          `${policy}: growing an entry evicts others, never the entry itself`,
          limits,
          (store) =>
            Effect.gen(function*() {
              yield* setAll(store, ["a", "b"], "1234")
              yield* store.set("b", "12345678")
              yield* assertPresent(store, ["a", "b"], ["b"], "set")
              yield* store.set("a", "1")
              yield* store.append("a", "2")
              yield* assertPresent(store, ["a", "b"], ["a", "b"], "append within the limit")
              yield* store.append("a", "3")
              yield* assertPresent(store, ["a", "b"], ["a"], "append beyond the limit")
              assertSomeBytes(yield* store.get("a"), "123")
            })
        )

        test(`${policy}: shrinking an entry makes room`, limits, (store) =>
          Effect.gen(function*() {
            yield* setAll(store, ["a", "b"], "1234")
            yield* store.set("a", "1")
            yield* store.set("c", "12345")
            yield* assertPresent(store, ["a", "b", "c"], ["a", "b", "c"])
            assert.strictEqual(yield* evictions(store), 0)
          }))

        test(`${policy}: only value bytes count, not keys or metadata`, limits, (store) =>
          Effect.gen(function*() {
            const metadata = store.capabilities.metadata ? { metadata: { note: "x".repeat(100) } } : undefined
            yield* store.set("k".repeat(100), "12345", metadata)
            yield* store.set("j".repeat(100), "12345")
            assert.strictEqual(yield* store.size, 2)
            assert.strictEqual(yield* evictions(store), 0)
          }))
      }

      test(
        "lru under maxSize evicts the least recently used",
        { maxSize: 12, eviction: "lru" },
        (store) =>
          Effect.gen(function*() {
            yield* setAll(store, ["a", "b", "c"], "1234")
            yield* readAll(store, ["a"])
            yield* store.set("d", "12345")
            yield* assertPresent(store, ["a", "b", "c", "d"], ["a", "d"])
          })
      )

      test(
        "lfu under maxSize evicts the least used",
        { maxSize: 12, eviction: "lfu" },
        (store) =>
          Effect.gen(function*() {
            yield* setAll(store, ["a", "b", "c"], "1234")
            yield* readAll(store, ["c", "c", "a", "b", "b"])
            yield* store.set("d", "1234")
            yield* assertPresent(store, ["a", "b", "c", "d"], ["b", "c", "d"])
          })
      )

      test(
        "lrs under maxSize evicts the least recently stored",
        { maxSize: 12, eviction: "lrs" },
        (store) =>
          Effect.gen(function*() {
            yield* setAll(store, ["a", "b", "c"], "1234")
            yield* readAll(store, ["a", "a"])
            yield* store.set("b", "12")
            yield* store.set("d", "1234567")
            yield* assertPresent(store, ["a", "b", "c", "d"], ["b", "d"])
          })
      )
    })

    describe("both limits", () => {
      for (const policy of evicting) {
        test(
          `${policy}: whichever limit is reached evicts`,
          { maxEntries: 3, maxSize: 10, eviction: policy },
          (store) =>
            Effect.gen(function*() {
              const all = ["a", "b", "c", "d", "e", "f", "g"]
              yield* store.set("a", "12345678")
              yield* setAll(store, ["b", "c", "d"], "1")
              yield* assertPresent(store, all, ["b", "c", "d"], "both reached, one victim")
              yield* store.set("e", "1234567")
              yield* assertPresent(store, all, ["c", "d", "e"], "maxEntries")
              yield* store.set("f", "12")
              yield* assertPresent(store, all, ["d", "e", "f"], "maxEntries, then exactly maxSize")
              yield* store.set("g", "12345678")
              yield* assertPresent(store, all, ["f", "g"], "maxSize")
              assert.strictEqual(yield* evictions(store), 5)
            })
        )
      }

      test(
        "none: reports the limit that would be exceeded",
        { maxEntries: 2, maxSize: 4, eviction: "none" },
        (store) =>
          Effect.gen(function*() {
            yield* store.set("a", "12")
            const bySize = yield* expectTag(store.set("b", "123"), "StoreFull", "maxSize")
            if (bySize._tag === "StoreFull") assert.strictEqual(bySize.limit, "maxSize")
            yield* store.set("b", "1")
            const byCount = yield* expectTag(store.set("c", ""), "StoreFull", "maxEntries")
            if (byCount._tag === "StoreFull") assert.strictEqual(byCount.limit, "maxEntries")
            yield* assertPresent(store, ["a", "b", "c"], ["a", "b"])
          })
      )
    })

    describe("victims", () => {
      for (const policy of evicting) {
        test(`${policy}: touch and setMetadata are writes, so uses and stores`, { maxEntries: 3, eviction: policy }, (
          store
        ) =>
          Effect.gen(function*() {
            yield* setAll(store, ["a", "b", "c"])
            yield* store.touch("a", "1 hour")
            yield* store.set("d", "v")
            yield* assertPresent(store, ["a", "b", "c", "d"], ["a", "c", "d"], "after touch")
            if (store.capabilities.metadata) {
              yield* store.setMetadata("c", { m: 1 })
              yield* store.set("e", "v")
              // lfu: a and c were used twice, d once; lru and lrs: a is now the oldest write.
              const kept = policy === "lfu" ? ["a", "c", "e"] : ["c", "d", "e"]
              yield* assertPresent(store, ["a", "c", "d", "e"], kept, "after setMetadata")
            }
          }))
      }

      for (const policy of policies) {
        test(`${policy}: expired entries go first and count as expirations`, {
          maxEntries: 3,
          eviction: policy
        }, (store) =>
          Effect.gen(function*() {
            yield* store.set("x", "v", { ttl: "1 second" })
            yield* setAll(store, ["b", "c"])
            // x is the most recently and most often used live entry, and would be kept but for its expiry.
            yield* readAll(store, ["x", "x", "x"])
            yield* store.set("x", "w", { ttl: "1 second" })
            yield* TestClock.adjust("2 seconds")
            yield* store.set("d", "v")
            assert.strictEqual(yield* expirations(store), 1)
            assert.strictEqual(yield* evictions(store), 0)
            yield* assertPresent(store, ["x", "b", "c", "d"], ["b", "c", "d"])
          }))

        test(
          `${policy}: expired values free their bytes first`,
          { maxSize: 10, eviction: policy },
          (store) =>
            Effect.gen(function*() {
              yield* store.set("a", "123456", { ttl: "1 second" })
              yield* store.set("b", "1234")
              yield* TestClock.adjust("1 second")
              yield* store.set("c", "123456")
              assert.strictEqual(yield* evictions(store), 0)
              yield* assertPresent(store, ["a", "b", "c"], ["b", "c"])
            })
        )

        test(`${policy}: a value larger than maxSize fails with ValueTooLarge and changes nothing`, {
          maxSize: 4,
          eviction: policy
        }, (store) =>
          Effect.gen(function*() {
            yield* setAll(store, ["a", "b"], "12")
            const error = yield* expectTag(store.set("c", "12345"), "ValueTooLarge", "set")
            if (error._tag === "ValueTooLarge") {
              assert.strictEqual(error.limit, 4)
              assert.strictEqual(error.size, 5)
              assert.strictEqual(error.key, "c")
            }
            yield* expectTag(store.set("a", "12345"), "ValueTooLarge", "overwrite")
            yield* expectTag(store.setMany([["d", "1"], ["e", "12345"]]), "ValueTooLarge", "setMany")
            yield* expectTag(store.add("f", "12345"), "ValueTooLarge", "add")
            yield* expectTag(store.update("a", () => Option.some("12345")), "ValueTooLarge", "update")
            yield* expectTag(store.append("a", "123"), "ValueTooLarge", "append")
            yield* expectTag(store.increment("a", 99_999), "ValueTooLarge", "increment")
            yield* assertPresent(store, ["a", "b", "c", "d", "e", "f"], ["a", "b"])
            assertSomeBytes(yield* store.get("a"), "12")
            assert.strictEqual(yield* evictions(store), 0)
          }))
      }

      for (const policy of evicting) {
        test(`${policy}: the entry being written survives, even as the least used`, {
          maxEntries: 2,
          eviction: policy
        }, (store) =>
          Effect.gen(function*() {
            yield* setAll(store, ["a", "b"])
            yield* readAll(store, ["a", "a", "b", "b"])
            yield* store.set("c", "v")
            assert.isTrue(yield* store.has("c"), "set")
            yield* store.setMany([["d", "v"], ["e", "v"], ["f", "v"]])
            // lfu keeps b (three uses); each new entry of the batch evicts the previous one.
            const kept = policy === "lfu" ? ["b", "f"] : ["e", "f"]
            yield* assertPresent(store, ["a", "b", "c", "d", "e", "f"], kept, "setMany")
            yield* store.increment("g")
            assert.isTrue(yield* store.has("g"), "increment")
            assert.strictEqual(yield* store.size, 2)
          }))

        test(`${policy}: counts every eviction, and resetStats zeroes the count`, {
          maxEntries: 2,
          eviction: policy
        }, (store) =>
          Effect.gen(function*() {
            yield* setAll(store, ["a", "b", "c", "d", "e"])
            assert.strictEqual(yield* evictions(store), 3)
            yield* store.resetStats
            assert.strictEqual(yield* evictions(store), 0)
            yield* store.set("f", "v")
            assert.strictEqual(yield* evictions(store), 1)
          }))

        test(
          `${policy}: remove, removeMany and clear free room`,
          { maxEntries: 2, eviction: policy },
          (store) =>
            Effect.gen(function*() {
              yield* setAll(store, ["a", "b"])
              yield* store.remove("a")
              yield* store.set("c", "v")
              yield* assertPresent(store, ["a", "b", "c"], ["b", "c"], "remove")
              yield* store.removeMany(["b", "c"])
              yield* setAll(store, ["d", "e"])
              yield* assertPresent(store, ["d", "e"], ["d", "e"], "removeMany")
              yield* store.clear
              yield* setAll(store, ["f", "g"])
              yield* assertPresent(store, ["f", "g"], ["f", "g"], "clear")
              assert.strictEqual(yield* evictions(store), 0)
            })
        )
      }
    })

    it.effect("random sequences keep the limits and match a reference model of the policies", () =>
      Effect.gen(function*() {
        const runPromise = Runtime.runPromise(yield* Effect.runtime<never>())
        yield* Effect.promise(() =>
          FastCheck.assert(
            FastCheck.asyncProperty(
              limitsArbitrary,
              program,
              (limits, ops) => runPromise(check(makeLayer, limits, ops))
            ),
            { numRuns: 50 }
          )
        )
      }))
  })
}

// The property test: a store and a reference model see the same operations; after each one they must agree on the
// outcome, on which keys are live, and the store must be within its limits.

const modelKeys = ["a", "b", "c", "d", "e"] as const

type Op =
  | { readonly op: "set"; readonly key: string; readonly size: number; readonly ttl: number | undefined }
  | { readonly op: "get"; readonly key: string }
  | { readonly op: "remove"; readonly key: string }
  | { readonly op: "adjust"; readonly millis: number }
  | { readonly op: "check" }

const limitsArbitrary: FastCheck.Arbitrary<Limits> = FastCheck.record({
  maxEntries: FastCheck.option(FastCheck.integer({ min: 1, max: 4 }), { nil: undefined }),
  maxSize: FastCheck.option(FastCheck.integer({ min: 3, max: 12 }), { nil: undefined }),
  eviction: FastCheck.constantFrom<Policy>(...policies)
}).filter((limits) => limits.maxEntries !== undefined || limits.maxSize !== undefined)

const modelKey = FastCheck.constantFrom(...modelKeys)

const program: FastCheck.Arbitrary<ReadonlyArray<Op>> = FastCheck.array(
  FastCheck.oneof(
    {
      arbitrary: FastCheck.record({
        op: FastCheck.constant("set" as const),
        key: modelKey,
        size: FastCheck.integer({ min: 0, max: 6 }),
        ttl: FastCheck.constantFrom(undefined, 1000, 2000)
      }),
      weight: 5
    },
    { arbitrary: FastCheck.record({ op: FastCheck.constant("get" as const), key: modelKey }), weight: 4 },
    { arbitrary: FastCheck.record({ op: FastCheck.constant("remove" as const), key: modelKey }), weight: 1 },
    {
      arbitrary: FastCheck.record({ op: FastCheck.constant("adjust" as const), millis: FastCheck.constant(1000) }),
      weight: 2
    },
    { arbitrary: FastCheck.constant({ op: "check" as const }), weight: 1 }
  ),
  { minLength: 20, maxLength: 50 }
)

interface ModelEntry {
  readonly value: string
  readonly expiresAt: number | null
  lastUse: number
  lastStore: number
  uses: number
}

/** The policies in their plainest form: every victim is found by a scan of all entries. */
class Model {
  readonly entries = new Map<string, ModelEntry>()
  private clock = 0
  private now = 0
  constructor(readonly limits: Limits) {}

  adjust(millis: number): void {
    this.now += millis
  }

  live(): Map<string, ModelEntry> {
    for (const [key, entry] of this.entries) {
      if (entry.expiresAt !== null && entry.expiresAt <= this.now) this.entries.delete(key)
    }
    return this.entries
  }

  get(key: string): string | undefined {
    const entry = this.live().get(key)
    if (entry === undefined) return undefined
    this.clock++
    if (this.limits.eviction === "lru" || this.limits.eviction === undefined) entry.lastUse = this.clock
    if (this.limits.eviction === "lfu") {
      entry.uses++
      entry.lastUse = this.clock
    }
    return entry.value
  }

  remove(key: string): boolean {
    return this.live().delete(key)
  }

  set(key: string, value: string, ttl: number | undefined): "ok" | "ValueTooLarge" | "StoreFull" {
    const entries = this.live()
    const { maxEntries, maxSize } = this.limits
    const size = Buffer.byteLength(value)
    if (maxSize !== undefined && size > maxSize) return "ValueTooLarge"
    const previous = entries.get(key)
    if (this.limits.eviction === "none") {
      const count = entries.size + (previous === undefined ? 1 : 0)
      const bytes = this.bytes() + size - (previous === undefined ? 0 : Buffer.byteLength(previous.value))
      if ((maxEntries !== undefined && count > maxEntries) || (maxSize !== undefined && bytes > maxSize)) {
        return "StoreFull"
      }
    }
    this.clock++
    entries.set(key, {
      value,
      expiresAt: ttl === undefined ? null : this.now + ttl,
      lastUse: this.clock,
      lastStore: this.clock,
      uses: previous === undefined ? 1 : previous.uses + 1
    })
    while (
      (maxEntries !== undefined && entries.size > maxEntries) || (maxSize !== undefined && this.bytes() > maxSize)
    ) {
      let victim: string | undefined
      let best: ModelEntry | undefined
      for (const [other, entry] of entries) {
        if (other !== key && (best === undefined || this.before(entry, best))) {
          victim = other
          best = entry
        }
      }
      if (victim === undefined) break
      entries.delete(victim)
    }
    return "ok"
  }

  bytes(): number {
    let total = 0
    for (const entry of this.entries.values()) total += Buffer.byteLength(entry.value)
    return total
  }

  private before(a: ModelEntry, b: ModelEntry): boolean {
    switch (this.limits.eviction ?? "lru") {
      case "lfu":
        return a.uses < b.uses || (a.uses === b.uses && a.lastUse < b.lastUse)
      case "lrs":
        return a.lastStore < b.lastStore
      default:
        return a.lastUse < b.lastUse
    }
  }
}

const build = (layer: Layer.Layer<KeyValueStore.KeyValueStore, unknown>) =>
  Effect.map(Layer.build(layer), Context.get(KeyValueStore.KeyValueStore))

const outcome = <A>(self: Effect.Effect<A, StoreError>): Effect.Effect<string> =>
  Effect.match(self, { onFailure: (error) => error._tag, onSuccess: () => "ok" })

const check = (makeLayer: MakeLayer, limits: Limits, ops: ReadonlyArray<Op>) =>
  Effect.scoped(Effect.gen(function*() {
    const store = yield* build(makeLayer(limits))
    const model = new Model(limits)
    const trace: Array<string> = [JSON.stringify(limits)]
    const fail = (message: string) => assert.fail(`${message}\n  after: ${trace.join("\n         ")}`)
    // `has` is not a use, but a backend may drop an expired entry it meets: the live keys are compared at "check"
    // steps and at the end only, so that writes also meet expired entries that nothing read.
    const compareLiveKeys = Effect.gen(function*() {
      const live = yield* present(store, modelKeys)
      const expected = modelKeys.filter((key) => model.live().has(key))
      if (JSON.stringify(live) !== JSON.stringify(expected)) {
        fail(`live keys: the store has ${JSON.stringify(live)}, the model ${JSON.stringify(expected)}`)
      }
    })
    for (let i = 0; i < ops.length; i++) {
      const o = ops[i]!
      trace.push(JSON.stringify(o))
      switch (o.op) {
        case "adjust": {
          yield* TestClock.adjust(o.millis)
          model.adjust(o.millis)
          break
        }
        case "set": {
          const value = String(i % 10).repeat(o.size)
          const got = yield* outcome(store.set(o.key, value, o.ttl === undefined ? undefined : { ttl: o.ttl }))
          const want = model.set(o.key, value, o.ttl)
          if (got !== want) fail(`set: the store answered ${got}, the model ${want}`)
          if (got === "ok" && !(yield* store.has(o.key))) fail("the entry just written is absent")
          break
        }
        case "get": {
          const got = Option.getOrUndefined(yield* store.getString(o.key))
          const want = model.get(o.key)
          if (got !== want) fail(`get: the store read ${got}, the model ${want}`)
          break
        }
        case "remove": {
          const got = yield* store.remove(o.key)
          const want = model.remove(o.key)
          if (got !== want) fail(`remove: the store answered ${got}, the model ${want}`)
          break
        }
        case "check": {
          yield* compareLiveKeys
          break
        }
      }
      const size = yield* store.size
      if (size !== model.live().size) fail(`size: the store has ${size} entries, the model ${model.live().size}`)
      if (limits.maxEntries !== undefined && size > limits.maxEntries) fail(`${size} entries`)
      if (store.capabilities.enumeration) {
        const rows = yield* contents(store)
        const bytes = rows.reduce((total, [, n]) => total + n, 0)
        if (limits.maxSize !== undefined && bytes > limits.maxSize) fail(`${bytes} bytes of values`)
      }
    }
    yield* compareLiveKeys
  }))
