/**
 * Tiered's own behaviour, under `TestClock`, over a MemoryStore L2 and a SqliteStore L2 (reached directly, "behind
 * the L1's back", to see what the L1 holds): the L1 is filled with the smaller of its ttl cap and the entry's remaining
 * ttl, it is bounded, every writing operation of the shape updates or drops the L1 (a table over every operation, so
 * a new one cannot be forgotten), a failed write leaves the L1 without its key, a read begun before a write never
 * fills the L1 after it, regions bypass the L1 and drop their keys at the end, and statistics count L1 hits.
 */
import { assert, describe, it } from "@effect/vitest"
import { KeyValueStore, KeyValueStoreError, MemoryStore, SqliteStore, Tiered } from "effect-kv"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as path from "node:path"
import type * as Wrapper from "../../src/internal/wrapper.js"
import { tempDir } from "../backends/fixtures/temp.js"
import * as Scripted from "./fixtures/scripted.js"

type Store = KeyValueStore.Service
type StoreError = KeyValueStoreError.KeyValueStoreError

const decoder = new TextDecoder()

const read = (store: Store, key: string) =>
  Effect.map(store.get(key), Option.match({ onNone: () => undefined, onSome: (bytes) => decoder.decode(bytes) }))

const info = (store: Store) => Effect.map(Tiered.info(store), Option.getOrThrow)

const l2s: ReadonlyArray<readonly [string, Effect.Effect<Store, StoreError, Scope.Scope>]> = [
  ["MemoryStore", MemoryStore.make()],
  ["SqliteStore", Effect.flatMap(tempDir, (dir) => SqliteStore.make({ filename: path.join(dir, "kv.db") }))]
]

const setup = (l2: Effect.Effect<Store, StoreError, Scope.Scope>, options?: Tiered.Options) =>
  Effect.gen(function*() {
    const inner = yield* l2
    const store = yield* Tiered.make(inner, options)
    return { inner, store }
  })

/** A writing operation: `run` through the tiered store on `key` (whose L2 value is "1", tagged "t", in the L1). */
interface Writer {
  /** Prepares the L2 behind the L1's back once the L1 holds the key. */
  readonly before?: (inner: Store, key: string) => Effect.Effect<unknown, StoreError>
  readonly run: (store: Store, key: string) => Effect.Effect<unknown, StoreError, Scope.Scope>
  /** The operation puts its value in the L1 (rather than dropping the key). */
  readonly updates?: boolean
}

/** Every operation of the shape: how it writes, or why it does not touch the L1. */
const operations: { readonly [K in Wrapper.Operation]-?: Writer | { readonly reads: string } } = {
  get: { reads: "reads" },
  getString: { reads: "reads" },
  getOrFail: { reads: "reads" },
  getEntry: { reads: "reads" },
  has: { reads: "reads" },
  ttl: { reads: "reads the L2" },
  getMany: { reads: "reads" },
  keys: { reads: "enumerates the L2" },
  entries: { reads: "enumerates the L2" },
  getPattern: { reads: "enumerates the L2" },
  countPattern: { reads: "counts on the L2" },
  size: { reads: "counts on the L2" },
  volume: { reads: "the L2's" },
  stats: { reads: "counters" },
  resetStats: { reads: "counters" },
  lock: { reads: "the L2's lease table" },
  withLock: { reads: "the L2's lease table" },
  expire: { reads: "removes expired entries only, which the L1 never keeps past their expiry" },
  set: { run: (store, key) => store.set(key, "2"), updates: true },
  setMany: { run: (store, key) => store.setMany([[key, "2"], ["other", "x"]]), updates: true },
  remove: { run: (store, key) => store.remove(key) },
  pop: { run: (store, key) => store.pop(key) },
  add: { before: (inner, key) => inner.remove(key), run: (store, key) => store.add(key, "2") },
  touch: { run: (store, key) => store.touch(key, "1 second") },
  setMetadata: { run: (store, key) => store.setMetadata(key, { a: 1 }) },
  increment: { run: (store, key) => store.increment(key, 5) },
  decrement: { run: (store, key) => store.decrement(key, 5) },
  compareAndSwap: { run: (store, key) => store.compareAndSwap(key, Option.some("1"), Option.some("2")) },
  append: { run: (store, key) => store.append(key, "2") },
  update: { run: (store, key) => store.update(key, () => Option.some("2")) },
  removeMany: { run: (store, key) => store.removeMany([key, "other"]) },
  removePattern: { run: (store) => store.removePattern("w.*") },
  removeTag: { run: (store) => store.removeTag("t") },
  clear: { run: (store) => store.clear },
  withTransaction: { run: (store, key) => store.withTransaction(store.set(key, "2")) },
  transaction: { run: (store, key) => Effect.scoped(Effect.zipRight(store.transaction, store.set(key, "2"))) },
  check: { run: (store) => store.check({ fix: true }) }
}

