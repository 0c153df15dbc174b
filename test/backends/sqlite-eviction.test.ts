/**
 * SqliteStore size limits: the shared eviction contract on a fresh file per test, then what only the SQL side has:
 * the counters row kept by triggers (equal to a recount after random writes, removals, expiry and clears), the buffer
 * of uses (reads write nothing until it flushes at its threshold, on a sweeper tick or when the scope closes), the
 * policy's index in every victim query plan, bounded eviction per write with the sweeper finishing the rest, and
 * several stores on one file (the sweeper enforces the limit on other stores' writes; `"none"` never lets concurrent
 * writers exceed it).
 */
import { assert, describe, it } from "@effect/vitest"
import Database from "better-sqlite3"
import type { KeyValueStore } from "effect-kv"
import { SqliteStore } from "effect-kv"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as fs from "node:fs"
import * as path from "node:path"
import * as eviction from "../../src/internal/sqlite/eviction.js"
import { evictionSuite } from "../contract/eviction.js"
import { freshSqliteLayer, tempDir } from "./fixtures/temp.js"

evictionSuite("SqliteStore", (limits) => freshSqliteLayer(limits))

/** A plain better-sqlite3 connection to inspect the file behind the store's back. */
const raw = (filename: string) =>
  Effect.acquireRelease(Effect.sync(() => new Database(filename)), (db) => Effect.sync(() => db.close()))

const scalar = (db: Database.Database, sql: string, ...params: Array<unknown>): number =>
  db.prepare(sql).pluck().get(...params) as number

const rows = (db: Database.Database) => scalar(db, "SELECT COUNT(*) FROM effect_kv")

interface Uses {
  readonly accessed_at: number
  readonly access_count: number
}

const usesOf = (db: Database.Database, key: string): Uses =>
  db.prepare("SELECT accessed_at, access_count FROM effect_kv WHERE key = ?").get(key) as Uses

const countersOf = (db: Database.Database) =>
  db.prepare("SELECT entries, bytes FROM effect_kv_counters WHERE id = 0").get() as {
    readonly entries: number
    readonly bytes: number
  }

const recount = (db: Database.Database) =>
  db.prepare("SELECT COUNT(*) AS entries, COALESCE(SUM(size), 0) AS bytes FROM effect_kv").get()

/** A fresh file in a scoped temp directory. */
const freshFile = Effect.map(tempDir, (dir) => path.join(dir, "kv.db"))

/** Lets forked fibers (the sweeper's batches yield between transactions) run to completion. */
const settle = Effect.repeatN(Effect.yieldNow(), 20)

const keys = (n: number, prefix = "k") => Array.from({ length: n }, (_, i) => `${prefix}${String(i).padStart(5, "0")}`)

