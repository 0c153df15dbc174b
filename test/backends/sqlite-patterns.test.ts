/**
 * Enumeration, namespaces and the index configuration on SQLite: the query plans prove that a pattern's literal
 * prefix is a key range (not a full scan) and that `removeTag` is an index lookup; two stores on one file with
 * different namespaces are isolated, `clear` included; the index runs the contract suite (with no expiry, tags or
 * metadata; no locks, so `lock` and fenced writes are `Unsupported`), refuses a store table and coexists with one in
 * the same file; `make` reads enumerations page by page.
 */
import { assert, describe, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { KeyValueStore, MemoryStore, SqliteStore } from "effect-kv"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as path from "node:path"
import { statements } from "../../src/internal/sql/schema.js"
import { locksSuite } from "../contract/locks.js"
import { suite } from "../contract/suite.js"
import { tempDir } from "./fixtures/temp.js"

const indexLayer = (options: Omit<SqliteStore.IndexOptions, "filename"> = {}) =>
  Layer.unwrapScoped(
    Effect.map(tempDir, (dir) => SqliteStore.layerIndex({ ...options, filename: path.join(dir, "index.db") }))
  )

suite("SqliteStore index", indexLayer(), SqliteStore.indexCapabilities)
locksSuite("SqliteStore index", indexLayer(), SqliteStore.indexCapabilities)
suite("SqliteStore index (:memory:)", SqliteStore.layerIndex({ filename: ":memory:" }), {
  ...SqliteStore.indexCapabilities,
  persistent: false,
  crossProcess: false,
  volume: false
})

const plan = (db: Database.Database, sql: string, params: ReadonlyArray<unknown>): string =>
  db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params).map((row) => (row as { detail: string }).detail).join("\n")

const collect = <A, E>(stream: Stream.Stream<A, E>) => Effect.map(Stream.runCollect(stream), Chunk.toArray)

describe("SqliteStore enumeration", () => {
  it.scoped("a pattern's literal prefix is a key range in the query plan, not a scan", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "kv.db")
      const store = yield* SqliteStore.make({ filename })
      yield* store.setMany(Array.from({ length: 100 }, (_, i) => [`users.${i}.name`, "v"] as const))
      const db = new Database(filename, { readonly: true })
      yield* Effect.addFinalizer(() => Effect.sync(() => db.close()))
      const s = statements("effect_kv")
      for (const bounded of [true, false]) {
        const params = bounded ? ["users.", "users/", 0, 1000] : ["users.", 0, 1000]
        for (const sql of [s.scanKeys(bounded), s.scanEntries(bounded)]) {
          const detail = plan(db, sql, params)
          assert.match(detail, /SEARCH effect_kv USING INDEX sqlite_autoindex_effect_kv_1 \(key>\?/, detail)
          assert.notMatch(detail, /SCAN|TEMP B-TREE/, detail)
        }
        const count = plan(db, s.countRange(bounded), params.slice(0, -1))
        assert.match(count, /SEARCH effect_kv USING .*INDEX .*\(key>\?/, count)
        const remove = plan(db, s.removeRange(bounded), params.slice(0, bounded ? 2 : 1))
        assert.match(remove, /SEARCH effect_kv USING .*INDEX .*\(key>\?/, remove)
      }
      assert.deepStrictEqual(yield* collect(store.keys("users.1?.name")), [
        "users.10.name",
        "users.11.name",
        "users.12.name",
        "users.13.name",
        "users.14.name",
        "users.15.name",
        "users.16.name",
        "users.17.name",
        "users.18.name",
        "users.19.name"
      ])
    }))

  it.scoped("removeTag looks the tag up in its index", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "kv.db")
      const store = yield* SqliteStore.make({ filename })
      yield* store.set("a", "1", { tags: ["t"] })
      const db = new Database(filename, { readonly: true })
      yield* Effect.addFinalizer(() => Effect.sync(() => db.close()))
      const detail = plan(db, statements("effect_kv").removeTag, ["t"])
      assert.match(detail, /SEARCH effect_kv_tags USING (COVERING INDEX|PRIMARY KEY|INDEX) .*\(tag=\?\)/, detail)
      assert.notMatch(detail, /SCAN effect_kv\b/, detail)
    }))

  it.scoped("two stores on one file with different namespaces are isolated, clear included", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "kv.db")
      const first = KeyValueStore.prefix(yield* SqliteStore.make({ filename }), "one.")
      const second = KeyValueStore.prefix(yield* SqliteStore.make({ filename }), "two.")
      yield* first.setMany([["a", "1"], ["b", "1"]])
      yield* second.setMany([["a", "2"], ["c", "2"]])
      assert.deepStrictEqual(yield* collect(first.keys()), ["a", "b"])
      assert.deepStrictEqual(yield* collect(second.keys()), ["a", "c"])
      yield* first.clear
      assert.strictEqual(yield* first.size, 0)
      assert.strictEqual(yield* second.size, 2)
      assert.deepStrictEqual(yield* collect(second.keys("*")), ["a", "c"])
    }))
})

describe("SqliteStore index", () => {
  it.scoped("refuses a store table, and a store refuses an index table", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "kv.db")
      yield* Effect.scoped(SqliteStore.make({ filename }))
      const asIndex = yield* Effect.flip(Effect.scoped(SqliteStore.makeIndex({ filename, table: "effect_kv" })))
      assert.strictEqual(asIndex._tag, "StoreCorrupted")
      yield* Effect.scoped(SqliteStore.makeIndex({ filename, table: "idx" }))
      const asStore = yield* Effect.flip(Effect.scoped(SqliteStore.make({ filename, table: "idx" })))
      assert.strictEqual(asStore._tag, "StoreCorrupted")
    }))

  it.scoped("lives beside a store in one file and persists across reopen", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "kv.db")
      yield* Effect.scoped(Effect.gen(function*() {
        const store = yield* SqliteStore.make({ filename })
        const index = yield* SqliteStore.makeIndex({ filename })
        yield* store.set("k", "store")
        yield* index.set("k", "index")
      }))
      const index = yield* SqliteStore.makeIndex({ filename })
      const store = yield* SqliteStore.make({ filename })
      const [a, b] = [yield* store.getString("k"), yield* index.getString("k")]
      assert.isTrue(a._tag === "Some" && a.value === "store")
      assert.isTrue(b._tag === "Some" && b.value === "index")
    }))
})

describe("enumeration paging", () => {
  it.effect("make reads an enumeration in bounded pages and only as far as it is consumed", () =>
    Effect.gen(function*() {
      const inner = yield* MemoryStore.make()
      const pages: Array<number> = []
      const spy = KeyValueStore.make({
        ...inner.primitives,
        scanKeys: (range, now) =>
          Effect.tap(inner.primitives.scanKeys!(range, now), (keys) => {
            pages.push(keys.length)
          })
      })
      yield* spy.setMany(Array.from({ length: 5500 }, (_, i) => [`k${String(i).padStart(5, "0")}`, "v"] as const))
      assert.strictEqual(yield* Stream.runCount(spy.keys()), 5500)
      assert.deepStrictEqual(pages, [1000, 1000, 1000, 1000, 1000, 500])
      pages.length = 0
      yield* Stream.runDrain(Stream.take(spy.keys(), 1500))
      assert.deepStrictEqual(pages, [1000, 1000])
    }).pipe(Effect.scoped))
})
