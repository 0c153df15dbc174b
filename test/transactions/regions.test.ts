/**
 * The region stack and gate of `internal/regions.ts`, through MemoryStore: scopes closing out of order end every
 * level they hold, a savepoint may join a sibling fiber of its region, and a fiber waiting for a region is woken even
 * when the region ends between its check and its wait.
 */
import { assert, describe, it } from "@effect/vitest"
import { MemoryStore } from "effect-kv"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"

describe("transactions: regions", () => {
  // Two scoped transactions in two scopes, the outer one's scope closing first (e.g. a scope forked from the outer
  // one before the region began, whose finalizer then runs after the region's). The stack must not stay open.
  it.live("closing the outer scoped transaction before the inner one leaves no transaction open", () =>
    Effect.gen(function*() {
      const store = yield* MemoryStore.make()
      // A fiber of no region, started before the regions.
      const start = yield* Deferred.make<void>()
      const other = yield* Effect.fork(Effect.zipRight(Deferred.await(start), store.get("a")))
      const outer = yield* Scope.make()
      const inner = yield* Scope.make()
      yield* Scope.extend(store.transaction, outer)
      yield* store.set("a", "outer")
      yield* Scope.extend(store.transaction, inner)
      yield* store.set("b", "inner")
      const closedOuter = yield* Effect.exit(Scope.close(outer, Exit.void))
      const closedInner = yield* Effect.exit(Scope.close(inner, Exit.void))
      // Whatever the outcome of the closes, no region may be left open: another fiber must be able to use the store.
      yield* Deferred.succeed(start, undefined)
      const result = yield* Fiber.await(other).pipe(Effect.timeout("1 second"), Effect.option)
      assert.isTrue(
        Option.isSome(result),
        `a fiber outside the regions hangs (close outer: ${
          Exit.isSuccess(closedOuter) ? "ok" : "failed"
        }, close inner: ${Exit.isSuccess(closedInner) ? "ok" : "failed"})`
      )
    }).pipe(Effect.scoped))

  // The most natural way to get there: a scoped `transaction` inside `withTransaction` whose Scope is provided outside
  // it (`Effect.scoped` around the whole thing). `withTransaction` ends first and throws "closed out of order" as a
  // defect, without closing anything: the outer transaction (BEGIN / the journal) stays open forever and every other
  // fiber of the store waits for it.
  it.live("a scoped transaction whose scope outlives the enclosing withTransaction leaves no transaction open", () =>
    Effect.gen(function*() {
      const store = yield* MemoryStore.make()
      const start = yield* Deferred.make<void>()
      const other = yield* Effect.fork(Effect.zipRight(Deferred.await(start), store.set("b", "other")))
      const exit = yield* Effect.exit(Effect.scoped(store.withTransaction(Effect.gen(function*() {
        yield* store.transaction
        yield* store.set("a", "1")
      }))))
      yield* Deferred.succeed(start, undefined)
      const result = yield* Fiber.await(other).pipe(Effect.timeout("1 second"), Effect.option)
      assert.isTrue(
        Option.isSome(result),
        `another fiber hangs after the region ended with ${Exit.isSuccess(exit) ? "success" : String(exit.cause)}`
      )
    }).pipe(Effect.scoped))

  // A fiber forked inside a region, before a nested region (savepoint) of its parent, is no member of the savepoint:
  // its operations wait for the savepoint to end. When the savepoint's effect waits for that fiber, neither ever ends.
  it.live("a savepoint waiting for a fiber forked earlier in the same transaction does not hang", () =>
    Effect.gen(function*() {
      const store = yield* MemoryStore.make()
      const program = store.withTransaction(Effect.gen(function*() {
        const worker = yield* Effect.fork(store.set("a", "worker"))
        yield* store.withTransaction(Fiber.join(worker))
      }))
      const result = yield* program.pipe(Effect.timeout("1 second"), Effect.option)
      assert.isTrue(Option.isSome(result), "the transaction never ends")
    }).pipe(Effect.scoped))

  // A fiber outside a region checks the gate (`guard`: a `withFiberRuntime` step), then registers to be woken (the
  // `changed` async step). The run loop may yield between the two steps (every `maxOpsBeforeYield` ops, 2048 by
  // default: it happens in production too, just rarely); if the region closes in that gap, `notify` finds no waiter and
  // the fiber then waits for a wake-up that never comes, until some unrelated region opens and closes.
  it.live("a fiber waiting for a region is woken even when it yields between its check and its wait", () =>
    Effect.gen(function*() {
      const lost: Array<number> = []
      for (let ops = 12; ops < 40; ops++) {
        const store = yield* MemoryStore.make()
        const go = yield* Deferred.make<void>()
        const region = yield* Effect.fork(store.withTransaction(Deferred.await(go)))
        yield* Effect.yieldNow()
        const reader = yield* Effect.fork(
          Effect.zipRight(Deferred.succeed(go, undefined), store.has("a")).pipe(Effect.withMaxOpsBeforeYield(ops))
        )
        yield* Fiber.join(region)
        // No region is open any more: the reader must finish.
        const result = yield* Fiber.await(reader).pipe(Effect.timeout("100 millis"), Effect.option)
        if (Option.isNone(result)) {
          lost.push(ops)
          // It was parked on the gate: any other region's end wakes it.
          yield* store.withTransaction(Effect.void)
          yield* Fiber.join(reader)
        }
      }
      assert.deepStrictEqual(lost, [], "readers that missed the end of the region (by maxOpsBeforeYield)")
    }).pipe(Effect.scoped))
})