describe("SqliteStore limits", () => {
  it.scoped("reports eviction among its capabilities and refuses invalid limits at open", () =>
    Effect.gen(function*() {
      assert.isTrue(SqliteStore.capabilities.eviction)
      const filename = yield* freshFile
      for (
        const options of [
          { maxEntries: 0 },
          { maxEntries: 1.5 },
          { maxSize: -1 },
          { maxEntries: 10, eviction: "fifo" as never }
        ]
      ) {
        const error = yield* Effect.flip(Effect.scoped(SqliteStore.make({ filename, ...options })))
        assert.strictEqual(error._tag, "InvalidArgument")
      }
    }))

  it.scoped("evicts the least recently used entry, read uses buffered included", () =>
    Effect.gen(function*() {
      const filename = yield* freshFile
      const store = yield* SqliteStore.make({ filename, maxEntries: 3 })
      yield* store.setMany([["a", "1"], ["b", "2"], ["c", "3"]])
      assert.isTrue(Option.isSome(yield* store.get("a")))
      yield* store.set("d", "4")
      assert.deepStrictEqual(
        yield* store.getMany(["a", "b", "c", "d"]).pipe(Effect.map((found) => found.map(Option.isSome))),
        [
          true,
          false,
          true,
          true
        ]
      )
      assert.strictEqual((yield* store.stats).evictions, 1)
      assert.strictEqual(yield* store.size, 3)
    }))

  it.scoped("a value larger than maxSize fails with ValueTooLarge and changes nothing", () =>
    Effect.gen(function*() {
      const filename = yield* freshFile
      const store = yield* SqliteStore.make({ filename, maxSize: 10 })
      yield* store.set("a", "12345")
      const error = yield* Effect.flip(store.set("b", "x".repeat(11)))
      assert.strictEqual(error._tag, "ValueTooLarge")
      assert.strictEqual((yield* Effect.flip(store.append("a", "123456")))._tag, "ValueTooLarge")
      assert.strictEqual(yield* store.size, 1)
      assert.strictEqual((yield* store.stats).evictions, 0)
    }))

  it.scoped("\"none\" fails a write that would exceed a limit with StoreFull, inside the transaction", () =>
    Effect.gen(function*() {
      const filename = yield* freshFile
      const store = yield* SqliteStore.make({ filename, maxEntries: 2, maxSize: 8, eviction: "none" })
      yield* store.setMany([["a", "1234"], ["b", "1234"]])
      const full = yield* Effect.flip(store.set("c", "1"))
      assert.strictEqual(full._tag, "StoreFull")
      if (full._tag === "StoreFull") {
        assert.strictEqual(full.limit, "maxEntries")
        assert.strictEqual(full.max, 2)
        assert.strictEqual(full.key, "c")
      }
      const bytes = yield* Effect.flip(store.set("a", "12345"))
      assert.strictEqual(bytes._tag === "StoreFull" ? bytes.limit : bytes._tag, "maxSize")
      assert.strictEqual((yield* Effect.flip(store.setMany([["a", "1"], ["z", "1"]])))._tag, "StoreFull")
      assert.strictEqual((yield* Effect.flip(store.increment("n")))._tag, "StoreFull")
      assert.strictEqual(Option.getOrUndefined(yield* store.getString("a")), "1234", "nothing changed")
      assert.isFalse(yield* store.has("z"))
      yield* store.set("a", "12")
      yield* store.set("b", "123456")
      const db = yield* raw(filename)
      assert.deepStrictEqual(countersOf(db), { entries: 2, bytes: 8 })
    }))

  it.scoped("\"none\" removes expired entries to make room, counted as expirations", () =>
    Effect.gen(function*() {
      const filename = yield* freshFile
      const store = yield* SqliteStore.make({ filename, maxEntries: 2, eviction: "none" })
      yield* store.set("a", "1", { ttl: "1 second" })
      yield* store.set("b", "2")
      yield* TestClock.adjust("2 seconds")
      yield* store.set("c", "3")
      const stats = yield* store.stats
      assert.strictEqual(stats.expirations, 1)
      assert.strictEqual(stats.evictions, 0)
      assert.strictEqual(yield* store.size, 2)
    }))

  it.scoped("a write removes at most EVICT_STEP rows; the sweeper removes the rest in batches", () =>
    Effect.gen(function*() {
      const filename = yield* freshFile
      const unlimited = yield* SqliteStore.make({ filename })
      yield* unlimited.setMany(keys(2 * eviction.EVICT_STEP + 500).map((key) => [key, "v"] as const))
      const limited = yield* SqliteStore.make({ filename, maxEntries: 100, sweepInterval: "1 minute" })
      const db = yield* raw(filename)
      yield* limited.set("new", "v")
      assert.strictEqual(rows(db), 2 * eviction.EVICT_STEP + 501 - eviction.EVICT_STEP)
      assert.strictEqual((yield* limited.stats).evictions, eviction.EVICT_STEP)
      assert.isTrue(yield* limited.has("new"))
      yield* limited.setMany([["new.1", "v"], ["new.2", "v"], ["new.3", "v"]])
      assert.strictEqual(rows(db), 504, "one budget of EVICT_STEP for the whole setMany")
      yield* TestClock.adjust("1 minute")
      yield* settle
      assert.strictEqual(rows(db), 100)
      assert.isTrue(yield* limited.has("new"), "the most recently used entries stay")
      assert.isTrue(yield* limited.has("new.3"))
      assert.strictEqual((yield* limited.stats).evictions, 2 * eviction.EVICT_STEP + 404)
    }))

  it.scoped("maxSize evicts as many entries as the bytes of a large write need", () =>
    Effect.gen(function*() {
      const filename = yield* freshFile
      const store = yield* SqliteStore.make({ filename, maxSize: 100 })
      for (const key of keys(10)) yield* store.set(key, "x".repeat(10))
      yield* store.set("big", "y".repeat(35))
      const db = yield* raw(filename)
      assert.deepStrictEqual(countersOf(db), { entries: 7, bytes: 95 })
      assert.isFalse(yield* store.has("k00003"))
      assert.isTrue(yield* store.has("k00004"))
      assert.strictEqual((yield* store.stats).evictions, 4)
    }))
})

