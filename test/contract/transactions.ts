/**
 * The transaction part of the contract, registered by `suite` for stores whose `capabilities.transactions` is true:
 * `withTransaction` and the scoped `transaction` commit on success and roll every kind of write back on failure,
 * defect and interruption; nested regions are savepoints; fibers forked inside a region join it while it is open;
 * fibers outside it wait for it and never see its uncommitted writes; concurrent regions serialize.
 */
import { assert, describe } from "@effect/vitest"
import type { KeyValueStore } from "effect-kv"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { assertSomeBytes } from "./bytes.js"

type Store = KeyValueStore.Service
type Test = (title: string, body: (store: Store) => Effect.Effect<void, unknown>) => void

/** Every key with its value as text, in key order: the observable state a rollback must restore. */
const snapshot = (store: Store) =>
  Effect.gen(function*() {
    const out: Array<string> = []
    for (const key of ["a", "b", "c", "n", "t1", "t2", "p.1", "p.2"]) {
      const entry = yield* store.getEntry(key)
      if (Option.isSome(entry)) {
        const e = entry.value
        out.push(
          `${key}=${Buffer.from(e.value).toString()} tags=${[...e.tags].sort().join(",")} meta=${
            JSON.stringify(Option.getOrNull(e.metadata))
          } expires=${Option.getOrNull(e.expiresAt)} created=${e.createdAt}`
        )
      }
    }
    out.push(`size=${yield* store.size}`)
    return out
  })

const settle = Effect.repeatN(Effect.yieldNow(), 20)

