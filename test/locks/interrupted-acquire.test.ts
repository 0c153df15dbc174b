/**
 * The timeout interrupting an attempt whose acquisition the table already committed (a lease table whose reply comes
 * back asynchronously, as a network engine's would): the scope's finalizer still releases the slot.
 */
import { assert, describe, it } from "@effect/vitest"
import { KeyValueStore, SqliteStore } from "effect-kv"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as path from "node:path"
import { tempDir } from "../backends/fixtures/temp.js"
import { free, settle, tagOf } from "./helpers.js"

type LeaseTable = NonNullable<KeyValueStore.Primitives["leases"]>

describe("locks: an acquisition interrupted by the timeout right after the table said yes", () => {
  it.scoped("the slot it took is released (or the lock is handed to the caller)", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "kv.db")
      const store = yield* SqliteStore.make({ filename })
      const table = store.primitives.leases!
      // Replies take 10 ms to come back; the call itself is atomic and done before that.
      const slow: LeaseTable = {
        ...table,
        acquire: (...args) => Effect.tap(table.acquire(...args), () => Effect.sleep("10 millis")),
        renew: (...args) => Effect.tap(table.renew(...args), () => Effect.sleep("10 millis")),
        release: (...args) => Effect.tap(table.release(...args), () => Effect.sleep("10 millis"))
      }
      const slowStore = KeyValueStore.make({ ...store.primitives, leases: slow })

      // A holder that died at t=0 with a 1 s lease.
      assert.isDefined(yield* table.acquire("a", "dead", 1, 0, 1000))

      const scope = yield* Scope.make()
      const waiter = yield* Effect.fork(Effect.exit(Scope.extend(
        slowStore.lock("a", { ttl: "1 minute", timeout: "1005 millis", retry: Schedule.spaced("990 millis") }),
        scope
      )))
      for (let i = 0; i < 250; i++) {
        yield* settle
        yield* TestClock.adjust("5 millis")
      }
      const exit = yield* Fiber.join(waiter)
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      for (let i = 0; i < 10; i++) {
        yield* settle
        yield* TestClock.adjust("5 millis")
      }
      yield* Fiber.join(closing)
      const outcome = tagOf(exit)
      // Either it got the lock (then the scope released it), or it timed out and must hold nothing.
      assert.isTrue(
        yield* free(store, "a"),
        `lock() ended with ${outcome} and its scope is closed, yet "a" is still taken (until the 1 minute ttl runs out)`
      )
    }))
})