const writers = Object.entries(operations).filter((entry): entry is [string, Writer] => "run" in entry[1])

for (const [name, l2] of l2s) {
  describe(`Tiered over ${name}`, () => {
    it.scoped("fills the L1 for at most its ttl cap", () =>
      Effect.gen(function*() {
        const { inner, store } = yield* setup(l2, { l1: { ttl: "10 seconds" } })
        yield* inner.set("a", "1")
        assert.strictEqual(yield* read(store, "a"), "1")
        yield* inner.set("a", "2")
        yield* TestClock.adjust("9999 millis")
        assert.strictEqual(yield* read(store, "a"), "1", "an L1 hit within the cap")
        yield* TestClock.adjust("1 millis")
        assert.strictEqual(yield* read(store, "a"), "2", "the L2 once the cap has passed")
      }))

    it.scoped("fills the L1 for at most the entry's remaining ttl, when it is shorter than the cap", () =>
      Effect.gen(function*() {
        const { inner, store } = yield* setup(l2, { l1: { ttl: "10 seconds" } })
        yield* inner.set("b", "1", { ttl: "30 seconds" })
        yield* TestClock.adjust("25 seconds")
        assert.strictEqual(yield* read(store, "b"), "1") // fills with 5 seconds left
        yield* inner.set("b", "2")
        yield* TestClock.adjust("4999 millis")
        assert.strictEqual(yield* read(store, "b"), "1")
        yield* TestClock.adjust("1 millis")
        assert.strictEqual(yield* read(store, "b"), "2", "the L1 entry expired with the L2 entry it was read from")
      }))

    it.scoped("without a cap, an L1 entry lives as long as its L2 entry; a write's ttl applies too", () =>
      Effect.gen(function*() {
        const { inner, store } = yield* setup(l2, { l1: {} })
        yield* inner.set("a", "1")
        yield* read(store, "a")
        yield* inner.set("a", "2")
        yield* TestClock.adjust("3 hours")
        assert.strictEqual(yield* read(store, "a"), "1")
        yield* store.set("c", "1", { ttl: "1 second" })
        yield* TestClock.adjust("1 second")
        assert.strictEqual(yield* read(store, "c"), undefined)
      }))

    it.scoped("the L1 is bounded: the least recently used entries leave it", () =>
      Effect.gen(function*() {
        const { inner, store } = yield* setup(l2, { l1: { maxEntries: 3 } })
        const keys = ["k1", "k2", "k3", "k4", "k5"]
        for (const key of keys) yield* inner.set(key, "old")
        for (const key of keys) yield* read(store, key)
        assert.strictEqual((yield* info(store)).entries, 3)
        for (const key of keys) yield* inner.set(key, "new")
        const seen: Array<string | undefined> = []
        for (const key of [...keys].reverse()) seen.push(yield* read(store, key))
        assert.deepStrictEqual(seen, ["old", "old", "old", "new", "new"], "k5, k4, k3 from the L1; k2, k1 from the L2")
      }))

    it.scoped("an L1 hit is counted in stats and in Tiered.info; a miss reads the L2 every time", () =>
      Effect.gen(function*() {
        const { inner, store } = yield* setup(l2, { l1: {} })
        yield* inner.set("a", "1")
        yield* read(store, "a")
        yield* read(store, "a")
        yield* store.getString("a")
        yield* read(store, "missing")
        yield* inner.set("missing", "now")
        assert.strictEqual(yield* read(store, "missing"), "now", "no negative cache")
        const stats = yield* store.stats
        assert.strictEqual(stats.hits, 4)
        assert.strictEqual(stats.misses, 1)
        const figures = yield* info(store)
        assert.strictEqual(figures.hits, 2)
        assert.strictEqual(figures.fills, 2)
        yield* store.resetStats
        assert.strictEqual((yield* store.stats).hits, 0)
      }))

    it.scoped("a value read is the caller's own copy: changing it does not change the L1", () =>
      Effect.gen(function*() {
        const { inner, store } = yield* setup(l2, { l1: {} })
        yield* inner.set("a", "1")
        const first = Option.getOrThrow(yield* store.get("a"))
        first[0] = 0x39
        const second = Option.getOrThrow(yield* store.get("a"))
        second[0] = 0x39
        assert.strictEqual(yield* read(store, "a"), "1")
      }))

    it.scoped("getMany answers from the L1 what it holds and reads the rest from the L2 in one batch", () =>
      Effect.gen(function*() {
        const { inner, store } = yield* setup(l2, { l1: {} })
        yield* inner.set("a", "1")
        yield* inner.set("b", "1")
        yield* read(store, "a")
        yield* inner.set("a", "2")
        const before = (yield* info(store)).fills
        const values = yield* store.getMany(["a", "b", "c"])
        assert.deepStrictEqual(values.map(Option.map((bytes) => decoder.decode(bytes))), [
          Option.some("1"),
          Option.some("1"),
          Option.none()
        ])
        assert.strictEqual((yield* info(store)).fills, before, "a batch read does not fill the L1")
      }))

    describe("every write updates or drops the L1 (a table over every operation)", () => {
      for (const [operation, writer] of writers) {
        it.scoped(operation, () =>
          Effect.gen(function*() {
            const { inner, store } = yield* setup(l2, { l1: { ttl: "1 hour" } })
            const key = "w.k"
            yield* inner.set(key, "1", { tags: ["t"] })
            assert.strictEqual(yield* read(store, key), "1")
            assert.strictEqual((yield* info(store)).entries, 1, "the L1 holds the key")
            if (writer.before) yield* writer.before(inner, key)
            yield* writer.run(store, key)
            // A dropped key reads the L2's value, here a probe written behind the L1's back; an updated one, the value
            // the operation wrote.
            const after = yield* read(inner, key)
            yield* inner.set(key, "probe")
            const seen = yield* read(store, key)
            if (writer.updates) assert.strictEqual(seen, after, "the L1 holds the written value")
            else assert.strictEqual(seen, "probe", "the L1 dropped the key")
          }))
      }
    })

    it.scoped("a namespace over the tiered store reads and writes through its L1", () =>
      Effect.gen(function*() {
        const { inner, store } = yield* setup(l2, { l1: {} })
        const ns = KeyValueStore.prefix(store, "ns.")
        yield* inner.set("ns.k", "1")
        assert.strictEqual(yield* read(ns, "k"), "1")
        yield* inner.set("ns.k", "2")
        assert.strictEqual(yield* read(ns, "k"), "1", "an L1 hit through the namespace")
        yield* ns.increment("n", 1)
        yield* read(store, "ns.n")
        yield* ns.increment("n", 1)
        assert.strictEqual(yield* read(store, "ns.n"), "2", "the namespace's write dropped the key")
      }))

    it.scoped("a transaction region bypasses the L1 and drops its keys when it ends, rolled back or not", () =>
      Effect.gen(function*() {
        const { inner, store } = yield* setup(l2, { l1: {} })
        yield* inner.set("a", "1")
        yield* inner.set("b", "1")
        yield* read(store, "a")
        yield* inner.set("a", "2")
        const fills = (yield* info(store)).fills
        const inside = yield* store.withTransaction(Effect.all([read(store, "a"), read(store, "b")]))
        assert.deepStrictEqual(inside, ["2", "1"], "reads inside a region go to the L2")
        assert.strictEqual((yield* info(store)).fills, fills, "nothing read inside a region fills the L1")
        yield* inner.set("a", "1")
        yield* read(store, "a")
        const failed = yield* store.withTransaction(
          Effect.zipRight(store.set("a", "3"), Effect.fail("rolled back" as const))
        ).pipe(Effect.flip)
        assert.strictEqual(failed, "rolled back")
        assert.strictEqual(yield* read(inner, "a"), "1")
        yield* inner.set("a", "probe")
        assert.strictEqual(yield* read(store, "a"), "probe", "the rolled-back region dropped its key")
      }))
  })
}

