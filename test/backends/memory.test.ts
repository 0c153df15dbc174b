/**
 * MemoryStore-specific behaviour beyond the contract suite: the scoped sweeper (driven by `TestClock`, observed
 * through `stats.expirations` and `expire`, which counts what the sweeper left behind), its bounded work per tick and
 * its end with the scope; the `maxEntries` LRU bound; and the isolation of stored bytes from the caller's buffers.
 */
import { assert, describe, it } from "@effect/vitest"
import { MemoryStore } from "effect-kv"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import { assertSomeBytes } from "../contract/bytes.js"
import { invalidStoreOptions } from "./fixtures/options.js"

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

    it.scoped("examines at most sweepBatch entries per tick", () =>
      Effect.gen(function*() {
        const store = yield* MemoryStore.make({ sweepInterval: "1 second", sweepBatch: 2 })
        yield* store.setMany(["a", "b", "c", "d", "e"].map((key) => [key, "v", { ttl: "100 millis" }] as const))
        yield* TestClock.adjust("1 second")
        assert.strictEqual(yield* expirations(store), 2)
        yield* TestClock.adjust("1 second")
        assert.strictEqual(yield* expirations(store), 4)
        yield* TestClock.adjust("1 second")
        assert.strictEqual(yield* expirations(store), 5)
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
