/**
 * A lock acquired inside an uninterruptible region (`Effect.acquireRelease`'s acquire, `Effect.uninterruptible` around
 * a critical section): closing the scope stops the heartbeat and releases, `withLock` completes, and the acquisition's
 * timeout still ends its wait.
 */
import { assert, describe, it } from "@effect/vitest"
import { MemoryStore } from "effect-kv"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import { free, hold } from "./helpers.js"

describe("locks: locks acquired in an uninterruptible region", () => {
  it.scopedLive("Effect.uninterruptible(withLock(...)(work)) completes", () =>
    Effect.gen(function*() {
      const store = yield* MemoryStore.make()
      const fiber = yield* Effect.forkDaemon(
        store.withLock("a", { ttl: "300 millis" })(Effect.succeed(42)).pipe(Effect.uninterruptible)
      )
      yield* Effect.sleep("1500 millis")
      // (a daemon fiber: interrupting it at the end of the test would hang the test as well)
      const done = yield* Fiber.poll(fiber)
      assert.isTrue(Option.isSome(done), "withLock inside Effect.uninterruptible never completed (hangs)")
    }))

  it.scopedLive("a lock taken in acquireRelease's acquire is released when the scope closes", () =>
    Effect.gen(function*() {
      const store = yield* MemoryStore.make()
      const fiber = yield* Effect.forkDaemon(
        Effect.scoped(
          Effect.acquireRelease(store.lock("a", { ttl: "300 millis" }), () => Effect.void).pipe(
            Effect.map((lock) => lock.fencingToken)
          )
        )
      )
      yield* Effect.sleep("1500 millis")
      // (a daemon fiber: interrupting it at the end of the test would hang the test as well)
      const done = yield* Fiber.poll(fiber)
      // The heartbeat is still renewing a lease whose scope was closed more than a second ago (ttl 300 ms).
      assert.isTrue(yield* free(store, "a"), "the lock is still held, its heartbeat renewing it after the scope closed")
      assert.isTrue(Option.isSome(done), "closing the scope of a lock acquired uninterruptibly never completed")
    }))

  it.scopedLive("a lock acquired uninterruptibly (acquireRelease) still fails with LockTimeout at its timeout", () =>
    Effect.gen(function*() {
      const store = yield* MemoryStore.make()
      yield* hold(store, "a")
      const fiber = yield* Effect.forkDaemon(Effect.exit(Effect.scoped(
        Effect.acquireRelease(store.lock("a", { timeout: "300 millis" }), () => Effect.void)
      )))
      yield* Effect.sleep("1500 millis")
      const done = yield* Fiber.poll(fiber)
      assert.isTrue(Option.isSome(done), "lock({ timeout: 300 millis }) was still waiting 1.5 s later")
    }))
})
