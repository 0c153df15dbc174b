/**
 * The migration from format 3 (every release before the lean schema: counter triggers on every write) to format 4,
 * on a file that format-3 code really wrote (`fixtures/format3/store.db`, made by `fixtures/format3/make.ts` at
 * commit 4c3afa5): SqliteStore and SqlStore open a copy, drop the counters, mark it format 4, and read back every
 * entry with its value (inline, empty, in a file), tags, metadata, times and ttl; locks go on from the stored fence;
 * a store with limits counts the migrated file again. A format the code cannot migrate fails with `StoreCorrupted`.
 */
import { assert, describe, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { KeyValueStore, KeyValueStoreError, SqliteStore } from "effect-kv"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { sqlStoreLayer, tempDir, withDb } from "./fixtures/temp.js"

/** The time the fixture was written at (`T0` of `fixtures/format3/make.ts`, which is not imported: it writes). */
const T0 = 1_767_225_600_000

const fixture = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures", "format3", "store.db")

/** A copy of the fixture (and its value files) in a scoped temp directory, with the clock where the writer left it. */
const copy = Effect.gen(function*() {
  const filename = path.join(yield* tempDir, "store.db")
  fs.copyFileSync(fixture, filename)
  fs.cpSync(`${fixture}.files`, `${filename}.files`, { recursive: true })
  yield* TestClock.setTime(T0 + 10_000)
  return filename
})

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString("utf8")

const schemaOf = (filename: string) =>
  withDb(filename, (db) => ({
    format: db.prepare("SELECT value FROM effect_kv_meta WHERE name = 'format'").pluck().get(),
    counting: db.prepare(
      "SELECT name FROM sqlite_master WHERE name = 'effect_kv_counters' OR (type = 'trigger' AND name LIKE '%count%')"
    ).pluck().all()
  }))

const users = Array.from({ length: 200 }, (_, i) => `user.${String(i).padStart(3, "0")}.name`)

/** Everything the format-3 writer stored, read through `store`. */
const readsEverything = (store: KeyValueStore.Service, files: boolean) =>
  Effect.gen(function*() {
    assert.isTrue(Option.isNone(yield* store.get("expired")), "an entry expired before the migration stays invisible")
    assert.deepStrictEqual(Option.map(yield* store.get("plain"), text), Option.some("hello"))
    assert.deepStrictEqual(Option.map(yield* store.get("empty"), (v) => v.byteLength), Option.some(0))
    assert.deepStrictEqual(Option.map(yield* store.get("unicode.é€😀"), text), Option.some("ünï"))
    assert.deepStrictEqual(yield* store.ttl("ttl"), Option.some(Duration.millis(3_600_000 - 10_000)))
    assert.deepStrictEqual(yield* store.ttl("plain"), Option.some(Duration.infinity))

    const all = Option.getOrThrow(yield* store.getEntry("all"))
    assert.strictEqual(text(all.value), "everything")
    assert.deepStrictEqual(all.tags, ["red"])
    assert.deepStrictEqual(all.metadata, Option.some({ a: [1, 2] }))
    assert.deepStrictEqual(all.expiresAt, Option.some(T0 + 7_200_000))
    assert.strictEqual(all.createdAt, T0)
    assert.strictEqual(all.updatedAt, T0)
    assert.strictEqual(all.size, 10)
    const tagged = Option.getOrThrow(yield* store.getEntry("tagged"))
    assert.deepStrictEqual([...tagged.tags].sort(), ["blue", "red"])
    assert.deepStrictEqual(tagged.metadata, Option.none())
    const meta = Option.getOrThrow(yield* store.getEntry("meta"))
    assert.deepStrictEqual(meta.metadata, Option.some({ owner: "ada", n: 3 }))
    assert.deepStrictEqual(meta.tags, [])

    if (files) {
      const large = Option.getOrThrow(yield* store.get("large"))
      assert.deepStrictEqual(
        [...large],
        Array.from({ length: 100 }, (_, i) => i),
        "the value file is read and verified"
      )
    }

    const keys = Chunk.toReadonlyArray(yield* Stream.runCollect(store.keys()))
    const expected = [
      "all",
      "counter",
      "empty",
      ...(files ? ["large"] : []),
      "meta",
      "plain",
      "tagged",
      "ttl",
      "unicode.é€😀",
      ...users
    ].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
    assert.deepStrictEqual(files ? keys : keys.filter((key) => key !== "large"), expected)
    assert.strictEqual(yield* store.countPattern("user.*.name"), 200)
    assert.strictEqual(yield* store.size, 209)

    assert.strictEqual(yield* store.increment("counter", 1), 42n)
    assert.strictEqual(yield* store.removeTag("tenth"), 20)
    assert.strictEqual(yield* store.removeTag("red"), 2)
    assert.isTrue(Option.isNone(yield* store.get("tagged")))
    assert.isTrue(Option.isSome(yield* store.get("meta")))
  })

describe("SqliteStore: a format-3 file", () => {
  it.scoped("opens, migrates to format 4 (counters dropped) and reads every entry, tag, metadata and ttl", () =>
    Effect.gen(function*() {
      const filename = yield* copy
      assert.deepStrictEqual(schemaOf(filename), {
        format: "3",
        counting: ["effect_kv_counters", "effect_kv_count_insert", "effect_kv_count_update", "effect_kv_count_delete"]
      })
      yield* Effect.scoped(Effect.gen(function*() {
        const store = yield* SqliteStore.make({ filename, largeValueThreshold: 64, sweepInterval: "1000 days" })
        assert.deepStrictEqual(schemaOf(filename), { format: "4", counting: [] })
        yield* readsEverything(store, true)
        const lock = yield* Effect.scoped(store.lock("job"))
        assert.strictEqual(lock.fencingToken, 2n, "the fence goes on from the token format 3 issued")
        const report = yield* store.check({ minOrphanAge: 0 })
        assert.isTrue(report.ok, JSON.stringify(report))
      }))
      // Reopened: nothing to migrate, the changes are there.
      yield* Effect.scoped(Effect.gen(function*() {
        const store = yield* SqliteStore.make({ filename, sweepInterval: "1000 days" })
        assert.deepStrictEqual(Option.map(yield* store.get("counter"), text), Option.some("42"))
        assert.strictEqual(yield* store.size, 187)
      }))
    }))

  it.scoped("opened with limits, it migrates and counts the table again", () =>
    Effect.gen(function*() {
      const filename = yield* copy
      const store = yield* SqliteStore.make({ filename, maxEntries: 1000, sweepInterval: "1000 days" })
      const schema = schemaOf(filename)
      assert.strictEqual(schema.format, "4")
      assert.sameMembers(schema.counting, [
        "effect_kv_counters",
        "effect_kv_count_insert",
        "effect_kv_count_update",
        "effect_kv_count_delete"
      ])
      const counts = withDb(filename, (db) => ({
        stored: db.prepare("SELECT entries, bytes FROM effect_kv_counters").get(),
        actual: db.prepare("SELECT COUNT(*) AS entries, SUM(size) AS bytes FROM effect_kv").get()
      }))
      assert.deepStrictEqual(counts.stored, counts.actual)
      yield* readsEverything(store, true)
      assert.isUndefined((yield* store.check()).counterDrift)
    }))

  it.scoped("SqlStore on SQLite migrates it too", () =>
    Effect.gen(function*() {
      const filename = yield* copy
      const context = yield* Layer.build(sqlStoreLayer(filename, { sweepInterval: "1000 days" }))
      const store = Context.get(context, KeyValueStore.KeyValueStore)
      assert.deepStrictEqual(schemaOf(filename), { format: "4", counting: [] })
      // SqlStore cannot read values kept in files: everything else.
      yield* readsEverything(store, false)
    }))

  it.scoped("a format it cannot migrate fails with StoreCorrupted naming both formats, and the file is untouched", () =>
    Effect.gen(function*() {
      const filename = yield* copy
      for (const format of ["1", "5"]) {
        withDb(filename, (db) => db.prepare("UPDATE effect_kv_meta SET value = ? WHERE name = 'format'").run(format))
        const exit = yield* Effect.exit(Effect.scoped(SqliteStore.make({ filename })))
        assert.isTrue(Exit.isFailure(exit))
        const error = Exit.isFailure(exit) ? exit.cause : undefined
        const failure = error && error._tag === "Fail" ? error.error : undefined
        assert.instanceOf(failure, KeyValueStoreError.StoreCorrupted)
        assert.include(
          (failure as KeyValueStoreError.StoreCorrupted).reason,
          `store format ${format}; this version reads format 4`
        )
        const db = new Database(filename, { readonly: true })
        try {
          assert.strictEqual(db.prepare("SELECT entries FROM effect_kv_counters").pluck().get(), 210, "untouched")
        } finally {
          db.close()
        }
      }
    }))
})