describe("SqliteStore limits and large values", () => {
  it.scoped("evicted and swept rows' value files are deleted once the removal committed", () =>
    Effect.gen(function*() {
      const filename = yield* freshFile
      const files = () => fs.readdirSync(`${filename}.files`).filter((name) => name.endsWith(".value")).length
      const store = yield* SqliteStore.make({
        filename,
        largeValueThreshold: 16,
        maxEntries: 2,
        sweepInterval: "5 seconds"
      })
      yield* store.setMany([["a", "a".repeat(100)], ["b", "b".repeat(100)]])
      assert.strictEqual(files(), 2)
      yield* store.set("c", "c".repeat(100))
      assert.strictEqual(files(), 2, "the victim's file is gone")
      assert.isFalse(yield* store.has("a"))
      const none = yield* SqliteStore.make({ filename, largeValueThreshold: 16, maxEntries: 2, eviction: "none" })
      assert.strictEqual((yield* Effect.flip(none.set("d", "d".repeat(100))))._tag, "StoreFull")
      assert.strictEqual(files(), 2, "a refused write leaves no file behind")
      const other = yield* SqliteStore.make({ filename, largeValueThreshold: 16 })
      yield* other.set("e", "e".repeat(100))
      assert.strictEqual(files(), 3)
      yield* TestClock.adjust("5 seconds")
      yield* settle
      assert.strictEqual(files(), 2, "the sweeper's eviction deletes the file too")
    }))
})