export const transactionCases = (test: Test, capabilities: KeyValueStore.Capabilities): void => {
  describe("transactions", () => {
    const seed = (store: Store) =>
      Effect.gen(function*() {
        yield* store.set("a", "1", {
          ...(capabilities.tags ? { tags: ["x"] } : {}),
          ...(capabilities.metadata ? { metadata: { v: 1 } } : {})
        })
        yield* store.set("b", "2")
        yield* store.set("n", "10")
        yield* store.set("t1", "t", capabilities.tags ? { tags: ["g"] } : {})
        yield* store.set("p.1", "p")
      })

    // Every kind of write, each undone by the rollback.
    const everyWrite = (store: Store) =>
      Effect.gen(function*() {
        yield* store.set("a", "changed", {
          ...(capabilities.tags ? { tags: ["y"] } : {}),
          ...(capabilities.metadata ? { metadata: { v: 2 } } : {})
        })
        yield* store.remove("b")
        yield* store.setMany([["c", "3"], ["t2", "new"]])
        yield* store.increment("n", 5)
        if (capabilities.tags) yield* store.removeTag("g")
        if (capabilities.enumeration) yield* store.removePattern("p.*")
        yield* store.append("c", "+")
        yield* store.compareAndSwap("t2", Option.some("new"), Option.some("swapped"))
      })

    test("commits on success: every write is there after the region", (store) =>
      Effect.gen(function*() {
        yield* seed(store)
        const result = yield* store.withTransaction(Effect.as(everyWrite(store), "done"))
        assert.strictEqual(result, "done")
        assertSomeBytes(yield* store.get("a"), "changed")
        assert.isFalse(yield* store.has("b"))
        assertSomeBytes(yield* store.get("c"), "3+")
        assertSomeBytes(yield* store.get("n"), "15")
        assertSomeBytes(yield* store.get("t2"), "swapped")
      }))

    test("rolls every kind of write back on a failure, and returns the failure", (store) =>
      Effect.gen(function*() {
        yield* seed(store)
        const before = yield* snapshot(store)
        const error = yield* Effect.flip(
          store.withTransaction(Effect.zipRight(everyWrite(store), Effect.fail("boom" as const)))
        )
        assert.strictEqual(error, "boom")
        assert.deepStrictEqual(yield* snapshot(store), before)
      }))

    test("rolls back on a defect", (store) =>
      Effect.gen(function*() {
        yield* seed(store)
        const before = yield* snapshot(store)
        const exit = yield* Effect.exit(store.withTransaction(Effect.zipRight(everyWrite(store), Effect.die("bug"))))
        assert.isTrue(Exit.isFailure(exit) && Exit.isFailure(exit) && exit.cause._tag === "Die")
        assert.deepStrictEqual(yield* snapshot(store), before)
      }))

    test("rolls back when interrupted in the middle of the region", (store) =>
      Effect.gen(function*() {
        yield* seed(store)
        const before = yield* snapshot(store)
        const inside = yield* Deferred.make<void>()
        const fiber = yield* Effect.fork(store.withTransaction(
          Effect.gen(function*() {
            yield* everyWrite(store)
            yield* Deferred.succeed(inside, undefined)
            return yield* Effect.never
          })
        ))
        yield* Deferred.await(inside)
        yield* Fiber.interrupt(fiber)
        assert.deepStrictEqual(yield* snapshot(store), before)
        // The store is usable afterwards, inside and outside regions.
        yield* store.withTransaction(store.set("a", "after"))
        assertSomeBytes(yield* store.get("a"), "after")
      }))

    test("a failure caught inside the region keeps the region going", (store) =>
      Effect.gen(function*() {
        yield* store.set("n", "not a number")
        yield* store.withTransaction(Effect.gen(function*() {
          const failed = yield* Effect.flip(store.increment("n"))
          assert.strictEqual(failed._tag, "NotANumber")
          yield* store.set("a", "1")
        }))
        assertSomeBytes(yield* store.get("a"), "1")
        assertSomeBytes(yield* store.get("n"), "not a number")
      }))

    test("a nested region that fails rolls back only its own writes", (store) =>
      Effect.gen(function*() {
        yield* store.withTransaction(Effect.gen(function*() {
          yield* store.set("a", "outer")
          const inner = yield* Effect.flip(store.withTransaction(
            Effect.zipRight(Effect.zipRight(store.set("b", "inner"), store.set("a", "inner")), Effect.fail("inner"))
          ))
          assert.strictEqual(inner, "inner")
          assertSomeBytes(yield* store.get("a"), "outer")
          assert.isFalse(yield* store.has("b"))
          yield* store.withTransaction(store.set("c", "kept"))
        }))
        assertSomeBytes(yield* store.get("a"), "outer")
        assert.isFalse(yield* store.has("b"))
        assertSomeBytes(yield* store.get("c"), "kept")
      }))

    test("an outer failure rolls back the committed nested regions too", (store) =>
      Effect.gen(function*() {
        yield* store.set("a", "0")
        const error = yield* Effect.flip(store.withTransaction(Effect.gen(function*() {
          yield* store.withTransaction(store.set("a", "inner"))
          yield* store.withTransaction(store.withTransaction(store.set("b", "deeper")))
          return yield* Effect.fail("outer" as const)
        })))
        assert.strictEqual(error, "outer")
        assertSomeBytes(yield* store.get("a"), "0")
        assert.isFalse(yield* store.has("b"))
      }))

    test("fibers forked inside the region join it", (store) =>
      Effect.gen(function*() {
        const exit = yield* Effect.exit(store.withTransaction(Effect.gen(function*() {
          yield* Effect.all(
            Array.from({ length: 10 }, (_, i) => store.set(`k${i}`, String(i))),
            { concurrency: "unbounded" }
          )
          const child = yield* Effect.fork(store.set("a", "child"))
          yield* Fiber.join(child)
          assert.strictEqual(yield* store.size, 11)
          return yield* Effect.fail("undo")
        })))
        assert.isTrue(Exit.isFailure(exit))
        assert.strictEqual(yield* store.size, 0)
      }))

    test("a fiber outside the region waits for it and sees only committed writes", (store) =>
      Effect.gen(function*() {
        yield* store.set("a", "before")
        const written = yield* Deferred.make<void>()
        const release = yield* Deferred.make<void>()
        const region = yield* Effect.fork(store.withTransaction(Effect.gen(function*() {
          yield* store.set("a", "uncommitted")
          yield* Deferred.succeed(written, undefined)
          yield* Deferred.await(release)
          return yield* Effect.fail("roll back")
        })))
        yield* Deferred.await(written)
        const reader = yield* Effect.fork(store.get("a"))
        const writer = yield* Effect.fork(store.set("b", "outside"))
        yield* settle
        assert.isTrue(Option.isNone(yield* Fiber.poll(reader)), "the reader waits for the region")
        assert.isTrue(Option.isNone(yield* Fiber.poll(writer)), "the writer waits for the region")
        yield* Deferred.succeed(release, undefined)
        yield* Fiber.await(region)
        assertSomeBytes(yield* Fiber.join(reader), "before")
        yield* Fiber.join(writer)
        assertSomeBytes(yield* store.get("b"), "outside")
      }))

    test("a fiber forked in the region that outlives it goes on outside it", (store) =>
      Effect.gen(function*() {
        const go = yield* Deferred.make<void>()
        const late = yield* store.withTransaction(
          Effect.fork(Effect.zipRight(Deferred.await(go), store.set("late", "1")))
        )
        yield* Deferred.succeed(go, undefined)
        yield* Fiber.join(late)
        assertSomeBytes(yield* store.get("late"), "1")
        // Its write was not part of the region: a later failing region leaves it alone.
        yield* Effect.exit(store.withTransaction(Effect.zipRight(store.set("other", "x"), Effect.fail("no"))))
        assertSomeBytes(yield* store.get("late"), "1")
      }))

    test("concurrent regions serialize: read-modify-write in regions loses no update", (store) =>
      Effect.gen(function*() {
        yield* store.set("n", "0")
        yield* Effect.all(
          Array.from({ length: 20 }, () =>
            store.withTransaction(Effect.gen(function*() {
              const current = Number(Buffer.from(Option.getOrThrow(yield* store.get("n"))).toString())
              yield* Effect.yieldNow()
              yield* store.set("n", String(current + 1))
            }))),
          { concurrency: "unbounded" }
        )
        assertSomeBytes(yield* store.get("n"), "20")
      }))

    test("the scoped form commits when the scope closes and rolls back when it fails", (store) =>
      Effect.gen(function*() {
        yield* Effect.scoped(Effect.gen(function*() {
          yield* store.transaction
          yield* store.set("a", "1")
        }))
        assertSomeBytes(yield* store.get("a"), "1")
        const exit = yield* Effect.exit(Effect.scoped(Effect.gen(function*() {
          yield* store.transaction
          yield* store.set("a", "2")
          yield* store.set("b", "2")
          return yield* Effect.fail("no")
        })))
        assert.isTrue(Exit.isFailure(exit))
        assertSomeBytes(yield* store.get("a"), "1")
        assert.isFalse(yield* store.has("b"))
      }))

    test("the scoped form nests inside a region as a savepoint", (store) =>
      Effect.gen(function*() {
        yield* store.withTransaction(Effect.gen(function*() {
          yield* store.set("a", "outer")
          yield* Effect.exit(Effect.scoped(Effect.gen(function*() {
            yield* store.transaction
            yield* store.set("a", "inner")
            return yield* Effect.fail("no")
          })))
          assertSomeBytes(yield* store.get("a"), "outer")
        }))
        assertSomeBytes(yield* store.get("a"), "outer")
      }))

    test("statistics and sizes stay consistent after a rollback", (store) =>
      Effect.gen(function*() {
        yield* store.setMany([["a", "1"], ["b", "22"]])
        yield* Effect.exit(store.withTransaction(
          Effect.zipRight(Effect.zipRight(store.clear, store.set("c", "333")), Effect.fail("no"))
        ))
        assert.strictEqual(yield* store.size, 2)
        if (capabilities.enumeration) {
          assert.deepStrictEqual(Chunk.toArray(yield* Stream.runCollect(store.keys())), ["a", "b"])
        }
        yield* store.set("c", "3")
        assert.strictEqual(yield* store.size, 3)
      }))
  })
}
