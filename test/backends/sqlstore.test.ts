/**
 * SqlStore over `@effect/sql-sqlite-node`: the contract suite and the model-based property test on a fresh file per
 * test, then what only a store inside the application's database has: operations join the caller's
 * `sql.withTransaction` (and roll back with it), files written by SqliteStore open in SqlStore and the other way
 * round, persistence across reopen, a foreign format version refused with StoreCorrupted, driver errors mapped to
 * BackendError, the sweeper under `TestClock`, and options from `Config`.
 */
import { SqliteClient } from "@effect/sql-sqlite-node"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { KeyValueStore, SqliteStore, SqlStore } from "effect-kv"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as path from "node:path"
import { locksSuite } from "../contract/locks.js"
import { modelSuite } from "../contract/model.js"
import { namespaceSuite } from "../contract/namespace.js"
import { suite } from "../contract/suite.js"
import { joinsTheApplicationsTransaction } from "./fixtures/app-transactions.js"
import { checkDamagedRows } from "./fixtures/damaged.js"
import { eventually } from "./fixtures/eventually.js"
import { invalidStoreOptions } from "./fixtures/options.js"
import { freshSqlStoreLayer, sqlStoreLayer, tempDir } from "./fixtures/temp.js"

suite("SqlStore (sqlite)", freshSqlStoreLayer(), SqlStore.capabilities)
locksSuite("SqlStore (sqlite)", freshSqlStoreLayer(), SqlStore.capabilities)
modelSuite("SqlStore (sqlite)", freshSqlStoreLayer())
namespaceSuite("SqlStore (sqlite)", freshSqlStoreLayer(), SqlStore.capabilities)

const text = (bytes: Option.Option<Uint8Array>): string | undefined =>
  Option.getOrUndefined(Option.map(bytes, (b) => Buffer.from(b).toString("utf8")))

/** Runs `f` with a SqlStore (and its client) on `filename`, closing both afterwards. */
const withSqlStore = <A, E>(
  filename: string,
  f: (store: KeyValueStore.Service, sql: SqlClient.SqlClient) => Effect.Effect<A, E>,
  options: SqlStore.Options = {}
) =>
  Effect.gen(function*() {
    const store = yield* KeyValueStore.KeyValueStore
    const sql = yield* SqlClient.SqlClient
    return yield* f(store, sql)
  }).pipe(Effect.provide(sqlStoreLayer(filename, options)))

const withSqliteStore = <A, E>(filename: string, f: (store: KeyValueStore.Service) => Effect.Effect<A, E>) =>
  Effect.scoped(Effect.flatMap(SqliteStore.make({ filename }), f))

const raw = (filename: string) =>
  Effect.acquireRelease(Effect.sync(() => new Database(filename)), (db) => Effect.sync(() => db.close()))

/** Writes a bit of everything a store keeps: plain, ttl, tags, metadata, a counter, binary bytes. */
const writeSample = (store: KeyValueStore.Service) =>
  Effect.gen(function*() {
    yield* store.set("plain", "one")
    yield* store.set("rich", "two", { ttl: "1 hour", tags: ["b", "a"], metadata: { owner: "me" } })
    yield* store.set("short", "gone", { ttl: "1 second" })
    yield* store.set("binary", new Uint8Array([0, 255, 1, 254]))
    yield* store.increment("counter", 41)
  })

/** Reads the sample back, two seconds later, through whichever store opened the file. */
const checkSample = (store: KeyValueStore.Service) =>
  Effect.gen(function*() {
    assert.strictEqual(text(yield* store.get("plain")), "one")
    assert.isFalse(yield* store.has("short"))
    assert.deepStrictEqual(Array.from(Option.getOrThrow(yield* store.get("binary"))), [0, 255, 1, 254])
    assert.strictEqual(yield* store.increment("counter"), 42n)
    const entry = Option.getOrThrow(yield* store.getEntry("rich"))
    assert.deepStrictEqual(entry.tags, ["a", "b"])
    assert.deepStrictEqual(Option.getOrNull(entry.metadata), { owner: "me" })
    assert.strictEqual(Option.getOrNull(entry.expiresAt), 3_600_000)
    assert.strictEqual(yield* store.size, 4)
    assert.strictEqual(yield* store.removeTag("a"), 1)
    assert.isFalse(yield* store.has("rich"))
  })