describe("SqliteStore use bookkeeping", () => {
  it.scoped("reads with an lru limit write nothing until FLUSH_AT keys are buffered", () =>
    Effect.gen(function*() {
      const filename = yield* freshFile
      const store = yield* SqliteStore.make({ filename, maxEntries: 100_000, sweepInterval: "1 hour" })
      const all = keys(eviction.FLUSH_AT)
      yield* store.setMany(all.map((key) => [key, "v"] as const))
      const db = yield* raw(filename)
      const before = usesOf(db, "k00000")
      assert.strictEqual(before.access_count, 1, "a new entry has one use")
      const wal = `${filename}-wal`
      const walBefore = fs.statSync(wal).size
      for (let i = 0; i < 500; i++) yield* store.get(all[i % 10]!)
      assert.deepStrictEqual(usesOf(db, "k00000"), before, "500 reads of 10 keys wrote nothing")
      assert.strictEqual(fs.statSync(wal).size, walBefore, "nor grew the WAL")
      for (const key of all.slice(10, -1)) yield* store.get(key)
      assert.deepStrictEqual(usesOf(db, "k00000"), before, "FLUSH_AT - 1 buffered keys")
      yield* store.get(all[all.length - 1]!)
      const after = usesOf(db, "k00000")
      assert.strictEqual(after.access_count, 51, "the FLUSH_AT-th key flushed every buffered use")
      assert.isAbove(after.accessed_at, before.accessed_at)
      assert.strictEqual(usesOf(db, all[all.length - 1]!).access_count, 2)
    }))

  it.scoped("reads without a limit, or under lrs, record nothing", () =>
    Effect.gen(function*() {
      const dir = yield* tempDir
      for (const [i, options] of [{}, { maxEntries: 10, eviction: "lrs" as const }].entries()) {
        const filename = path.join(dir, `${i}.db`)
        yield* Effect.scoped(Effect.gen(function*() {
          const store = yield* SqliteStore.make({ filename, ...options })
          yield* store.set("a", "1")
          for (let i = 0; i < 10; i++) yield* store.get("a")
          yield* store.getEntry("a")
          yield* store.getMany(["a"])
        }))
        const db = yield* raw(filename)
        assert.strictEqual(usesOf(db, "a").access_count, 1)
      }
    }))

  it.scoped("the buffer flushes when the scope closes", () =>
    Effect.gen(function*() {
      const filename = yield* freshFile
      yield* Effect.scoped(Effect.gen(function*() {
        const store = yield* SqliteStore.make({ filename, maxEntries: 10, eviction: "lfu" })
        yield* store.setMany([["a", "1"], ["b", "2"]])
        yield* store.get("a")
        yield* store.getString("a")
        yield* store.getEntry("a")
        yield* store.getMany(["a", "b", "missing"])
        yield* store.has("b")
        yield* store.ttl("b")
        const db = yield* raw(filename)
        assert.strictEqual(usesOf(db, "a").access_count, 1, "not flushed yet")
      }))
      const db = yield* raw(filename)
      assert.strictEqual(usesOf(db, "a").access_count, 5)
      assert.strictEqual(usesOf(db, "b").access_count, 2, "has and ttl are not uses")
    }))

  it.scoped("the sweeper tick flushes the buffer", () =>
    Effect.gen(function*() {
      const filename = yield* freshFile
      const store = yield* SqliteStore.make({ filename, maxEntries: 10, sweepInterval: "10 seconds" })
      yield* store.set("a", "1")
      yield* store.get("a")
      const db = yield* raw(filename)
      assert.strictEqual(usesOf(db, "a").access_count, 1)
      yield* TestClock.adjust("10 seconds")
      yield* settle
      assert.strictEqual(usesOf(db, "a").access_count, 2)
    }))

  it.scoped("an eviction decision sees the uses buffered so far", () =>
    Effect.gen(function*() {
      const filename = yield* freshFile
      const store = yield* SqliteStore.make({ filename, maxEntries: 3, eviction: "lfu" })
      yield* store.setMany([["a", "1"], ["b", "2"], ["c", "3"]])
      for (let i = 0; i < 3; i++) {
        yield* store.get("a")
        yield* store.get("c")
      }
      yield* store.get("b")
      yield* store.set("d", "4")
      assert.isFalse(yield* store.has("b"), "b has 2 uses, a and c 4")
      yield* store.set("e", "5")
      assert.isFalse(yield* store.has("d"), "d is new (1 use)")
      assert.deepStrictEqual(
        (yield* store.getMany(["a", "c", "e"])).map(Option.isSome),
        [true, true, true]
      )
    }))

  it.scoped("a write of a key applies its buffered uses first; a removal drops them", () =>
    Effect.gen(function*() {
      const filename = yield* freshFile
      const store = yield* SqliteStore.make({ filename, maxEntries: 10, eviction: "lfu" })
      yield* store.set("a", "1")
      yield* store.get("a")
      yield* store.get("a")
      yield* store.set("a", "2")
      const db = yield* raw(filename)
      assert.strictEqual(usesOf(db, "a").access_count, 4)
      yield* store.get("a")
      yield* store.remove("a")
      yield* store.set("a", "3")
      assert.strictEqual(usesOf(db, "a").access_count, 1, "a new entry starts again at one use")
      yield* store.set("t", "1", { ttl: "1 second" })
      yield* store.get("t")
      yield* TestClock.adjust("2 seconds")
      yield* store.set("t", "2")
      assert.strictEqual(usesOf(db, "t").access_count, 1, "as does a write over an expired entry")
    }))
})

