/**
 * A lock acquired while another fiber of the same store has a transaction region open: the attempt's time is read
 * once the store admits it (a lease computed before the wait would be expired when written, and the lock held twice),
 * and `LockTimeout` fires at the timeout even while the region is still open.
 */
import { assert, describe, it } from "@effect/vitest"
import { MemoryStore, SqliteStore } from "effect-kv"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/TestClock"
import * as path from "node:path"
import { tempDir } from "../backends/fixtures/temp.js"
import { free, hold, isRunning, settle, type Store, tagOf } from "./helpers.js"

const openRegion = (store: Store) =>
  Effect.gen(function*() {
    const end = yield* Deferred.make<void>()
    const fiber = yield* Effect.fork(store.withTransaction(Deferred.await(end)))
    yield* settle
    return Effect.zipRight(Deferred.succeed(end, undefined), Fiber.join(fiber))
  })

describe("locks: locks while a transaction region of the same store is open", () => {
  it.scoped("LockTimeout fires at the timeout even though a transaction region is open (memory)", () =>
    Effect.gen(function*() {
      const store = yield* MemoryStore.make()
      const closeRegion = yield* openRegion(store)
      const waiter = yield* Effect.fork(Effect.exit(Effect.scoped(store.lock("a", { timeout: "2 seconds" }))))
      yield* settle
      yield* TestClock.adjust("10 seconds")
      yield* settle
      const running = yield* isRunning(waiter)
      yield* closeRegion
      const exit = yield* Fiber.join(waiter)
      assert.isFalse(running, "lock({ timeout: 2 seconds }) was still waiting 10 seconds later")
      assert.strictEqual(tagOf(exit), "LockTimeout")
    }))

  it.scoped("a lease handed out after waiting for a region is not already expired (memory: held twice)", () =>
    Effect.gen(function*() {
      const store = yield* MemoryStore.make()
      const closeRegion = yield* openRegion(store)
      const waiter = yield* Effect.fork(hold(store, "a", { ttl: "1 second", timeout: "1 minute" }))
      yield* settle
      yield* TestClock.adjust("5 seconds")
      yield* closeRegion
      const w = yield* Fiber.join(waiter)
      // W holds "a" now (its lock returned, no clock step since): nobody else may take it.
      const second = yield* Effect.exit(hold(store, "a"))
      assert.isTrue(
        Exit.isFailure(second),
        `a second holder got "a" right after W acquired it (tokens ${w.lock.fencingToken} and ${
          Exit.isSuccess(second) ? second.value.lock.fencingToken : "-"
        })`
      )
    }))

  it.scoped("a lease handed out after waiting for a region is not already expired (sqlite, other connection)", () =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.now())
      const filename = path.join(yield* tempDir, "kv.db")
      const store = yield* SqliteStore.make({ filename })
      const other = yield* SqliteStore.make({ filename }) // another process, in effect
      const closeRegion = yield* openRegion(store)
      const waiter = yield* Effect.fork(hold(store, "a", { ttl: "1 second", timeout: "1 minute" }))
      yield* settle
      yield* TestClock.adjust("5 seconds")
      yield* closeRegion
      yield* Fiber.join(waiter)
      assert.isFalse(yield* free(other, "a"), "another connection took \"a\" right after this store acquired it")
    }))
})
