/**
 * Memoized functions get the read-through engine's controls by passing their options through: concurrent callers of
 * one key share one computation (the engine's single flight), with negative caching too; `hardTimeout` fails a slow
 * computation with `Timeout`; `staleWhileRevalidate` serves the old result after the ttl while one refresh runs. These
 * cases need the engine's single flight and freshness controls (built beside Memoize), so they live in their own file.
 */
import { assert, describe, it } from "@effect/vitest"
import { KeyValueStore, Memoize, MemoryStore } from "effect-kv"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"

class NotFound extends Schema.TaggedError<NotFound>()("NotFound", { id: Schema.Number }) {}

const withStore = <A, E>(f: (store: KeyValueStore.Service) => Effect.Effect<A, E, KeyValueStore.KeyValueStore>) =>
  Effect.flatMap(KeyValueStore.KeyValueStore, f).pipe(Effect.provide(MemoryStore.layer()))

describe("Memoize on the engine", () => {
  it.effect("50 concurrent callers of a cold key share one computation", () =>
    withStore(() =>
      Effect.gen(function*() {
        const runs = yield* Ref.make(0)
        const slow = (id: number) =>
          Effect.zipRight(
            Ref.update(runs, (n) => n + 1),
            Effect.as(Effect.sleep("1 second"), { id, name: `user ${id}` })
          )
        const memo = Memoize.effect(slow, { ttl: "1 minute" })
        const callers = yield* Effect.fork(Effect.all(Array.from({ length: 50 }, () => memo(1)), { concurrency: 50 }))
        // TestClock.adjust lets every caller run until it waits (on the computation, or on its own sleep without
        // single flight) before the clock moves
        yield* TestClock.adjust("1 second")
        const results = yield* Fiber.join(callers)
        assert.strictEqual(yield* Ref.get(runs), 1)
        for (const r of results) assert.deepStrictEqual(r, { id: 1, name: "user 1" })
      })
    ))

  it.effect("concurrent callers share one failing computation, cached once with cacheFailures", () =>
    withStore(() =>
      Effect.gen(function*() {
        const runs = yield* Ref.make(0)
        const missing = (id: number): Effect.Effect<string, NotFound> =>
          Effect.zipRight(
            Ref.update(runs, (n) => n + 1),
            Effect.zipRight(Effect.sleep("1 second"), Effect.fail(new NotFound({ id })))
          )
        const memo = Memoize.effect(missing, { cacheFailures: { schema: NotFound, ttl: "1 minute" } })
        const callers = yield* Effect.fork(
          Effect.all(Array.from({ length: 20 }, () => Effect.flip(memo(3))), { concurrency: 20 })
        )
        yield* TestClock.adjust("1 second")
        const errors = yield* Fiber.join(callers)
        for (const e of errors) assert.strictEqual(e._tag, "NotFound")
        assert.strictEqual((yield* Effect.flip(memo(3)))._tag, "NotFound")
        assert.strictEqual(yield* Ref.get(runs), 1)
      })
    ))

  it.effect("hardTimeout fails a slow computation with Timeout", () =>
    withStore(() =>
      Effect.gen(function*() {
        const slow = (n: number) => Effect.as(Effect.sleep("10 seconds"), n)
        const memo = Memoize.effect(slow, { hardTimeout: "1 second" })
        const fiber = yield* Effect.fork(Effect.flip(memo(1)))
        yield* TestClock.adjust("2 seconds")
        // polled, not joined: without a hard timeout the call would still be running
        const done = yield* Fiber.poll(fiber)
        assert.isTrue(Option.isSome(done) && Exit.isSuccess(done.value) && done.value.value._tag === "Timeout")
      })
    ))

  it.effect("staleWhileRevalidate serves the old result after the ttl while one refresh runs", () =>
    withStore(() =>
      Effect.gen(function*() {
        const version = yield* Ref.make(0)
        const read = (_: string) => Ref.updateAndGet(version, (n) => n + 1)
        const memo = Memoize.effect(read, { ttl: "1 minute", staleWhileRevalidate: "1 minute" })
        assert.strictEqual(yield* memo("a"), 1)
        yield* TestClock.adjust("61 seconds")
        assert.strictEqual(yield* memo("a"), 1, "the stale result, at once")
        yield* TestClock.adjust("1 second")
        yield* Effect.yieldNow()
        assert.strictEqual(yield* memo("a"), 2, "the refreshed result")
        assert.strictEqual(yield* Ref.get(version), 2)
      })
    ))
})