describe("SqliteStore victim selection", () => {
  for (const policy of ["lru", "lfu", "lrs"] as const) {
    it.scoped(`${policy}: the victim query reads the policy's index, never a sort of the table`, () =>
      Effect.gen(function*() {
        const filename = yield* freshFile
        const store = yield* SqliteStore.make({ filename, maxEntries: 10, eviction: policy })
        yield* store.setMany(keys(50).map((key) => [key, "v"] as const))
        const db = yield* raw(filename)
        db.exec("ANALYZE")
        const text = eviction.statements("effect_kv", policy).victims!
        const plan = (db.prepare(`EXPLAIN QUERY PLAN ${text}`).all(null, 10) as Array<{ readonly detail: string }>)
          .map((row) => row.detail)
        assert.isTrue(
          plan.some((detail) => detail.includes(`USING INDEX ${eviction.indexName("effect_kv", policy)}`)),
          plan.join("; ")
        )
        assert.isFalse(plan.some((detail) => detail.includes("TEMP B-TREE")), plan.join("; "))
        const expired = (db.prepare(`EXPLAIN QUERY PLAN ${eviction.statements("effect_kv", policy).expired}`)
          .all(0, null, 10) as Array<{ readonly detail: string }>).map((row) => row.detail)
        assert.isTrue(expired.some((detail) => detail.includes("USING INDEX effect_kv_expires")), expired.join("; "))
        assert.isFalse(expired.some((detail) => detail.includes("TEMP B-TREE")), expired.join("; "))
      }))
  }

  it.scoped("no limit creates no index", () =>
    Effect.gen(function*() {
      const filename = yield* freshFile
      yield* SqliteStore.make({ filename, eviction: "lfu" })
      const db = yield* raw(filename)
      const indexes = db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'effect_kv_l%'")
        .pluck().all()
      assert.deepStrictEqual(indexes, [])
    }))
})

type Step =
  | { readonly op: "set"; readonly key: number; readonly size: number; readonly ttl: boolean; readonly tag: boolean }
  | { readonly op: "setMany"; readonly keys: ReadonlyArray<number>; readonly size: number }
  | { readonly op: "remove"; readonly key: number }
  | { readonly op: "removeMany"; readonly keys: ReadonlyArray<number> }
  | { readonly op: "append"; readonly key: number; readonly size: number }
  | { readonly op: "removeTag" }
  | { readonly op: "removePattern" }
  | { readonly op: "pop"; readonly key: number }
  | { readonly op: "clear" }
  | { readonly op: "expire" }
  | { readonly op: "tick" }

const key = FastCheck.integer({ min: 0, max: 11 })
const size = FastCheck.integer({ min: 0, max: 40 })
const step: FastCheck.Arbitrary<Step> = FastCheck.oneof(
  {
    arbitrary: FastCheck.record({
      op: FastCheck.constant("set" as const),
      key,
      size,
      ttl: FastCheck.boolean(),
      tag: FastCheck.boolean()
    }),
    weight: 6
  },
  {
    arbitrary: FastCheck.record({
      op: FastCheck.constant("setMany" as const),
      keys: FastCheck.array(key, { maxLength: 4 }),
      size
    }),
    weight: 2
  },
  { arbitrary: FastCheck.record({ op: FastCheck.constant("remove" as const), key }), weight: 2 },
  {
    arbitrary: FastCheck.record({
      op: FastCheck.constant("removeMany" as const),
      keys: FastCheck.array(key, { maxLength: 4 })
    }),
    weight: 1
  },
  { arbitrary: FastCheck.record({ op: FastCheck.constant("append" as const), key, size }), weight: 2 },
  { arbitrary: FastCheck.record({ op: FastCheck.constant("pop" as const), key }), weight: 1 },
  { arbitrary: FastCheck.constant({ op: "removeTag" as const }), weight: 1 },
  { arbitrary: FastCheck.constant({ op: "removePattern" as const }), weight: 1 },
  { arbitrary: FastCheck.constant({ op: "clear" as const }), weight: 1 },
  { arbitrary: FastCheck.constant({ op: "expire" as const }), weight: 1 },
  { arbitrary: FastCheck.constant({ op: "tick" as const }), weight: 2 }
)

