/**
 * What transaction regions mean for SqliteStore beyond the contract: another connection to the file (another process)
 * never sees a partial region and sees all of it once it commits; the write lock is taken up front, so a region
 * meeting another connection's lock fails with `Busy` after the busy timeout without running; large-value files
 * follow the region (a rolled-back region leaves no new file and keeps the old ones, a committed overwrite deletes
 * the old file only at commit, a rolled-back savepoint deletes only its own files); and other stores of the process on
 * the same file (an index, another table) wait for a region instead of failing with `Busy`.
 */
import { assert, describe, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { SqliteStore } from "effect-kv"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { tempDir } from "./fixtures/temp.js"

const filesOf = (filename: string): Array<string> => {
  try {
    return fs.readdirSync(`${filename}.files`).sort()
  } catch {
    return []
  }
}

const large = (fill: number) => new Uint8Array(64 * 1024).fill(fill)

const open = (options: Omit<SqliteStore.Options, "filename"> = {}) =>
  Effect.gen(function*() {
    const filename = path.join(yield* tempDir, "kv.db")
    const store = yield* SqliteStore.make({ ...options, filename })
    return { filename, store }
  })

describe("SqliteStore transactions", () => {
  it.scoped("another connection sees nothing of an open region and all of it after commit", () =>
    Effect.gen(function*() {
      const { filename, store } = yield* open()
      // A connection of its own, as another process has (stores of this process on the file wait for the region).
      const db = new Database(filename, { readonly: true })
      yield* Effect.addFinalizer(() => Effect.sync(() => db.close()))
      const read = (key: string) =>
        (db.prepare("SELECT value FROM effect_kv WHERE key = ?").pluck().get(key) as Buffer | undefined)?.toString()
      yield* store.set("a", "0")
      const inside = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const region = yield* Effect.fork(store.withTransaction(Effect.gen(function*() {
        yield* store.set("a", "1")
        yield* store.set("b", "1")
        yield* Deferred.succeed(inside, undefined)
        yield* Deferred.await(release)
      })))
      yield* Deferred.await(inside)
      // Reads of another connection take no lock in WAL mode: they see the last committed state.
      assert.strictEqual(read("a"), "0")
      assert.isUndefined(read("b"))
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(region)
      assert.strictEqual(read("a"), "1")
      assert.strictEqual(read("b"), "1")
    }))

  it.scoped("a region meeting another connection's write lock fails with Busy and does not run", () =>
    Effect.gen(function*() {
      const { filename, store } = yield* open({ busyTimeout: "100 millis" })
      const db = new Database(filename)
      yield* Effect.addFinalizer(() => Effect.sync(() => db.close()))
      db.exec("BEGIN IMMEDIATE")
      let ran = false
      const error = yield* Effect.flip(store.withTransaction(Effect.sync(() => {
        ran = true
      })))
      assert.strictEqual(error._tag, "Busy")
      assert.strictEqual(error.method, "withTransaction")
      assert.isFalse(ran)
      db.exec("ROLLBACK")
      yield* store.withTransaction(store.set("a", "1"))
      assert.isTrue(yield* store.has("a"))
    }))

  it.scopedLive("other stores of the process on the same file wait for a region instead of failing with Busy", () =>
    Effect.gen(function*() {
      const { filename, store } = yield* open({ busyTimeout: "100 millis" })
      const index = yield* SqliteStore.makeIndex({ filename, busyTimeout: "100 millis" })
      const other = yield* SqliteStore.make({ filename, table: "other", busyTimeout: "100 millis" })
      const inside = yield* Deferred.make<void>()
      const region = yield* Effect.fork(store.withTransaction(Effect.gen(function*() {
        yield* store.set("a", "1")
        yield* Deferred.succeed(inside, undefined)
        // Longer than the others' busy timeout: meeting the file's lock, they would fail with Busy.
        yield* Effect.sleep("400 millis")
      })))
      yield* Deferred.await(inside)
      const writes = yield* Effect.fork(Effect.all([index.set("i", "1"), other.set("o", "1")]))
      const reader = yield* Effect.fork(other.has("o"))
      yield* Effect.sleep("100 millis")
      assert.isTrue(Option.isNone(yield* Fiber.poll(writes)), "the other stores wait for the region")
      yield* Fiber.join(region)
      yield* Fiber.join(writes)
      yield* Fiber.join(reader)
      assert.deepStrictEqual(Option.getOrNull(yield* index.getString("i")), "1")
      assert.deepStrictEqual(Option.getOrNull(yield* other.getString("o")), "1")
      assert.deepStrictEqual(Option.getOrNull(yield* store.getString("a")), "1")
      // And the other way round: a region of the index holds back the store's fibers outside it.
      const go = yield* Deferred.make<void>()
      const write = yield* Effect.fork(Effect.zipRight(Deferred.await(go), store.set("b", "2")))
      yield* Effect.scoped(Effect.gen(function*() {
        yield* index.transaction
        yield* Deferred.succeed(go, undefined)
        yield* Effect.sleep("200 millis")
        assert.isTrue(Option.isNone(yield* Fiber.poll(write)), "the store waits for the index's region")
        yield* index.set("j", "2")
      }))
      yield* Fiber.join(write)
      assert.deepStrictEqual(Option.getOrNull(yield* store.getString("b")), "2")
    }))

  it.scoped("a rolled-back region leaves no new file and keeps the files it overwrote or removed", () =>
    Effect.gen(function*() {
      const { filename, store } = yield* open()
      yield* store.set("old", large(1))
      yield* store.set("gone", large(2))
      const before = filesOf(filename)
      assert.strictEqual(before.length, 2)
      const exit = yield* Effect.exit(store.withTransaction(Effect.gen(function*() {
        yield* store.set("old", large(3))
        yield* store.remove("gone")
        yield* store.set("new", large(4))
        yield* store.setMany([["n1", large(5)], ["n2", large(6)]])
        return yield* Effect.fail("no")
      })))
      assert.isTrue(Exit.isFailure(exit))
      assert.deepStrictEqual(filesOf(filename), before)
      assert.deepStrictEqual(Option.getOrThrow(yield* store.get("old")), large(1))
      assert.deepStrictEqual(Option.getOrThrow(yield* store.get("gone")), large(2))
      assert.isFalse(yield* store.has("new"))
    }))

  it.scoped("a committed region deletes the files it released only at commit", () =>
    Effect.gen(function*() {
      const { filename, store } = yield* open()
      yield* store.set("old", large(1))
      const [oldFile] = filesOf(filename)
      yield* store.withTransaction(Effect.gen(function*() {
        yield* store.set("old", large(2))
        // Until the commit, the old file must stay: a rollback would need it.
        assert.include(filesOf(filename), oldFile)
        yield* store.set("new", large(3))
      }))
      const after = filesOf(filename)
      assert.notInclude(after, oldFile)
      assert.strictEqual(after.length, 2)
      assert.deepStrictEqual(Option.getOrThrow(yield* store.get("old")), large(2))
      assert.deepStrictEqual(Option.getOrThrow(yield* store.get("new")), large(3))
    }))

  it.scoped("a rolled-back savepoint deletes only its own files", () =>
    Effect.gen(function*() {
      const { filename, store } = yield* open()
      yield* store.withTransaction(Effect.gen(function*() {
        yield* store.set("outer", large(1))
        yield* Effect.exit(store.withTransaction(
          Effect.zipRight(store.set("inner", large(2)), Effect.fail("no"))
        ))
        assert.strictEqual(filesOf(filename).length, 1)
      }))
      assert.strictEqual(filesOf(filename).length, 1)
      assert.deepStrictEqual(Option.getOrThrow(yield* store.get("outer")), large(1))
      assert.isFalse(yield* store.has("inner"))
    }))

  it.scoped("a connection opened after a rollback finds nothing of the region", () =>
    Effect.gen(function*() {
      const { filename, store } = yield* open()
      const secret = crypto.randomBytes(16).toString("hex")
      yield* Effect.exit(store.withTransaction(Effect.zipRight(store.set("k", secret), Effect.fail("no"))))
      const other = yield* SqliteStore.make({ filename })
      assert.isFalse(yield* other.has("k"))
    }))
})
