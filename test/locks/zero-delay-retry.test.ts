/**
 * A waiter whose retry schedule has no delay (`Schedule.forever`, `Schedule.recurs(n)`) gives the event loop a turn
 * between attempts: its own timeout fires and the holder's heartbeat keeps the lease.
 */
import { assert, describe, it } from "@effect/vitest"
import { MemoryStore } from "effect-kv"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import { hold, tagOf } from "./helpers.js"

describe("locks: a retry schedule without delays", () => {
  for (
    const [label, retry] of [["Schedule.forever", Schedule.forever], [
      "Schedule.recurs(1e9)",
      Schedule.recurs(1e9)
    ]] as const
  ) {
    it.scopedLive(`retry: ${label}, timeout 300 ms, against a live holder`, () =>
      Effect.gen(function*() {
        const store = yield* MemoryStore.make()
        const holder = yield* hold(store, "a", { ttl: "2 seconds" })
        let ticks = 0
        const interval = setInterval(() => ticks++, 100)
        const start = Date.now()
        const exit = yield* Effect.exit(Effect.scoped(store.lock("a", { timeout: "300 millis", retry })))
        const elapsed = Date.now() - start
        clearInterval(interval)
        const holderStill = tagOf(yield* Effect.exit(holder.lock.verify))
        assert.deepStrictEqual(
          { waiter: tagOf(exit), holder: holderStill, fastTimeout: elapsed < 1500 },
          { waiter: "LockTimeout", holder: "success", fastTimeout: true },
          `waiter ended after ${elapsed} ms; the event loop ran ${ticks} timer ticks meanwhile`
        )
      }), 30_000)
  }
})