const run = (store: KeyValueStore.Service, s: Step): Effect.Effect<unknown, unknown> => {
  const name = (k: number) => `${k % 2 === 0 ? "even" : "odd"}.${k}`
  switch (s.op) {
    case "set":
      return store.set(name(s.key), "x".repeat(s.size), {
        ...(s.ttl ? { ttl: "3 seconds" } : {}),
        ...(s.tag ? { tags: ["t"] } : {})
      })
    case "setMany":
      return store.setMany(s.keys.map((k) => [name(k), "y".repeat(s.size)] as const))
    case "remove":
      return store.remove(name(s.key))
    case "removeMany":
      return store.removeMany(s.keys.map(name))
    case "append":
      return store.append(name(s.key), "z".repeat(s.size))
    case "pop":
      return store.pop(name(s.key))
    case "removeTag":
      return store.removeTag("t")
    case "removePattern":
      return store.removePattern("even.*")
    case "clear":
      return store.clear
    case "expire":
      return store.expire
    case "tick":
      return Effect.zipRight(TestClock.adjust("1 second"), settle)
  }
}

describe("SqliteStore counters row", () => {
  for (
    const [label, limits] of [
      ["with lru limits", { maxEntries: 6, maxSize: 100 }],
      ["with lfu limits", { maxEntries: 5, eviction: "lfu" as const }],
      ["with none limits", { maxSize: 90, eviction: "none" as const }]
    ] as const
  ) {
    it.effect.prop(
      `equals a recount after random writes, removals, expiry and clears (${label})`,
      [FastCheck.array(step, { minLength: 1, maxLength: 60 })],
      ([steps]) =>
        Effect.gen(function*() {
          const filename = yield* freshFile
          const store = yield* SqliteStore.make({ filename, sweepInterval: "2 seconds", ...limits })
          const db = yield* raw(filename)
          for (const s of steps) {
            yield* Effect.either(run(store, s))
            assert.deepStrictEqual(countersOf(db), recount(db), JSON.stringify(s))
            if ("maxEntries" in limits) assert.isAtMost(rows(db), limits.maxEntries)
            if ("maxSize" in limits) assert.isAtMost(countersOf(db).bytes, limits.maxSize)
          }
        }).pipe(Effect.scoped),
      { fastCheck: { numRuns: 15 } }
    )
  }

  it.scoped("a store without limits keeps none: no counters table and no trigger, so its writes pay for neither", () =>
    Effect.gen(function*() {
      const filename = yield* freshFile
      const store = yield* SqliteStore.make({ filename })
      yield* store.setMany([["a", "1"], ["b", "22"]])
      const db = yield* raw(filename)
      const counting = db.prepare(
        "SELECT name FROM sqlite_master WHERE name = 'effect_kv_counters' OR (type = 'trigger' AND name LIKE '%count%')"
      ).pluck().all()
      assert.deepStrictEqual(counting, [])
    }))

  it.scoped("a store with limits on a file written without them counts it, then counts every store's writes", () =>
    Effect.gen(function*() {
      const filename = yield* freshFile
      const plain = yield* SqliteStore.make({ filename })
      yield* plain.setMany([["a", "1"], ["b", "22"], ["c", "333"]])
      const limited = yield* SqliteStore.make({ filename, maxEntries: 100 })
      const db = yield* raw(filename)
      assert.deepStrictEqual(countersOf(db), { entries: 3, bytes: 6 })
      yield* plain.set("d", "4444")
      yield* plain.remove("a")
      yield* plain.set("b", "2")
      yield* limited.set("e", "55555")
      assert.deepStrictEqual(countersOf(db), recount(db))
      assert.deepStrictEqual(countersOf(db), { entries: 4, bytes: 13 })
    }))

  it.scoped("is recreated by a recount when deleted behind the store's back", () =>
    Effect.gen(function*() {
      const filename = yield* freshFile
      const store = yield* SqliteStore.make({ filename, maxEntries: 2 })
      yield* store.setMany([["a", "1"], ["b", "22"]])
      const db = yield* raw(filename)
      db.exec("DELETE FROM effect_kv_counters")
      yield* store.set("c", "333")
      assert.deepStrictEqual(countersOf(db), { entries: 2, bytes: 5 })
      assert.isFalse(yield* store.has("a"))
    }))
})

