/**
 * MemoryStore-specific behaviour beyond the contract suite: the scoped sweeper (driven by `TestClock`, observed
 * through `stats.expirations` and `expire`, which counts what the sweeper left behind), its bounded work per tick and
 * its end with the scope; the eviction contract and the limit bookkeeping of every way an entry leaves the store; the
 * sorted key index (UTF-8 byte order, cursor pages through the primitives, 100 000 keys); and the isolation of stored
 * bytes from the caller's buffers.
 */
import { assert, describe, it } from "@effect/vitest"
import { type KeyValueStore, MemoryStore } from "effect-kv"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FastCheck from "effect/FastCheck"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { assertSomeBytes } from "../contract/bytes.js"
import { evictionSuite } from "../contract/eviction.js"
import { churn, peak, show, steps, sweepWatched } from "./fixtures/churn.js"
import { invalidStoreOptions } from "./fixtures/options.js"

evictionSuite("MemoryStore", (limits) => MemoryStore.layer(limits))

const byUtf8 = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b))

const collect = <A, E>(stream: Stream.Stream<A, E>) => Effect.map(Stream.runCollect(stream), Chunk.toArray)

/** Characters around the places where UTF-16 order and UTF-8 byte order part. */
const orderUnits = ["a", "b", ".", "é", "\uD7FF", "\uE000", "\uFF21", "\uFFFF", "\u{10000}", "\u{1F600}", "\u{10FFFF}"]

const expirations = (store: { readonly stats: Effect.Effect<{ readonly expirations: number }> }) =>
  Effect.map(store.stats, (stats) => stats.expirations)

