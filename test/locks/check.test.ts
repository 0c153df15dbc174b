/**
 * SqliteStore's `check({ fix })` never deletes a value file a row still needs: inside a transaction region of the same
 * store (files the region released would come back with a rollback) it does not look for orphans; while another
 * connection's transaction has written a file whose row is not committed it cannot take the write lock it deletes
 * orphans under (Busy, nothing deleted); a negative or NaN `minOrphanAge` fails with InvalidArgument.
 */
import { assert, describe, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { SqliteStore } from "effect-kv"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as TestClock from "effect/TestClock"
import * as crypto from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { tempDir } from "../backends/fixtures/temp.js"
import { tagOf } from "./helpers.js"

const large = (): Uint8Array => crypto.randomBytes(32 * 1024 + 1)

const open = Effect.gen(function*() {
  yield* TestClock.setTime(Date.now())
  const filename = path.join(yield* tempDir, "kv.db")
  const store = yield* SqliteStore.make({ filename, sweepInterval: "1000 days" })
  return { store, filename, directory: `${filename}.files` }
})

const filesIn = (directory: string): Array<string> => fs.readdirSync(directory).sort()

/** Sets every file's mtime `minutes` into the past (an entry written that long ago). */
const ageAll = (directory: string, minutes: number): void => {
  const then = (Date.now() - minutes * 60_000) / 1000
  for (const name of filesIn(directory)) fs.utimesSync(path.join(directory, name), then, then)
}

class Abort {
  readonly _tag = "Abort"
}

describe("locks: check({ fix }) and files a row still needs", () => {
  it.scoped("check({ fix }) inside a transaction that overwrites a large value, then rolls back", () =>
    Effect.gen(function*() {
      const { directory, store } = yield* open
      const value = large()
      yield* store.set("k", value)
      ageAll(directory, 10) // "k" was written 10 minutes ago
      const exit = yield* Effect.exit(store.withTransaction(Effect.gen(function*() {
        yield* store.set("k", large()) // releases k's old file (kept until the transaction commits)
        yield* store.check({ fix: true }) // default minOrphanAge (1 minute)
        return yield* Effect.fail(new Abort()) // the transaction rolls back: "k" names its old file again
      })))
      assert.strictEqual(tagOf(exit), "Abort")
      const read = yield* Effect.exit(store.get("k"))
      assert.isTrue(
        Exit.isSuccess(read),
        `the committed value of "k" is gone after a check inside a rolled-back transaction: ${tagOf(read)}`
      )
    }))

  it.scoped("check({ fix }) inside a transaction that removes a large value, then rolls back", () =>
    Effect.gen(function*() {
      const { directory, store } = yield* open
      yield* store.set("k", large())
      ageAll(directory, 10)
      yield* Effect.exit(store.withTransaction(Effect.gen(function*() {
        yield* store.remove("k")
        yield* store.check({ fix: true })
        return yield* Effect.fail(new Abort())
      })))
      const read = yield* Effect.exit(store.get("k"))
      assert.isTrue(Exit.isSuccess(read), `"k" unreadable after the rollback: ${tagOf(read)}`)
    }))

  it.scoped("check({ fix }) while another connection's transaction has written a value file not committed yet", () =>
    Effect.gen(function*() {
      const { directory, filename } = yield* open
      const checker = yield* SqliteStore.make({ filename, busyTimeout: "200 millis", sweepInterval: "1000 days" })
      // Another process in the middle of a transaction: it holds the write lock, and has written (2 minutes ago, a
      // long batch) a value file whose row it has not committed yet.
      const other = new Database(filename)
      yield* Effect.addFinalizer(() => Effect.sync(() => other.close()))
      other.exec("BEGIN IMMEDIATE")
      fs.mkdirSync(directory, { recursive: true })
      const pending = path.join(directory, `${crypto.randomBytes(16).toString("hex")}.value`)
      fs.writeFileSync(pending, large())
      ageAll(directory, 2)
      // The check deletes orphans only under the write lock, which the open transaction holds: it waits for it, up
      // to its busy timeout, and then fails with Busy, deleting nothing.
      const report = yield* Effect.either(checker.check({ fix: true }))
      assert.isTrue(report._tag === "Left" && report.left._tag === "Busy", JSON.stringify(report))
      assert.isTrue(fs.existsSync(pending), "the file of the uncommitted row was deleted")
      other.exec("ROLLBACK")
    }))

  it.scoped("a negative or NaN minOrphanAge fails with InvalidArgument instead of counting as 0", () =>
    Effect.gen(function*() {
      const { directory, store } = yield* open
      yield* store.set("k", large())
      // A write in progress in another process: its file is there, its row not yet.
      const inProgress = path.join(directory, `${crypto.randomBytes(16).toString("hex")}.value`)
      fs.writeFileSync(inProgress, "being written")
      for (const minOrphanAge of [-60_000, NaN]) {
        const exit = yield* Effect.exit(store.check({ fix: true, minOrphanAge }))
        assert.strictEqual(tagOf(exit), "InvalidArgument", `minOrphanAge ${minOrphanAge}`)
      }
      assert.isTrue(fs.existsSync(inProgress), "a file written a moment ago was deleted as an orphan")
    }))
})
