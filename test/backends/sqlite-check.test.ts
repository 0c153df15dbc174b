/**
 * SqliteStore's `check`: every defect it knows made by hand behind the store's back, then seen in the report, then
 * repaired by `fix`, then a clean report: orphaned value files past `minOrphanAge` (a young one is left alone), stale
 * temp files, files of another store table of the same database (never orphans), rows naming a missing, truncated or
 * foreign file, a counters row edited or deleted, expired rows pending, an index damaged in the schema (reported by
 * the engine, nothing repaired), and overwritten pages (a typed error or an engine report, never a defect).
 */
import { assert, describe, it } from "@effect/vitest"
import Database from "better-sqlite3"
import type { KeyValueStore, KeyValueStoreError } from "effect-kv"
import { SqliteStore } from "effect-kv"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import * as sqlSchema from "../../src/internal/sql/schema.js"
import * as sqliteCheck from "../../src/internal/sqlite/check.js"
import * as largeValues from "../../src/internal/sqlite/largeValues.js"
import { damageExpiryIndex } from "./fixtures/damaged.js"
import { tempDir, withDb } from "./fixtures/temp.js"

const large = (): Uint8Array => crypto.randomBytes(largeValues.DEFAULT_THRESHOLD + 1)

type Check = KeyValueStore.Service["check"]

/**
 * The check of the store of `table` on `filename`: `store.check` once SqliteStore provides it, otherwise one built
 * on a connection of its own exactly as SqliteStore is to wire it (the same large-value triggers and `run`).
 */
/** The check of the store of `table` on `filename` on a connection of its own, with no store open. */
const rawCheck = (
  filename: string,
  table = "effect_kv"
): Effect.Effect<Check, KeyValueStoreError.KeyValueStoreError, Scope.Scope> => {
  const toError = (method: string, cause: unknown) => sqlSchema.toError("sqlite", method, undefined, cause)
  return Effect.acquireRelease(
    Effect.try({ try: () => new Database(filename, { timeout: 5000 }), catch: (cause) => toError("open", cause) }),
    (db) => Effect.sync(() => db.close())
  ).pipe(Effect.flatMap((db) =>
    Effect.try({
      try: () => {
        const files = largeValues.make(db, {
          backend: "sqlite",
          table,
          databaseFile: filename,
          threshold: largeValues.DEFAULT_THRESHOLD,
          durable: false
        })
        return sqliteCheck.make({
          db,
          table,
          backend: "sqlite",
          directory: largeValues.directoryOf(filename),
          run: files.run,
          toError
        })
      },
      catch: (cause) => toError("open", cause)
    })
  ))
}

/**
 * A store on a fresh file. The test clock is set to the real time first (file ages compare mtimes with the
 * `Clock`), and the sweeper never runs on its own.
 */
const open = (options: Omit<SqliteStore.Options, "filename"> = {}) =>
  Effect.gen(function*() {
    yield* TestClock.setTime(Date.now())
    const filename = path.join(yield* tempDir, "kv.db")
    const store = yield* SqliteStore.make({ sweepInterval: "1000 days", ...options, filename })
    return { store, filename, directory: largeValues.directoryOf(filename), check: store.check }
  })

/** A limit no test reaches: only a store with size limits keeps the counters row `check` compares. */
const counted = { maxEntries: 1_000_000 }

const fileOf = (filename: string, key: string, table = "effect_kv"): string =>
  withDb(filename, (db) => db.prepare(`SELECT file FROM ${table} WHERE key = ?`).pluck().get(key) as string)

const filesIn = (directory: string): Array<string> => {
  try {
    return fs.readdirSync(directory).sort()
  } catch {
    return []
  }
}

/** Sets a file's mtime `minutes` into the past (of the real time, which the tests' clocks start from). */
const age = (file: string, minutes: number): void => {
  const then = (Date.now() - minutes * 60_000) / 1000
  fs.utimesSync(file, then, then)
}

const fakeName = (ext: "value" | "tmp"): string => `${crypto.randomBytes(16).toString("hex")}.${ext}`

const keysOf = (store: KeyValueStore.Service) =>
  Effect.map(Stream.runCollect(store.keys()), (keys) => Chunk.toArray(keys).sort())

