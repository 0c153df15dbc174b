/**
 * The `getOrSet` cases of the contract suite, run by every backend and wrapper: a live value is returned without
 * computing, a miss is computed and written (with its ttl where the store has expiry), a failed computation is not
 * cached, and concurrent callers of one key share one computation.
 */
import { assert, describe } from "@effect/vitest"
import type { KeyValueStore } from "effect-kv"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as Flight from "../../src/internal/cache/flight.js"
import { assertSomeBytes } from "./bytes.js"

type Store = KeyValueStore.Service
type Test = (title: string, body: (store: Store) => Effect.Effect<void, unknown>) => void

/** Waits `ms` of real time (TestClock does not move it). */
const realSleep = (ms: number) => Effect.promise(() => new Promise<void>((resolve) => setTimeout(resolve, ms)))

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes)

/** Registers the cases; `timed` registers a case only on stores with expiry. */
export const getOrSetCases = (test: Test, timed: Test): void => {
  describe("getOrSet", () => {
    test("a live value is returned without computing", (store) =>
      Effect.gen(function*() {
        let runs = 0
        yield* store.set("k", "stored")
        const value = yield* store.getOrSet("k", Effect.sync(() => `v${++runs}`))
        assert.strictEqual(text(value), "stored")
        assert.strictEqual(runs, 0)
      }))

    timed(
      "a miss is computed, written with its ttl, and computed again once it expires",
      (store) =>
        Effect.gen(function*() {
          let runs = 0
          const compute = Effect.sync(() => `v${++runs}`)
          assert.strictEqual(text(yield* store.getOrSet("k", compute, { ttl: "10 seconds" })), "v1")
          assertSomeBytes(yield* store.get("k"), "v1")
          const ttl = Option.getOrThrow(yield* store.ttl("k"))
          assert.isTrue(Duration.isFinite(ttl) && Duration.toMillis(ttl) <= 10_000 && Duration.toMillis(ttl) > 9_000)
          assert.strictEqual(text(yield* store.getOrSet("k", compute, { ttl: "10 seconds" })), "v1")
          yield* TestClock.adjust("10 seconds")
          assert.strictEqual(text(yield* store.getOrSet("k", compute, { ttl: "10 seconds" })), "v2")
        })
    )

    test("a failed computation reaches the caller and is not cached", (store) =>
      Effect.gen(function*() {
        assert.strictEqual(yield* Effect.flip(store.getOrSet("k", Effect.fail("boom"))), "boom")
        assert.isTrue(Option.isNone(yield* store.get("k")))
        assert.strictEqual(text(yield* store.getOrSet("k", Effect.succeed("ok"))), "ok")
        assertSomeBytes(yield* store.get("k"), "ok")
      }))

    test("concurrent callers of one key share one computation", (store) =>
      Effect.gen(function*() {
        let runs = 0
        const gate = yield* Deferred.make<void>()
        const compute = Effect.zipRight(Deferred.await(gate), Effect.sync(() => `v${++runs}`))
        const fibers = yield* Effect.forEach([1, 2, 3, 4, 5, 6, 7, 8], () => Effect.fork(store.getOrSet("k", compute)))
        // Every caller has read its miss (a real round trip on a server) and joined the flight before it ends.
        for (let waited = 0; (Flight.current(store, "k")?.waiters ?? 0) < 8 && waited < 10_000; waited += 5) {
          yield* realSleep(5)
        }
        yield* Deferred.succeed(gate, undefined)
        const values = yield* Effect.forEach(fibers, Fiber.join)
        assert.strictEqual(runs, 1)
        assert.deepStrictEqual(values.map(text), Array(8).fill("v1"))
      }))
  })
}