describe("Tiered: failures and races", () => {
  it.scoped("a failed write on the L2 leaves the L1 without the key, whether or not the write landed", () =>
    Effect.gen(function*() {
      const inner = yield* MemoryStore.make()
      const { control, store: scripted } = Scripted.make(inner)
      const store = yield* Tiered.make(scripted, { l1: {} })
      for (const mode of ["fail", "failAfter"] as const) {
        const key = `a-${mode}`
        yield* inner.set(key, "1")
        assert.strictEqual(yield* read(store, key), "1")
        control.script({ method: "set", mode })
        const error = yield* Effect.flip(store.set(key, "2"))
        assert.strictEqual(error._tag, "BackendError")
        yield* inner.set(key, "probe")
        assert.strictEqual(yield* read(store, key), "probe", `${mode}: the L1 dropped the key`)
        control.reset()
      }
    }))

  it.scoped("a read of the L2 begun before a write never fills the L1 after that write", () =>
    Effect.gen(function*() {
      const inner = yield* MemoryStore.make()
      // The L2 answers reads of entries one second after reading them.
      const slow = KeyValueStore.make({
        ...inner.primitives,
        getEntry: (key, now) => Effect.tap(inner.primitives.getEntry(key, now), () => Effect.sleep("1 second"))
      })
      const store = yield* Tiered.make(slow, { l1: {} })
      yield* inner.set("a", "old")
      const reader = yield* Effect.fork(read(store, "a"))
      yield* TestClock.adjust("500 millis")
      yield* store.set("a", "new")
      yield* TestClock.adjust("1 second")
      assert.strictEqual(yield* Fiber.join(reader), "old")
      assert.strictEqual(yield* read(store, "a"), "new")
      yield* inner.set("a", "probe")
      assert.strictEqual(yield* read(store, "a"), "new", "the L1 holds the write's value, not the older read's")
    }))

  it.scoped("a region's keys are dropped again when it ends: a reader outside it may have filled the L1 meanwhile", () =>
    Effect.gen(function*() {
      const inner = yield* MemoryStore.make()
      // An L2 whose regions do not hold other fibers back (as a SQL server's do not): outside readers see the last
      // committed value, which the test writes behind the L1's back to play the server's part.
      const open = KeyValueStore.make({
        ...inner.primitives,
        gate: undefined,
        withTransaction: (effect) => effect,
        transaction: Effect.void
      })
      const store = yield* Tiered.make(open, { l1: {} })
      yield* inner.set("a", "1")
      const go = yield* Deferred.make<void>()
      const outside = yield* Effect.fork(Effect.zipRight(Deferred.await(go), read(store, "a")))
      yield* store.withTransaction(Effect.gen(function*() {
        yield* store.set("a", "2")
        yield* inner.set("a", "1") // what a reader outside the uncommitted region sees
        yield* Deferred.succeed(go, undefined)
        assert.strictEqual(yield* Fiber.join(outside), "1", "the outside reader filled the L1 with the committed value")
        yield* inner.set("a", "2") // the commit
      }))
      assert.strictEqual(yield* read(store, "a"), "2")
    }))

  it.scoped("a value larger than the L1's maxSize is served from the L2 and not cached", () =>
    Effect.gen(function*() {
      const inner = yield* MemoryStore.make()
      const store = yield* Tiered.make(inner, { l1: { maxSize: 4 } })
      yield* store.set("big", "0123456789")
      assert.strictEqual(yield* read(store, "big"), "0123456789")
      assert.strictEqual((yield* info(store)).entries, 0)
    }))

  it.scoped("invalid options fail with InvalidArgument", () =>
    Effect.gen(function*() {
      const inner = yield* MemoryStore.make()
      const cases: ReadonlyArray<unknown> = [
        "nope",
        { l1: 3 },
        { l1: { ttl: "0 seconds" } },
        { l1: { ttl: "soon" } },
        { l1: { maxEntries: -1 } },
        { invalidation: {} },
        { invalidation: Tiered.redisBus({ channel: "" }) },
        { invalidation: Tiered.redisBus({ channel: "c", heartbeat: 0 }) },
        { invalidation: Tiered.postgresBus({ url: "postgres://x", channel: "c".repeat(64) }) }
      ]
      for (const options of cases) {
        const error = yield* Effect.flip(Tiered.make(inner, options as Tiered.Options))
        assert.instanceOf(error, KeyValueStoreError.InvalidArgument, JSON.stringify(options))
      }
    }))
})
