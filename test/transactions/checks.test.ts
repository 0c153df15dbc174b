/**
 * Transaction regions in corner cases: interruption while waiting for a region, a namespace and its root sharing one
 * region, `Effect.all` inside nested regions (children join, sibling savepoints serialize), a `keys()` stream across a
 * region.
 */
import { assert, describe, it } from "@effect/vitest"
import { KeyValueStore, MemoryStore } from "effect-kv"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"

const settle = Effect.repeatN(Effect.yieldNow(), 20)

describe("transactions: checked and correct", () => {
  it.effect("a fiber interrupted while waiting to open a region or to run an operation leaves nothing behind", () =>
    Effect.gen(function*() {
      const store = yield* MemoryStore.make()
      const release = yield* Deferred.make<void>()
      const region = yield* Effect.fork(store.withTransaction(Deferred.await(release)))
      yield* settle
      const opener = yield* Effect.fork(store.withTransaction(store.set("x", "1")))
      const scoped = yield* Effect.fork(Effect.scoped(Effect.zipRight(store.transaction, store.set("y", "1"))))
      const reader = yield* Effect.fork(store.get("a"))
      yield* settle
      yield* Fiber.interrupt(opener)
      yield* Fiber.interrupt(scoped)
      yield* Fiber.interrupt(reader)
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.join(region)
      assert.isFalse(yield* store.has("x"))
      assert.isFalse(yield* store.has("y"))
      yield* store.withTransaction(store.set("z", "1"))
      assert.isTrue(yield* store.has("z"))
    }).pipe(Effect.scoped))

  it.effect("a namespace and its root share one transaction", () =>
    Effect.gen(function*() {
      const root = yield* MemoryStore.make()
      const ns = KeyValueStore.prefix(root, "ns.")
      yield* root.set("r", "0")
      yield* ns.set("n", "0")
      const exit = yield* Effect.exit(ns.withTransaction(Effect.gen(function*() {
        yield* root.set("r", "1")
        yield* ns.set("n", "1")
        yield* root.withTransaction(Effect.all([ns.clear, root.remove("r")], { concurrency: 2 }))
        assert.isFalse(yield* ns.has("n"))
        return yield* Effect.fail("undo")
      })))
      assert.isTrue(Exit.isFailure(exit))
      assert.deepStrictEqual(Option.map(yield* root.getString("r"), String), Option.some("0"))
      assert.deepStrictEqual(Option.map(yield* ns.getString("n"), String), Option.some("0"))
    }).pipe(Effect.scoped))

  it.effect("Effect.all with concurrency inside a nested region: children join it, sibling savepoints serialize", () =>
    Effect.gen(function*() {
      const store = yield* MemoryStore.make()
      yield* store.set("n", "0")
      const exit = yield* Effect.exit(store.withTransaction(Effect.gen(function*() {
        yield* store.withTransaction(Effect.all(
          Array.from({ length: 10 }, (_, i) =>
            Effect.exit(store.withTransaction(Effect.gen(function*() {
              yield* store.increment("n")
              yield* Effect.yieldNow()
              yield* store.set(`k${i}`, "1")
              if (i % 2 === 0) return yield* Effect.fail("odd one out")
            })))),
          { concurrency: "unbounded" }
        ))
        assert.strictEqual(Option.getOrNull(yield* store.getString("n")), "5")
        assert.strictEqual(yield* store.size, 6)
        return yield* Effect.fail("undo")
      })))
      assert.isTrue(Exit.isFailure(exit))
      assert.strictEqual(yield* store.size, 1)
    }).pipe(Effect.scoped))

  it.effect("a keys() stream started before a region and finished after it sees a consistent state", () =>
    Effect.gen(function*() {
      const store = yield* MemoryStore.make()
      yield* store.setMany(Array.from({ length: 2500 }, (_, i) => [`k${String(i).padStart(4, "0")}`, "v"] as const))
      const collected = yield* Stream.runCollect(
        store.keys().pipe(
          Stream.tap((key) =>
            key === "k0500"
              ? Effect.exit(store.withTransaction(Effect.zipRight(store.remove("k2000"), Effect.fail("undo"))))
              : Effect.void
          )
        )
      )
      assert.strictEqual(Chunk.size(collected), 2500)
    }).pipe(Effect.scoped))
})