const clean = (report: KeyValueStore.CheckReport, label: string) =>
  assert.deepStrictEqual(report, {
    ok: true,
    engine: ["ok"],
    orphanedFiles: [],
    danglingRows: [],
    counterDrift: undefined,
    expiredPending: 0,
    fixed: []
  }, label)

describe("SqliteStore check", () => {
  it.scoped("a sound store with small and large values reports ok and fixes nothing", () =>
    Effect.gen(function*() {
      const { check, directory, store } = yield* open()
      clean(yield* check(), "empty store, no directory yet")
      yield* store.set("small", "v", { tags: ["t"], metadata: { m: 1 } })
      yield* store.set("large", large(), { ttl: "1 hour" })
      yield* store.setMany([["a", large()], ["b", "x"]])
      assert.strictEqual(filesIn(directory).length, 2)
      clean(yield* check(), "before fix")
      clean(yield* check({ fix: true, minOrphanAge: 0 }), "fix")
      assert.strictEqual(filesIn(directory).length, 2)
      assert.strictEqual(yield* store.size, 4)
    }))

  it.scoped("an old unnamed value file is an orphan and fix deletes it; a young one is left alone", () =>
    Effect.gen(function*() {
      const { check, directory, store } = yield* open()
      yield* store.set("keep", large())
      const old = path.join(directory, fakeName("value"))
      const young = path.join(directory, fakeName("value"))
      fs.writeFileSync(old, "old write whose row never came")
      fs.writeFileSync(young, "a write in progress")
      age(old, 2)
      age(young, 0.5)
      const report = yield* check()
      assert.deepStrictEqual(report.orphanedFiles, [old])
      assert.isFalse(report.ok)
      assert.deepStrictEqual(report.fixed, [])
      assert.isTrue(fs.existsSync(old), "a check without fix deletes nothing")
      assert.deepStrictEqual((yield* check({ minOrphanAge: "10 seconds" })).orphanedFiles.length, 2)
      assert.deepStrictEqual((yield* check({ minOrphanAge: "5 minutes" })).orphanedFiles, [])

      const fixed = yield* check({ fix: true })
      assert.deepStrictEqual(fixed.orphanedFiles, [old], "the report describes the state before the fix")
      assert.deepStrictEqual(fixed.fixed, [`deleted orphaned file ${old}`])
      assert.isFalse(fs.existsSync(old))
      assert.isTrue(fs.existsSync(young))
      clean(yield* check(), "after fix")
      assert.strictEqual(filesIn(directory).length, 2, "the live file and the young one")
      assert.isTrue(Option.isSome(yield* store.get("keep")))
    }))

  it.scoped("a stale temp file is an orphan; files of other names in the directory are never touched", () =>
    Effect.gen(function*() {
      const { check, directory, store } = yield* open()
      yield* store.set("k", large())
      const temp = path.join(directory, fakeName("tmp"))
      const foreign = path.join(directory, "README.txt")
      const upper = path.join(directory, fakeName("value").toUpperCase())
      for (const file of [temp, foreign, upper]) {
        fs.writeFileSync(file, "x")
        age(file, 10)
      }
      const report = yield* check()
      assert.deepStrictEqual(report.orphanedFiles, [temp])
      assert.isFalse(report.ok)
      assert.deepStrictEqual((yield* check({ fix: true })).fixed, [`deleted orphaned file ${temp}`])
      assert.isFalse(fs.existsSync(temp))
      assert.isTrue(fs.existsSync(foreign) && fs.existsSync(upper))
      clean(yield* check(), "after fix")
    }))

  it.scoped("files named by another store table of the same database are not orphans, from either side", () =>
    Effect.gen(function*() {
      const { check, directory, filename, store } = yield* open()
      const other = yield* SqliteStore.make({ filename, table: "other", sweepInterval: "1000 days" })
      const otherCheck = other.check
      const value = large()
      yield* other.set("theirs", value)
      yield* store.set("mine", large())
      // Tables with a file column but no store meta (none, or no format row) are not stores: their names do not
      // protect files.
      const stray = fakeName("value")
      withDb(filename, (db) => {
        db.exec(`CREATE TABLE notastore (file TEXT); CREATE TABLE nometa (file TEXT);
          CREATE TABLE nometa_meta (name TEXT, value TEXT); INSERT INTO nometa_meta VALUES ('version', '2')`)
        db.prepare("INSERT INTO notastore (file) VALUES (?)").run(stray)
        db.prepare("INSERT INTO nometa (file) VALUES (?)").run(stray)
      })
      fs.writeFileSync(path.join(directory, stray), "x")
      for (const name of filesIn(directory)) age(path.join(directory, name), 10)

      const strayPath = path.join(directory, stray)
      assert.deepStrictEqual((yield* check({ minOrphanAge: 0 })).orphanedFiles, [strayPath])
      assert.deepStrictEqual((yield* otherCheck({ minOrphanAge: 0 })).orphanedFiles, [strayPath])
      assert.deepStrictEqual((yield* check({ fix: true })).fixed, [`deleted orphaned file ${strayPath}`])
      clean(yield* check({ minOrphanAge: 0 }), "this table after fix")
      clean(yield* otherCheck({ minOrphanAge: 0 }), "the other table after fix")
      assert.strictEqual(filesIn(directory).length, 2)
      assert.deepStrictEqual(Option.map(yield* other.get("theirs"), (v) => Buffer.compare(v, value)), Option.some(0))
    }))

  it.scoped("rows naming a deleted, truncated or foreign file are dangling; fix deletes them and their files", () =>
    Effect.gen(function*() {
      const { check, directory, filename, store } = yield* open()
      for (const key of ["deleted", "truncated", "foreign", "fine"]) yield* store.set(key, large())
      yield* store.set("small", "v")
      const truncated = path.join(directory, fileOf(filename, "truncated"))
      fs.rmSync(path.join(directory, fileOf(filename, "deleted")))
      fs.truncateSync(truncated, 100)
      // Of the row's size, so that only its name makes it dangling.
      const outside = path.join(path.dirname(filename), "outside.txt")
      const kept = Buffer.alloc(largeValues.DEFAULT_THRESHOLD + 1, "k")
      fs.writeFileSync(outside, kept)
      const foreignFile = fileOf(filename, "foreign")
      withDb(filename, (db) => db.exec(`UPDATE effect_kv SET file = '../outside.txt' WHERE key = 'foreign'`))
      fs.rmSync(path.join(directory, foreignFile))

      const report = yield* check()
      assert.deepStrictEqual([...report.danglingRows].sort(), ["deleted", "foreign", "truncated"])
      assert.isFalse(report.ok)
      assert.isUndefined(report.counterDrift)
      assert.deepStrictEqual(report.orphanedFiles, [])

      const fixed = yield* check({ fix: true })
      assert.deepStrictEqual([...fixed.danglingRows].sort(), ["deleted", "foreign", "truncated"])
      assert.strictEqual(fixed.fixed.length, 3)
      for (const key of ["deleted", "foreign", "truncated"]) {
        assert.isTrue(fixed.fixed.some((line) => line.startsWith(`deleted dangling row "${key}"`)), key)
      }
      assert.isFalse(fs.existsSync(truncated), "the truncated file went with its row")
      assert.isTrue(fs.readFileSync(outside).equals(kept), "a foreign file is never deleted")
      clean(yield* check({ minOrphanAge: 0 }), "after fix")
      assert.deepStrictEqual(yield* keysOf(store), ["fine", "small"])
      assert.deepStrictEqual(filesIn(directory), [fileOf(filename, "fine")])
    }))

  it.scoped("a counters row edited or deleted behind the store's back is drift, and fix recounts it", () =>
    Effect.gen(function*() {
      const { check, filename, store } = yield* open(counted)
      const value = large()
      yield* store.set("a", "12345")
      yield* store.set("b", value)
      withDb(filename, (db) => db.exec("UPDATE effect_kv_counters SET entries = entries + 3, bytes = bytes - 10"))
      const report = yield* check()
      assert.deepStrictEqual(report.counterDrift, { entries: 3, bytes: -10 })
      assert.isFalse(report.ok)
      const fixed = yield* check({ fix: true })
      assert.deepStrictEqual(fixed.counterDrift, { entries: 3, bytes: -10 })
      assert.deepStrictEqual(fixed.fixed, [`recounted the counters: 2 entries, ${5 + value.byteLength} bytes`])
      clean(yield* check(), "after recount")

      withDb(filename, (db) => db.exec("DELETE FROM effect_kv_counters"))
      assert.deepStrictEqual((yield* check()).counterDrift, { entries: -2, bytes: -(5 + value.byteLength) })
      assert.strictEqual((yield* check({ fix: true })).fixed.length, 1)
      clean(yield* check(), "after the row was recreated")
      const counts = withDb(filename, (db) => db.prepare("SELECT entries, bytes FROM effect_kv_counters").get())
      assert.deepStrictEqual(counts, { entries: 2, bytes: 5 + value.byteLength })
    }))

  it.scoped("a file no store with limits opened has no counters: no drift to report, nothing to recount", () =>
    Effect.gen(function*() {
      const { check, filename, store } = yield* open()
      yield* store.set("a", "1")
      const report = yield* check({ fix: true })
      assert.isUndefined(report.counterDrift)
      assert.deepStrictEqual(report.fixed, [])
      const tables = withDb(
        filename,
        (db) => db.prepare("SELECT name FROM sqlite_master WHERE name = 'effect_kv_counters'").pluck().all()
      )
      assert.deepStrictEqual(tables, [])
    }))

  it.scoped("a missing counters row of an empty store is drift too", () =>
    Effect.gen(function*() {
      const { check, filename } = yield* open(counted)
      withDb(filename, (db) => db.exec("DELETE FROM effect_kv_counters"))
      const report = yield* check()
      assert.isFalse(report.ok)
      assert.deepStrictEqual(report.counterDrift, { entries: 0, bytes: 0 })
      assert.deepStrictEqual((yield* check({ fix: true })).fixed, ["recounted the counters: 0 entries, 0 bytes"])
      clean(yield* check(), "after fix")
    }))

  it.scoped("expired rows are pending (not a defect) and fix removes them with their files", () =>
    Effect.gen(function*() {
      const { check, directory, store } = yield* open()
      yield* store.set("e1", "v", { ttl: "1 second" })
      yield* store.set("e2", large(), { ttl: "1 second" })
      yield* store.set("e3", "v", { ttl: "3 seconds" })
      yield* store.set("live", large(), { ttl: "1 hour" })
      yield* store.set("forever", "v")
      clean(yield* check(), "nothing expired yet")
      yield* TestClock.adjust("2 seconds")
      const report = yield* check()
      assert.strictEqual(report.expiredPending, 2)
      assert.isTrue(report.ok, "expired rows are the sweeper's backlog, not a defect")
      yield* TestClock.adjust("2 seconds")
      const fixed = yield* check({ fix: true })
      assert.strictEqual(fixed.expiredPending, 3)
      assert.deepStrictEqual(fixed.fixed, ["removed 3 expired entries"])
      clean(yield* check(), "after fix")
      assert.strictEqual(filesIn(directory).length, 1, "the expired value's file is gone")
      assert.deepStrictEqual(yield* keysOf(store), ["forever", "live"])
    }))

  it.scoped("several defects at once are all reported, then all repaired in one fix", () =>
    Effect.gen(function*() {
      const { check, directory, filename, store } = yield* open(counted)
      yield* store.set("gone", large())
      yield* store.set("old", "v", { ttl: "1 second" })
      const goneFile = fileOf(filename, "gone")
      fs.rmSync(path.join(directory, goneFile))
      const orphan = path.join(directory, fakeName("value"))
      fs.writeFileSync(orphan, "x")
      age(orphan, 5)
      withDb(filename, (db) => db.exec("UPDATE effect_kv_counters SET entries = 7"))
      yield* TestClock.adjust("2 seconds")
      const report = yield* check({ fix: true })
      assert.deepStrictEqual(
        { ...report, fixed: [] },
        {
          ok: false,
          engine: ["ok"],
          orphanedFiles: [orphan],
          danglingRows: ["gone"],
          counterDrift: { entries: 5, bytes: 0 },
          expiredPending: 1,
          fixed: []
        }
      )
      assert.deepStrictEqual(report.fixed, [
        `deleted dangling row "gone" (file ${JSON.stringify(goneFile)})`,
        "removed 1 expired entry",
        "recounted the counters: 0 entries, 0 bytes",
        `deleted orphaned file ${orphan}`
      ])
      clean(yield* check({ minOrphanAge: 0 }), "after fix")
      assert.deepStrictEqual(filesIn(directory), [])
    }))

  it.scoped("a missing file directory means no orphans", () =>
    Effect.gen(function*() {
      const { check, directory, store } = yield* open()
      yield* store.set("k", "v")
      assert.isFalse(fs.existsSync(directory))
      clean(yield* check({ minOrphanAge: 0 }), "no directory")
      clean(yield* check({ fix: true, minOrphanAge: 0 }), "no directory, fix")
    }))

  it.scoped("an invalid minOrphanAge is InvalidArgument", () =>
    Effect.gen(function*() {
      const { check } = yield* open()
      const error = yield* Effect.flip(check({ minOrphanAge: "soon" as never }))
      assert.strictEqual(error._tag, "InvalidArgument")
    }))

  it.scoped("damage the engine reports is reported, and then nothing is repaired", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.now())
      const filename = path.join(yield* tempDir, "kv.db")
      yield* Effect.scoped(Effect.gen(function*() {
        const store = yield* SqliteStore.make({ filename })
        for (let i = 0; i < 20; i++) yield* store.set(`k${i}`, "v", { ttl: `${i + 1} hours` })
        yield* store.set("gone", large())
      }))
      // The expiry index's definition no longer matches its entries.
      damageExpiryIndex(filename)
      const store = yield* SqliteStore.make({ filename, sweepInterval: "1000 days" })
      const check = store.check
      const directory = largeValues.directoryOf(filename)
      const file = path.join(directory, fileOf(filename, "gone"))
      fs.rmSync(file)
      const orphan = path.join(directory, fakeName("value"))
      fs.writeFileSync(orphan, "x")
      age(orphan, 5)

      const report = yield* check({ fix: true })
      assert.isFalse(report.ok)
      assert.notDeepEqual(report.engine, ["ok"])
      assert.isTrue(report.engine.some((line) => line.includes("effect_kv_expires")), report.engine.join("\n"))
      assert.deepStrictEqual(report.danglingRows, ["gone"])
      assert.deepStrictEqual(report.orphanedFiles, [orphan])
      assert.deepStrictEqual(report.fixed, [], "a damaged database is not repaired")
      assert.isTrue(fs.existsSync(orphan))
      assert.deepStrictEqual((yield* check()).danglingRows, ["gone"])
    }))

  it.scoped("overwritten pages of a closed database are a typed error or an engine report, never a defect", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.now())
      const filename = path.join(yield* tempDir, "kv.db")
      yield* Effect.scoped(Effect.gen(function*() {
        const store = yield* SqliteStore.make({ filename })
        const entries: Array<readonly [string, Uint8Array]> = []
        for (let i = 0; i < 20_000; i++) entries.push([`key.${i}`, crypto.randomBytes(200)])
        yield* store.setMany(entries)
      }))
      assert.isFalse(fs.existsSync(`${filename}-wal`), "the log was checkpointed into the file at close")
      const size = fs.statSync(filename).size
      assert.isAbove(size, 4_000_000)
      const fd = fs.openSync(filename, "r+")
      try {
        fs.writeSync(fd, Buffer.alloc(16 * 1024, 0xab), 0, 16 * 1024, Math.floor(size / 2 / 4096) * 4096)
      } finally {
        fs.closeSync(fd)
      }
      const typedOrDamaged = (exit: Exit.Exit<KeyValueStore.CheckReport, KeyValueStoreError.KeyValueStoreError>) => {
        if (Exit.isSuccess(exit)) {
          assert.isFalse(exit.value.ok)
          assert.notDeepEqual(exit.value.engine, ["ok"])
          assert.deepStrictEqual(exit.value.fixed, [])
        } else {
          assert.isFalse(Cause.isDie(exit.cause), Cause.pretty(exit.cause))
          const error = Option.getOrThrow(Cause.failureOption(exit.cause))
          assert.strictEqual(error._tag, "StoreCorrupted", error.message)
        }
      }
      // Through the store (whose open may already refuse the file), and on a connection of its own.
      typedOrDamaged(
        yield* Effect.exit(Effect.scoped(Effect.gen(function*() {
          const store = yield* SqliteStore.make({ filename, sweepInterval: "1000 days" })
          return yield* store.check({ fix: true })
        })))
      )
      const exit = yield* Effect.exit(
        Effect.scoped(Effect.flatMap(rawCheck(filename), (check) => check({ fix: true })))
      )
      typedOrDamaged(exit)
      if (Exit.isFailure(exit)) assert.strictEqual(Option.getOrThrow(Cause.failureOption(exit.cause)).method, "check")
    }))
})