describe("SqliteStore limits with several stores on one file", () => {
  it.scoped("the sweeper enforces the limit on rows other stores wrote", () =>
    Effect.gen(function*() {
      const filename = yield* freshFile
      const limited = yield* SqliteStore.make({ filename, maxEntries: 10, sweepInterval: "5 seconds" })
      const other = yield* SqliteStore.make({ filename })
      yield* limited.setMany(keys(5, "mine").map((key) => [key, "v"] as const))
      yield* other.setMany(keys(50, "other").map((key) => [key, "v"] as const))
      yield* Effect.forEach(keys(5, "mine"), (key) => limited.get(key))
      const db = yield* raw(filename)
      assert.strictEqual(rows(db), 55)
      yield* TestClock.adjust("5 seconds")
      yield* settle
      assert.strictEqual(rows(db), 10)
      assert.strictEqual((yield* limited.stats).evictions, 45)
      const kept = yield* other.getMany([...keys(5, "mine"), ...keys(50, "other").slice(-5)])
      assert.isTrue(kept.every(Option.isSome), "the most recently used rows stayed")
    }))

  it.scoped("a write of another limited store enforces the shared counters", () =>
    Effect.gen(function*() {
      const filename = yield* freshFile
      const a = yield* SqliteStore.make({ filename, maxEntries: 10 })
      const b = yield* SqliteStore.make({ filename, maxEntries: 10 })
      for (const [i, key] of keys(40).entries()) yield* (i % 2 === 0 ? a : b).set(key, "v")
      const db = yield* raw(filename)
      assert.strictEqual(rows(db), 10)
      assert.deepStrictEqual(countersOf(db), recount(db))
    }))

  it.scoped("\"none\" with concurrent writers never exceeds the limit", () =>
    Effect.gen(function*() {
      const filename = yield* freshFile
      const stores = [
        yield* SqliteStore.make({ filename, maxEntries: 25, maxSize: 1000, eviction: "none" }),
        yield* SqliteStore.make({ filename, maxEntries: 25, maxSize: 1000, eviction: "none" })
      ]
      const db = yield* raw(filename)
      let peak = 0
      const results = yield* Effect.forEach(
        keys(100),
        (key, i) =>
          Effect.either(
            Effect.zipRight(
              Effect.yieldNow(),
              i % 3 === 0
                ? stores[i % 2]!.setMany([[key, "v".repeat(20)], [`${key}.b`, "w"]])
                : stores[i % 2]!.set(key, "v".repeat(i % 50))
            )
          ).pipe(Effect.tap(() => {
            peak = Math.max(peak, rows(db))
          })),
        { concurrency: "unbounded" }
      )
      assert.isAtMost(peak, 25)
      assert.isAtMost(countersOf(db).bytes, 1000)
      assert.deepStrictEqual(countersOf(db), recount(db))
      const failures = results.filter((result) => result._tag === "Left")
      assert.isAbove(failures.length, 0)
      for (const failure of failures) {
        if (failure._tag === "Left") assert.strictEqual(failure.left._tag, "StoreFull")
      }
    }))
})
