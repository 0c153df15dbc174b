/**
 * An acquisition whose scope is closed (by another fiber) before the lock is granted gives the slot back instead of
 * keeping it for the whole ttl with nobody holding it.
 */
import { assert, describe, it } from "@effect/vitest"
import { MemoryStore } from "effect-kv"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import { free, hold, settle, tagOf } from "./helpers.js"

describe("locks: a lock granted after its scope closed", () => {
  it.scoped("the slot is not left taken once the scope is closed", () =>
    Effect.gen(function*() {
      const store = yield* MemoryStore.make()
      const holder = yield* hold(store, "a")
      const scope = yield* Scope.make()
      const waiter = yield* Effect.fork(Effect.exit(Scope.extend(store.lock("a", { ttl: "1 minute" }), scope)))
      yield* settle
      yield* Scope.close(scope, Exit.void) // e.g. the request that wanted the lock went away
      yield* holder.release
      yield* settle
      yield* TestClock.adjust("1 second")
      const exit = yield* Fiber.join(waiter)
      assert.isTrue(
        yield* free(store, "a"),
        `lock() ended with ${tagOf(exit)} after its scope had closed, and "a" stays taken for the 1 minute ttl`
      )
    }))
})
