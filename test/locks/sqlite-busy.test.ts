/**
 * On SQLite, a lock's timeout bounds its acquisition even while another connection holds the database's write lock
 * for longer: an attempt does not sit out the store's whole busy timeout (a synchronous wait that holds the event loop,
 * the lock's own timer included), it finds the lock taken and polls again, so `lock` ends with `LockTimeout` at its
 * timeout, and gets the lock once the writer is done.
 */
import { assert, describe, it } from "@effect/vitest"
import Database from "better-sqlite3"
import { SqliteStore } from "effect-kv"
import * as Effect from "effect/Effect"
import * as path from "node:path"
import { timed } from "../backends/fixtures/stalls.js"
import { tempDir } from "../backends/fixtures/temp.js"
import { tagOf } from "./helpers.js"

describe("locks: SQLite's write lock held by another connection", () => {
  it.scopedLive("lock({ timeout }) ends at its timeout, not at the busy timeout, and succeeds once the writer is done", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "kv.db")
      const store = yield* SqliteStore.make({ filename, busyTimeout: "4 seconds" })
      const writer = yield* Effect.acquireRelease(
        Effect.sync(() => new Database(filename, { timeout: 1000 })),
        (db) => Effect.sync(() => db.close())
      )
      writer.exec("BEGIN IMMEDIATE")
      const { exit, millis } = yield* timed(Effect.scoped(store.lock("a", { timeout: "300 millis" })), 20_000)
      assert.strictEqual(exit === undefined ? "still running" : tagOf(exit), "LockTimeout")
      assert.isBelow(millis, 300 + 1500, `lock({ timeout: "300 millis" }) took ${Math.round(millis)} ms`)
      writer.exec("COMMIT")
      const lock = yield* Effect.scoped(store.lock("a", { timeout: "1 second" }))
      assert.isAbove(Number(lock.fencingToken), 0)
    }))
})