describe("SqlStore over SqliteClient", () => {
  it.scoped("operations join the caller's transaction and roll back with it", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "app.db")
      yield* withSqlStore(filename, (store, sql) => joinsTheApplicationsTransaction(store, sql, "effect_kv_meta"))
    }))

  it.scoped("a failed read-modify-write inside the caller's transaction rolls back only with the caller", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "app.db")
      yield* withSqlStore(filename, (store, sql) =>
        Effect.gen(function*() {
          yield* store.set("text", "not a number")
          yield* sql.withTransaction(Effect.gen(function*() {
            yield* store.set("a", "1")
            const error = yield* Effect.flip(store.increment("text"))
            assert.strictEqual(error._tag, "NotANumber")
            yield* store.set("b", "2")
          }))
          assert.strictEqual(text(yield* store.get("a")), "1")
          assert.strictEqual(text(yield* store.get("b")), "2")
        }))
    }))

  it.scoped("concurrent fibers: add wins once, increments are not lost", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "app.db")
      yield* withSqlStore(filename, (store) =>
        Effect.gen(function*() {
          const wins = yield* Effect.forEach(
            Array.from({ length: 20 }, (_, i) => i),
            (i) => store.add("once", `${i}`),
            { concurrency: "unbounded" }
          )
          assert.strictEqual(wins.filter((won) => won).length, 1)
          yield* Effect.forEach(Array.from({ length: 100 }, (_, i) => i), () => store.increment("n"), {
            concurrency: "unbounded",
            discard: true
          })
          assert.strictEqual(text(yield* store.get("n")), "100")
        }))
    }))

  it.scoped("a file written by SqliteStore opens in SqlStore", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "kv.db")
      yield* withSqliteStore(filename, writeSample)
      yield* TestClock.adjust("2 seconds")
      yield* withSqlStore(filename, checkSample)
    }))

  it.scoped("a file written by SqlStore opens in SqliteStore", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "kv.db")
      yield* withSqlStore(filename, writeSample)
      yield* TestClock.adjust("2 seconds")
      yield* withSqliteStore(filename, checkSample)
    }))

  it.scoped("entries survive closing and reopening the client", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "kv.db")
      yield* withSqlStore(filename, writeSample, { table: "cache" })
      yield* TestClock.adjust("2 seconds")
      yield* withSqlStore(filename, checkSample, { table: "cache" })
      yield* withSqlStore(filename, (store) => Effect.map(store.size, (n) => assert.strictEqual(n, 0)))
    }))

  it.scoped("a table of another format version fails the layer build with StoreCorrupted", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "kv.db")
      yield* withSqlStore(filename, (store) => store.set("k", "v"))
      yield* Effect.scoped(Effect.map(raw(filename), (db) => {
        db.prepare("UPDATE effect_kv_meta SET value = '7' WHERE name = 'format'").run()
        db.prepare("DROP INDEX effect_kv_tags_key").run()
      }))
      const error = yield* Effect.flip(withSqlStore(filename, (store) => store.size))
      assert.strictEqual(error._tag, "StoreCorrupted")
      const db = yield* raw(filename)
      assert.strictEqual(db.prepare("SELECT value FROM effect_kv_meta WHERE name = 'format'").pluck().get(), "7")
      assert.strictEqual(
        db.prepare("SELECT COUNT(*) FROM sqlite_master WHERE name = 'effect_kv_tags_key'").pluck().get(),
        0,
        "nothing was created in the foreign store"
      )
    }))

  it.scoped("rejects a table name that is not a plain identifier", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "kv.db")
      const error = yield* Effect.flip(withSqlStore(filename, (store) => store.size, { table: "a\"b" }))
      assert.strictEqual(error._tag, "InvalidArgument")
    }))

  it.scoped("a driver error is a BackendError carrying the SqlError", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "kv.db")
      yield* withSqlStore(filename, (store, sql) =>
        Effect.gen(function*() {
          yield* store.set("k", "v")
          yield* sql`DROP TABLE effect_kv`
          for (
            const operation of [store.get("k"), store.set("k", "v"), store.add("k", "v"), store.setMany([["k", "v"]])]
          ) {
            const error = yield* Effect.flip(operation)
            assert.strictEqual(error._tag, "BackendError")
            if (error._tag === "BackendError") {
              assert.strictEqual(error.backend, "sql")
              assert.strictEqual((error.cause as { readonly _tag?: string })._tag, "SqlError")
            }
          }
        }))
    }))

  it.scoped("one sweep removes every expired row and its tag rows, in slices of sweepBatch", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "kv.db")
      yield* withSqlStore(filename, (store, sql) =>
        Effect.gen(function*() {
          const rows = Effect.map(sql<{ n: number }>`SELECT COUNT(*) AS n FROM effect_kv`, (r) => r[0]!.n)
          for (let i = 0; i < 5; i++) yield* store.set(`short.${i}`, "v", { ttl: "1 second", tags: ["t"] })
          yield* store.set("forever", "v")
          assert.strictEqual(yield* rows, 6)
          // More than sweepBatch expiring writes: the sweeper comes a second after its last sweep, not a minute.
          yield* TestClock.adjust("2 seconds")
          yield* eventually(Effect.map(rows, (n) => n === 1), "the sweep")
          assert.strictEqual((yield* store.stats).expirations, 5)
          const tags = yield* sql<{ n: number }>`SELECT COUNT(*) AS n FROM effect_kv_tags`
          assert.strictEqual(tags[0]!.n, 0)
        }), { sweepInterval: "1 minute", sweepBatch: 2 })
    }))

  it.scoped("layerConfig reads its options from Config", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "kv.db")
      const layer = SqlStore.layerConfig({ table: Config.string("KV_TABLE") }).pipe(
        Layer.provideMerge(Layer.setConfigProvider(ConfigProvider.fromMap(new Map([["KV_TABLE", "from_config"]])))),
        Layer.provide(SqliteClient.layer({ filename }))
      )
      yield* Effect.flatMap(KeyValueStore.KeyValueStore, (store) => store.set("k", "v")).pipe(Effect.provide(layer))
      const db = yield* raw(filename)
      assert.strictEqual(db.prepare("SELECT COUNT(*) FROM from_config").pluck().get(), 1)
    }))

  it.scoped("a row with damaged tags or metadata fails reads and read-modify-writes with StoreCorrupted", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "kv.db")
      yield* withSqlStore(filename, (store, sql) =>
        checkDamagedRows(
          store,
          "sql",
          (column, damage) => sql.unsafe(`UPDATE effect_kv SET ${column} = ? WHERE key = 'k'`, [damage]),
          (column) =>
            Effect.map(
              sql.unsafe<{ readonly v: string }>(`SELECT ${column} AS v FROM effect_kv WHERE key = 'k'`),
              (rows) => rows[0]?.v
            )
        ))
    }))

  it.scoped("invalid store options fail the layer build with InvalidArgument before any table is created", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "kv.db")
      for (const [options, argument] of invalidStoreOptions) {
        const error = yield* Effect.flip(withSqlStore(filename, (store) => store.size, options))
        assert.strictEqual(error._tag, "InvalidArgument", argument)
        if (error._tag === "InvalidArgument") assert.strictEqual(error.argument, argument)
      }
      const db = yield* raw(filename)
      assert.strictEqual(db.prepare("SELECT COUNT(*) FROM sqlite_master").pluck().get(), 0)
    }))
})