describe("MemoryStore", () => {
  describe("sweeper", () => {
    it.scoped("removes expired entries on its tick without any read", () =>
      Effect.gen(function*() {
        const store = yield* MemoryStore.make({ sweepInterval: "1 second" })
        yield* store.setMany([
          ["a", "1", { ttl: "500 millis" }],
          ["b", "2", { ttl: "500 millis" }],
          ["c", "3", { ttl: "3 seconds" }],
          ["d", "4"]
        ])
        yield* TestClock.adjust("999 millis")
        assert.strictEqual(yield* expirations(store), 0)
        yield* TestClock.adjust("1 millis")
        assert.strictEqual(yield* expirations(store), 2)
        yield* TestClock.adjust("2 seconds")
        assert.strictEqual(yield* expirations(store), 3)
        assert.strictEqual(yield* store.expire, 0)
        assert.strictEqual(yield* store.size, 1)
      }))

    it.scoped("runs once a minute by default", () =>
      Effect.gen(function*() {
        const store = yield* MemoryStore.make()
        yield* store.set("a", "1", { ttl: "1 second" })
        yield* TestClock.adjust("59 seconds")
        assert.strictEqual(yield* expirations(store), 0)
        yield* TestClock.adjust("1 second")
        assert.strictEqual(yield* expirations(store), 1)
      }))

    it.scoped("one sweep clears the whole backlog in slices of sweepBatch, other fibers running between slices", () =>
      Effect.gen(function*() {
        const total = 50_000
        const batch = 1000
        const store = yield* MemoryStore.make({ sweepInterval: "1 second", sweepBatch: batch })
        yield* store.setMany(Array.from({ length: total }, (_, i) => [`k${i}`, "v", { ttl: "100 millis" }] as const))
        const seen = yield* sweepWatched(store, total, "1 second")
        assert.strictEqual(seen[seen.length - 1], total, "the first sweep removed every expired entry")
        assert.isAtMost(Math.max(...steps(seen)), batch, "no slice removed more than sweepBatch entries")
        assert.isAtLeast(seen.length, total / batch / 2, "the other fiber ran between slices")
        assert.strictEqual((yield* store.check()).expiredPending, 0)
      }))

    it.scoped("a stream of short-lived unique keys leaves a bounded backlog (1000 writes a simulated second)", () =>
      Effect.gen(function*() {
        const store = yield* MemoryStore.make()
        const pending = Effect.map(store.check(), (report) => report.expiredPending)
        const series = yield* churn({ store, seconds: 120, perSecond: 1000, pending })
        // Each second's keys expire within it; the next second's writes reclaim them, two per write.
        assert.isAtMost(peak(series), 1000, `expired entries held: ${show(series)}`)
        yield* TestClock.adjust("1 minute")
        assert.strictEqual(yield* pending, 0, "the sweeper removes the rest once writes stop")
      }))

    it.scoped("writes reclaim expired entries even when the sweeper never runs", () =>
      Effect.gen(function*() {
        const store = yield* MemoryStore.make({ sweepInterval: "1000 days" })
        const pending = Effect.map(store.check(), (report) => report.expiredPending)
        const series = yield* churn({ store, seconds: 100, perSecond: 1000, tags: ["t"], pending })
        assert.isAtMost(peak(series), 1000, `expired entries held: ${show(series)}`)
        // touch gives entries an expiry too, and reclaims as a write does
        for (let i = 0; i < 2000; i++) yield* store.set(`plain.${i}`, "v")
        for (let i = 0; i < 2000; i++) yield* store.touch(`plain.${i}`, "50 millis")
        yield* TestClock.adjust("1 second")
        for (let i = 0; i < 1500; i++) yield* store.touch(`plain.${i}`, "50 millis")
        assert.isAtMost(yield* pending, 500)
        assert.strictEqual(yield* store.removeTag("t"), 0, "the tags of reclaimed entries went with them")
      }))

    it.effect("stops when its scope closes", () =>
      Effect.gen(function*() {
        const scope = yield* Scope.make()
        const store = yield* MemoryStore.make({ sweepInterval: "1 second" }).pipe(Scope.extend(scope))
        yield* store.set("a", "1", { ttl: "500 millis" })
        yield* TestClock.adjust("1 second")
        assert.strictEqual(yield* expirations(store), 1)
        yield* store.set("b", "2", { ttl: "500 millis" })
        yield* Scope.close(scope, Exit.void)
        yield* TestClock.adjust("1 minute")
        assert.strictEqual(yield* expirations(store), 1)
        assert.strictEqual(yield* store.expire, 1)
      }))
  })

  describe("maxEntries", () => {
    it.scoped("evicts the least recently written entry when nothing was read", () =>
      Effect.gen(function*() {
        const store = yield* MemoryStore.make({ maxEntries: 3 })
        yield* store.setMany([["a", "1"], ["b", "2"], ["c", "3"]])
        assert.strictEqual((yield* store.stats).evictions, 0)
        yield* store.set("d", "4")
        assert.strictEqual(yield* store.size, 3)
        assert.isFalse(yield* store.has("a"))
        assert.strictEqual((yield* store.stats).evictions, 1)
      }))

    it.scoped("a read makes an entry recently used", () =>
      Effect.gen(function*() {
        const store = yield* MemoryStore.make({ maxEntries: 3 })
        yield* store.setMany([["a", "1"], ["b", "2"], ["c", "3"]])
        assertSomeBytes(yield* store.get("a"), "1")
        yield* store.set("d", "4")
        assert.isFalse(yield* store.has("b"))
        assert.isTrue(yield* store.has("a"))
        assert.isTrue(yield* store.has("c"))
        assert.isTrue(yield* store.has("d"))
        assert.strictEqual((yield* store.stats).evictions, 1)
      }))

    it.scoped("an overwrite makes an entry recently used", () =>
      Effect.gen(function*() {
        const store = yield* MemoryStore.make({ maxEntries: 2 })
        yield* store.setMany([["a", "1"], ["b", "2"]])
        yield* store.set("a", "again")
        yield* store.set("c", "3")
        assert.isFalse(yield* store.has("b"))
        assertSomeBytes(yield* store.get("a"), "again")
      }))

    it.scoped("counts every eviction, and resetStats zeroes the count", () =>
      Effect.gen(function*() {
        const store = yield* MemoryStore.make({ maxEntries: 2 })
        yield* store.setMany(["a", "b", "c", "d", "e"].map((key) => [key, key] as const))
        assert.strictEqual(yield* store.size, 2)
        assert.isTrue(yield* store.has("d"))
        assert.isTrue(yield* store.has("e"))
        assert.strictEqual((yield* store.stats).evictions, 3)
        yield* store.resetStats
        assert.strictEqual((yield* store.stats).evictions, 0)
      }))

    it.scoped("without maxEntries nothing is evicted", () =>
      Effect.gen(function*() {
        const store = yield* MemoryStore.make()
        yield* store.setMany(Array.from({ length: 10_000 }, (_, i) => [`k${i}`, "v"] as const))
        assert.strictEqual(yield* store.size, 10_000)
        assert.strictEqual((yield* store.stats).evictions, 0)
      }))
  })

  describe("limit bookkeeping", () => {
    it.scoped("entries removed by the sweeper free their bytes and their place", () =>
      Effect.gen(function*() {
        const store = yield* MemoryStore.make({ maxEntries: 2, maxSize: 10, sweepInterval: "1 second" })
        yield* store.set("a", "123456", { ttl: "500 millis" })
        yield* store.set("b", "1234")
        yield* TestClock.adjust("1 second")
        assert.strictEqual(yield* expirations(store), 1)
        yield* store.set("c", "123456")
        assert.strictEqual((yield* store.stats).evictions, 0)
        assert.isTrue(yield* store.has("b"))
      }))

    for (const policy of ["lru", "lfu", "lrs", "none"] as const) {
      it.scoped(`${policy}: removeTag, removePattern, pop, compareAndSwap and update free room`, () =>
        Effect.gen(function*() {
          const store = yield* MemoryStore.make({ maxEntries: 6, maxSize: 12, eviction: policy })
          yield* store.set("t1", "12", { tags: ["t"] })
          yield* store.set("t2", "12", { tags: ["t"] })
          yield* store.setMany([["p.1", "12"], ["p.2", "12"], ["q", "12"], ["r", "12"]])
          assert.strictEqual(yield* store.removeTag("t"), 2)
          assert.strictEqual(yield* store.removePattern("p.*"), 2)
          assertSomeBytes(yield* store.pop("q"), "12")
          assert.isTrue(yield* store.compareAndSwap("r", Option.some("12"), Option.none()))
          yield* store.setMany([["a", "12"], ["b", "12"], ["c", "12"], ["d", "12"], ["e", "12"], ["f", "12"]])
          yield* store.update("f", () => Option.none())
          yield* store.set("g", "12")
          assert.strictEqual(yield* store.size, 6)
          assert.strictEqual((yield* store.stats).evictions, 0)
        }))
    }

    it.scoped("touch keeps the size and moves the expiry the limits see", () =>
      Effect.gen(function*() {
        const store = yield* MemoryStore.make({ maxEntries: 2, eviction: "none" })
        yield* store.set("a", "1", { ttl: "1 second" })
        yield* store.set("b", "1")
        assert.isTrue(yield* store.touch("a", "1 minute"))
        yield* TestClock.adjust("2 seconds")
        const error = yield* Effect.flip(store.set("c", "1"))
        assert.strictEqual(error._tag, "StoreFull")
        assert.isTrue(yield* store.touch("a", "1 second"))
        yield* TestClock.adjust("2 seconds")
        yield* store.set("c", "1")
        assert.deepStrictEqual(yield* collect(store.keys()), ["b", "c"])
      }))
  })

  describe("key order", () => {
    it.scoped("keys() yields UTF-8 byte (code point) order, not UTF-16 order", () =>
      Effect.gen(function*() {
        const store = yield* MemoryStore.make()
        const keys = ["b", "\u{1F600}", "a", "\uFF21", "a\u{1F600}", "a\uFF21", "aa", "\uE000", "\uD7FF", "\u{10FFFF}"]
        yield* store.setMany(keys.map((key) => [key, "v"] as const))
        const listed = yield* collect(store.keys())
        assert.deepStrictEqual(listed, [
          "a",
          "aa",
          "a\uFF21",
          "a\u{1F600}",
          "b",
          "\uD7FF",
          "\uE000",
          "\uFF21",
          "\u{1F600}",
          "\u{10FFFF}"
        ])
        assert.deepStrictEqual(listed, [...keys].sort(byUtf8))
        assert.deepStrictEqual(
          (yield* collect(store.entries())).map(([key]) => key),
          listed,
          "entries"
        )
      }))

    it.scoped("a prefix page starts strictly after its cursor, inside or outside the prefix", () =>
      Effect.gen(function*() {
        const store = yield* MemoryStore.make()
        const scan = store.primitives.scanKeys!
        yield* store.setMany(
          ["u.a", "u.b", "u.\uFF21", "u.\u{1F600}", "u.\u{1F600}x", "v.a", "t.z", "u"].map((key) => [key, "v"] as const)
        )
        assert.deepStrictEqual(yield* scan({ prefix: "u.", after: undefined, limit: 2 }, 0), ["u.a", "u.b"])
        assert.deepStrictEqual(yield* scan({ prefix: "u.", after: "u.b", limit: 2 }, 0), ["u.\uFF21", "u.\u{1F600}"])
        assert.deepStrictEqual(yield* scan({ prefix: "u.", after: "u.\u{1F600}", limit: 5 }, 0), ["u.\u{1F600}x"])
        assert.deepStrictEqual(yield* scan({ prefix: "u.", after: "u.\uFFFF", limit: 5 }, 0), [
          "u.\u{1F600}",
          "u.\u{1F600}x"
        ])
        assert.deepStrictEqual(yield* scan({ prefix: "u.", after: "t", limit: 1 }, 0), ["u.a"], "cursor before")
        assert.deepStrictEqual(yield* scan({ prefix: "u.", after: "v", limit: 5 }, 0), [], "cursor beyond")
        assert.deepStrictEqual(yield* scan({ prefix: "u.", after: undefined, limit: 0 }, 0), [], "limit 0")
        const entries = yield* store.primitives.scanEntries!({ prefix: "u.", after: "u.a", limit: 1 }, 0)
        assert.deepStrictEqual(entries.map(([key]) => key), ["u.b"])
        assertSomeBytes(Option.some(entries[0]![1]), "v")
      }))

    it.scoped("pages, counts and range removal skip expired entries", () =>
      Effect.gen(function*() {
        const store = yield* MemoryStore.make()
        const p = store.primitives
        yield* store.setMany([["k.1", "v"], ["k.2", "v", { ttl: "1 second" }], ["k.3", "v"], ["l", "v"]])
        yield* TestClock.adjust("1 second")
        const now = 1000
        assert.deepStrictEqual(yield* p.scanKeys!({ prefix: "k.", after: undefined, limit: 2 }, now), ["k.1", "k.3"])
        assert.strictEqual(yield* p.countRange!({ prefix: "k.", after: undefined }, now), 2)
        assert.strictEqual(yield* p.countRange!({ prefix: "", after: undefined }, now), 3)
        assert.strictEqual(yield* p.countRange!({ prefix: "k.", after: "k.1" }, now), 1)
        assert.strictEqual(yield* p.removeRange!({ prefix: "k.", after: "k.1" }, now), 1)
        assert.strictEqual(yield* p.removeRange!({ prefix: "k.", after: undefined }, now), 1)
        assert.deepStrictEqual(yield* collect(store.keys()), ["l"])
        assert.strictEqual(yield* store.expire, 0, "the expired k.2 went with its prefix")
      }))

    it.effect("random keys and ranges page like a sort by UTF-8 bytes", () =>
      Effect.gen(function*() {
        const unit = FastCheck.constantFrom(...orderUnits)
        const text = (maxLength: number) => FastCheck.array(unit, { maxLength }).map((units) => units.join(""))
        const arbitrary = FastCheck.record({
          keys: FastCheck.uniqueArray(text(4).filter((key) => key.length > 0), { maxLength: 30 }),
          prefix: text(2),
          after: FastCheck.option(text(4), { nil: undefined }),
          limit: FastCheck.integer({ min: 1, max: 8 })
        })
        FastCheck.assert(
          FastCheck.property(arbitrary, ({ after, keys, limit, prefix }) =>
            Effect.runSync(Effect.scoped(Effect.gen(function*() {
              const store = yield* MemoryStore.make()
              yield* store.setMany(keys.map((key) =>
                [key, "v"] as const
              ))
              const sorted = [...keys].sort(byUtf8)
              assert.deepStrictEqual(yield* collect(store.keys()), sorted)
              const expected = sorted
                .filter((key) => key.startsWith(prefix) && (after === undefined || byUtf8(key, after) > 0))
                .slice(0, limit)
              assert.deepStrictEqual(yield* store.primitives.scanKeys!({ prefix, after, limit }, 0), expected)
              assert.strictEqual(
                yield* store.primitives.countRange!({ prefix, after }, 0),
                sorted.filter((key) => key.startsWith(prefix) && (after === undefined || byUtf8(key, after) > 0))
                  .length
              )
            })))),
          { numRuns: 200 }
        )
      }))

    it.scoped("keys written and removed between pages, or churned without any enumeration, are listed once", () =>
      Effect.gen(function*() {
        const store = yield* MemoryStore.make()
        const live = new Set<string>()
        const listed = () => collect(store.keys())
        const expected = () => [...live].sort(byUtf8)
        for (const key of ["m", "c", "x"]) {
          yield* store.set(key, "v")
          live.add(key)
        }
        assert.deepStrictEqual(yield* listed(), expected())
        yield* store.remove("c")
        yield* store.set("c", "again")
        yield* store.set("a\u{1F600}", "v")
        yield* store.remove("x")
        live.add("a\u{1F600}")
        live.delete("x")
        assert.deepStrictEqual(yield* listed(), expected())
        // Thousands of keys come and go with no enumeration in between; a few stay.
        for (let i = 0; i < 5000; i++) {
          yield* store.set(`churn.${i}`, "v")
          if (i % 1000 === 0) live.add(`churn.${i}`)
          else yield* store.remove(`churn.${i}`)
          if (i % 7 === 0) yield* store.set("m", String(i))
        }
        assert.deepStrictEqual(yield* listed(), expected())
        assert.strictEqual(yield* store.countPattern("churn.*"), 5)
        assert.strictEqual(yield* store.removePattern("churn.*"), 5)
        for (let i = 0; i < 5; i++) live.delete(`churn.${i * 1000}`)
        assert.deepStrictEqual(yield* listed(), expected())
      }))

    it.scoped("100 000 keys page through the index in order, in time that grows with the keys, not their square", () =>
      Effect.gen(function*() {
        const key = (i: number) => `key.${String(i).padStart(6, "0")}`
        // n keys written in a scattered order (7919 is prime to both sizes), so that sorting the keys per page would
        // cost a real sort.
        const filled = (n: number) =>
          Effect.gen(function*() {
            const store = yield* MemoryStore.make()
            for (let start = 0; start < n; start += 10_000) {
              yield* store.setMany(
                Array.from({ length: Math.min(10_000, n) }, (_, i) => [key(((start + i) * 7919) % n), "v"] as const)
              )
            }
            return store
          })
        // The best of three full enumerations, each checked for order and completeness.
        const enumerate = (store: KeyValueStore.Service, n: number) =>
          Effect.gen(function*() {
            let best = Infinity
            for (let round = 0; round < 3; round++) {
              const started = performance.now()
              let previous = ""
              let count = 0
              yield* Stream.runForEach(store.keys(), (k) =>
                Effect.sync(() => {
                  if (!(k > previous)) assert.fail(`${k} after ${previous}`)
                  previous = k
                  count++
                }))
              best = Math.min(best, performance.now() - started)
              assert.strictEqual(count, n)
              assert.strictEqual(previous, key(n - 1))
            }
            return best
          })
        const large = yield* filled(100_000)
        const small = yield* filled(10_000)
        const tLarge = yield* enumerate(large, 100_000)
        const tSmall = yield* enumerate(small, 10_000)
        assert.strictEqual(yield* Stream.runCount(large.keys("key.09*")), 10_000)
        assert.strictEqual(yield* large.countPattern("key.**"), 100_000)
        // Not a timing goal but a growth rate, measured against the same store at a tenth of the size in the same
        // test (so the machine's load cancels out): pages of O(log n + 1000) make ten times the keys cost about ten
        // times as much; sorting every key for every page would make it about a hundred and twenty times.
        assert.isBelow(
          tLarge / Math.max(tSmall, 1),
          40,
          `enumerating 100 000 keys took ${Math.round(tLarge)} ms, 10 000 took ${Math.round(tSmall)} ms`
        )
      }))
  })

  describe("approximate LRU", () => {
    it.scoped("from 64 entries on, a read among the most recently used quarter leaves the entry where it is", () =>
      Effect.gen(function*() {
        const store = yield* MemoryStore.make({ maxEntries: 100 })
        for (let i = 0; i < 100; i++) yield* store.set(`k${i}`, "v")
        // k80 was among the last 25 moved to the end: the read does not move it (exact LRU would put it last).
        assert.isTrue(Option.isSome(yield* store.get("k80")))
        // k10 was not: the read moves it to the end.
        assert.isTrue(Option.isSome(yield* store.get("k10")))
        for (let i = 0; i < 85; i++) yield* store.set(`fresh${i}`, "v")
        assert.isFalse(yield* store.has("k80"), "k80 kept its place and was evicted")
        assert.isTrue(yield* store.has("k10"), "k10 moved to the end and survived")
      }))

    it.scoped("below 64 entries every read moves the entry: the order is exact", () =>
      Effect.gen(function*() {
        const store = yield* MemoryStore.make({ maxEntries: 10 })
        for (let i = 0; i < 10; i++) yield* store.set(`k${i}`, "v")
        yield* store.get("k8")
        for (let i = 0; i < 9; i++) yield* store.set(`fresh${i}`, "v")
        assert.isTrue(yield* store.has("k8"))
      }))
  })

  describe("byte isolation", () => {
    it.scoped("mutating a buffer after writing it does not change the stored value", () =>
      Effect.gen(function*() {
        const store = yield* MemoryStore.make()
        const viaSet = Uint8Array.of(1, 2, 3)
        const viaSetMany = Uint8Array.of(4, 5, 6)
        const viaAdd = Uint8Array.of(7, 8, 9)
        const viaAppend = Uint8Array.of(10, 11)
        yield* store.set("set", viaSet)
        yield* store.setMany([["setMany", viaSetMany]])
        yield* store.add("add", viaAdd)
        yield* store.append("append", viaAppend)
        for (const bytes of [viaSet, viaSetMany, viaAdd, viaAppend]) bytes.fill(0xff)
        assertSomeBytes(yield* store.get("set"), Uint8Array.of(1, 2, 3), "set")
        assertSomeBytes(yield* store.get("setMany"), Uint8Array.of(4, 5, 6), "setMany")
        assertSomeBytes(yield* store.get("add"), Uint8Array.of(7, 8, 9), "add")
        assertSomeBytes(yield* store.get("append"), Uint8Array.of(10, 11), "append")
      }))

    it.scoped("mutating a value after reading it does not change the stored value", () =>
      Effect.gen(function*() {
        const store = yield* MemoryStore.make()
        yield* store.set("k", Uint8Array.of(1, 2, 3))
        const viaGet = yield* store.get("k")
        const viaMany = yield* store.getMany(["k"])
        const viaEntry = yield* store.getEntry("k")
        Option.map(viaGet, (bytes) => bytes.fill(0))
        Option.map(viaMany[0] ?? Option.none(), (bytes) => bytes.fill(0))
        Option.map(viaEntry, (entry) => entry.value.fill(0))
        assertSomeBytes(yield* store.get("k"), Uint8Array.of(1, 2, 3))
      }))

    it.scoped("the reads of one getMany do not share bytes, and a batch's inputs are copied", () =>
      Effect.gen(function*() {
        const store = yield* MemoryStore.make()
        const input = Uint8Array.of(1, 2, 3)
        yield* store.setMany([["a", input], ["b", input], ["c", "xyz"]])
        input.fill(0)
        const [first, second, third] = yield* store.getMany(["a", "a", "b"])
        Option.map(first!, (bytes) => bytes.fill(9))
        assertSomeBytes(second!, Uint8Array.of(1, 2, 3), "second read of a")
        assertSomeBytes(third!, Uint8Array.of(1, 2, 3), "b")
        assertSomeBytes(yield* store.get("a"), Uint8Array.of(1, 2, 3), "a")
        assertSomeBytes(yield* store.get("c"), "xyz", "c")
      }))

    it.scoped("values survive the compaction of the slabs that overwrites and removals leave holes in", () =>
      Effect.gen(function*() {
        const store = yield* MemoryStore.make()
        const valueOf = (key: number, round: number) => {
          const bytes = new Uint8Array(200 + (key % 7) * 100)
          bytes.fill((key * 31 + round) & 0xff)
          bytes[0] = round
          return bytes
        }
        // Entries written once, before the churn: each compaction moves them, and nothing writes them again.
        for (let key = 0; key < 500; key++) yield* store.set(`stable${key}`, valueOf(key, 99))
        // 40 rounds over 2000 keys of 200-800 bytes: the slabs fill with dead copies and are compacted many times.
        for (let round = 0; round < 40; round++) {
          for (let key = 0; key < 2000; key++) {
            if (round % 3 === 2 && key % 5 === 0) yield* store.remove(`k${key}`)
            else yield* store.set(`k${key}`, valueOf(key, round))
          }
        }
        for (let key = 0; key < 500; key++) {
          assertSomeBytes(yield* store.get(`stable${key}`), valueOf(key, 99), `stable${key}`)
        }
        // The last round (39) wrote every key.
        for (let key = 0; key < 2000; key++) assertSomeBytes(yield* store.get(`k${key}`), valueOf(key, 39), `k${key}`)
        yield* store.removeMany(Array.from({ length: 400 }, (_, i) => `k${i * 5}`))
        for (let key = 1; key < 2000; key += 5) {
          assertSomeBytes(yield* store.get(`k${key}`), valueOf(key, 39), `k${key}`)
        }
        assert.isTrue((yield* store.check()).ok)
      }))

    it.scoped("two reads do not share bytes", () =>
      Effect.gen(function*() {
        const store = yield* MemoryStore.make()
        yield* store.set("k", "abc")
        const first = Option.getOrThrow(yield* store.get("k"))
        const second = Option.getOrThrow(yield* store.get("k"))
        first.fill(0)
        assertSomeBytes(Option.some(second), "abc")
      }))
  })

  describe("isolation of entry bookkeeping", () => {
    it.scoped("tags and metadata handed out by getEntry cannot change the stored entry", () =>
      Effect.gen(function*() {
        const store = yield* MemoryStore.make()
        const metadata = { n: 1, nested: { list: [1, 2] } }
        yield* store.set("k", "v", { tags: ["t"], metadata })
        metadata.n = 2
        const entry = Option.getOrThrow(yield* store.getEntry("k"))
        const handed = Option.getOrThrow(entry.metadata) as { n: number; nested: { list: Array<number> } }
        assert.throws(() => {
          handed.n = 99
        })
        assert.throws(() => handed.nested.list.push(3))
        assert.throws(() => (entry.tags as Array<string>).push("evil"))
        const again = Option.getOrThrow(yield* store.getEntry("k"))
        assert.deepStrictEqual(again.tags, ["t"])
        assert.deepStrictEqual(Option.getOrThrow(again.metadata), { n: 1, nested: { list: [1, 2] } })
      }))
  })

  describe("options", () => {
    it.scoped("invalid options fail the build with InvalidArgument, naming the option", () =>
      Effect.gen(function*() {
        const cases: ReadonlyArray<readonly [MemoryStore.Options, string]> = [
          ...invalidStoreOptions,
          [{ maxEntries: 0 }, "maxEntries"],
          [{ maxEntries: Number.NaN }, "maxEntries"],
          [{ maxSize: 0 }, "maxSize"],
          [{ maxEntries: 5, eviction: "fifo" as never }, "eviction"],
          [{ sweepBatch: 0 }, "sweepBatch"],
          [{ sweepInterval: 0 }, "sweepInterval"],
          [{ sweepInterval: "soon" as never }, "sweepInterval"]
        ]
        for (const [options, argument] of cases) {
          const error = yield* Effect.flip(MemoryStore.make(options))
          assert.strictEqual(error._tag, "InvalidArgument", argument)
          assert.strictEqual(error.argument, argument)
        }
      }))
  })
})
