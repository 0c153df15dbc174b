/**
 * SqliteStore regions against its sweeper (no eviction step joins another fiber's region), the end of the store while
 * a region is open, and eviction counts undone by a rollback.
 */
import { assert, describe, it } from "@effect/vitest"
import { SqliteStore } from "effect-kv"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "effect-kv-review-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

describe("transactions: SqliteStore regions", () => {
  // The sweeper passes the gate once, then brings the store within its limits in steps of 1000 rows with a
  // `yieldNow` between them (internal/sqlite/eviction.ts `sweep`). A region opened during one of those yields gets the sweeper's next
  // steps inside its own transaction: rows vanish under a region that removed nothing, and they are part of its commit
  // or rollback. Here the sweeper was waiting for a region; the region's fiber ends it (waking the sweeper) and opens
  // the next one a step later.
  it.scoped("the sweeper's eviction steps never run inside another fiber's region", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "kv.db")
      // Another connection without limits fills the table far beyond the limit of the store below (then closes).
      yield* Effect.scoped(Effect.flatMap(
        SqliteStore.make({ filename }),
        (filler) =>
          filler.setMany(Array.from({ length: 5000 }, (_, i) => [`k${String(i).padStart(5, "0")}`, "v"] as const))
      ))
      const store = yield* SqliteStore.make({ filename, maxEntries: 10, sweepInterval: "1 minute" })
      const release = yield* Deferred.make<void>()
      const inside = yield* Deferred.make<void>()
      const fiber = yield* Effect.fork(Effect.gen(function*() {
        yield* store.withTransaction(Effect.zipRight(Deferred.succeed(inside, undefined), Deferred.await(release)))
        yield* Effect.yieldNow()
        // A region that only reads.
        return yield* store.withTransaction(Effect.gen(function*() {
          const first = yield* store.size
          for (let i = 0; i < 3; i++) yield* Effect.yieldNow()
          const second = yield* store.size
          return [first, second] as const
        }))
      }))
      yield* Deferred.await(inside)
      // The sweeper's tick comes while the first region is open: it waits at the gate.
      yield* TestClock.adjust("1 minute")
      yield* Deferred.succeed(release, undefined)
      const [first, second] = yield* Fiber.join(fiber)
      assert.strictEqual(second, first, "entries disappeared inside a region that removed nothing")
    }))

  // Two stores of one process on one file (two tables, or a store and an index): while one has a region open, a
  // write of the other waits synchronously on SQLite's busy handler, blocking the event loop, so the region can never
  // end before the busy timeout: the write fails with Busy instead of waiting for the region.
  it.live("a region open when the store closes ends with a typed error", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "kv.db")
      const scope = yield* Scope.make()
      const store = yield* Scope.extend(SqliteStore.make({ filename }), scope)
      const inside = yield* Deferred.make<void>()
      const release = yield* Deferred.make<void>()
      const region = yield* Effect.fork(store.withTransaction(Effect.gen(function*() {
        yield* store.set("a", "1")
        yield* Deferred.succeed(inside, undefined)
        yield* Deferred.await(release)
        yield* store.set("b", "1")
      })))
      yield* Deferred.await(inside)
      yield* Scope.close(scope, Exit.void)
      yield* Deferred.succeed(release, undefined)
      const exit = yield* Fiber.await(region)
      assert.isTrue(Exit.isFailure(exit))
      if (Exit.isFailure(exit)) {
        const failure = Option.getOrUndefined(
          Option.fromNullable(exit.cause._tag === "Fail" ? exit.cause.error : undefined)
        )
        assert.isDefined(failure, `not a typed failure: ${String(exit.cause)}`)
      }
    }).pipe(Effect.scoped))

  // lru: reads are uses buffered in memory; a write that must evict applies the buffer inside its transaction and
  // clears it. Inside a region that rolls back, those uses are rolled back with it and the buffer is already empty:
  // the reads are forgotten, and the entry read most recently becomes the next victim.
  it.scoped("an eviction undone by a rollback is not counted in stats.evictions", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "kv.db")
      const store = yield* SqliteStore.make({ filename, maxEntries: 1 })
      yield* store.set("a", "1")
      yield* Effect.exit(store.withTransaction(Effect.zipRight(store.set("b", "2"), Effect.fail("undo"))))
      assert.isTrue(yield* store.has("a"))
      assert.strictEqual((yield* store.stats).evictions, 0)
    }))
})
