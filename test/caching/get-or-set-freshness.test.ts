/**
 * The freshness controls of `getOrSet`, every case under `TestClock`: `staleWhileRevalidate` (a stale value served
 * while one background refresh runs), `grace` (a failed refresh serves the stale value), `softTimeout` (a slow refresh
 * with a stale value at hand returns it and finishes in the background), `hardTimeout` (`Timeout`, or the stale value
 * within grace), and how the entry is stored (physical ttl `ttl + max(swr, grace)`, value untouched).
 */
import { assert, describe, it } from "@effect/vitest"
import { KeyValueStore, MemoryStore } from "effect-kv"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes)

const withStore = <A, E>(f: (store: KeyValueStore.Service) => Effect.Effect<A, E>) =>
  Effect.flatMap(KeyValueStore.KeyValueStore, f).pipe(Effect.provide(MemoryStore.layer()))

/** A computation that counts its runs, takes `delay`, and returns `v<n>` (or fails while `failing`). */
const source = (delay: Duration.DurationInput = 0) => {
  const state = { runs: 0, failing: false }
  const compute = Effect.suspend(() => {
    const run = ++state.runs
    return Effect.zipRight(
      Effect.sleep(delay),
      state.failing ? Effect.fail(`failed${run}` as const) : Effect.succeed(`v${run}`)
    )
  })
  return { state, compute }
}

// Lets forked fibers run (a background refresh) without moving the clock.
const settle = Effect.repeatN(Effect.yieldNow(), 20)

describe("getOrSet: staleWhileRevalidate", () => {
  it.effect("serves the stale value while one background refresh runs, then the new value", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const s = source("2 seconds")
        const options = { ttl: "10 seconds", staleWhileRevalidate: "5 seconds" } as const
        const first = yield* Effect.fork(store.getOrSet("k", s.compute, options))
        yield* TestClock.adjust("2 seconds")
        assert.strictEqual(text(yield* Fiber.join(first)), "v1")
        yield* TestClock.adjust("11 seconds") // 1 second past the ttl
        const stale = yield* Effect.forEach([1, 2, 3], () => store.getOrSet("k", s.compute, options), {
          concurrency: "unbounded"
        })
        assert.deepStrictEqual(stale.map(text), ["v1", "v1", "v1"])
        yield* settle
        assert.strictEqual(s.state.runs, 2, "one background refresh")
        assert.strictEqual(text(yield* store.getOrSet("k", s.compute, options)), "v1")
        yield* TestClock.adjust("2 seconds")
        yield* settle
        assert.strictEqual(text(yield* store.getOrSet("k", s.compute, options)), "v2")
        assert.strictEqual(s.state.runs, 2)
      })
    ))

  it.effect("the background refresh is not tied to the caller that started it", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const s = source("2 seconds")
        const options = { ttl: "10 seconds", staleWhileRevalidate: "5 seconds" } as const
        yield* store.set("k", "old", { ttl: "15 seconds" })
        yield* TestClock.adjust("11 seconds")
        // The caller's fiber ends at once (and its scope with it); the refresh goes on.
        yield* Effect.scoped(store.getOrSet("k", s.compute, options))
        yield* settle
        yield* TestClock.adjust("2 seconds")
        yield* settle
        assert.strictEqual(text(Option.getOrThrow(yield* store.get("k"))), "v1")
      })
    ))

  it.effect("past ttl + staleWhileRevalidate the entry is gone: a plain miss", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const s = source()
        const options = { ttl: "10 seconds", staleWhileRevalidate: "5 seconds" } as const
        yield* store.getOrSet("k", s.compute, options)
        yield* TestClock.adjust("15 seconds")
        assert.strictEqual(text(yield* store.getOrSet("k", s.compute, options)), "v2")
      })
    ))

  it.effect("the entry is stored as it is, with a ttl of ttl + max(staleWhileRevalidate, grace)", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const s = source()
        yield* store.getOrSet("k", s.compute, {
          ttl: "10 seconds",
          staleWhileRevalidate: "5 seconds",
          grace: "1 minute"
        })
        const entry = Option.getOrThrow(yield* store.getEntry("k"))
        assert.strictEqual(text(entry.value), "v1")
        assert.deepStrictEqual(entry.expiresAt, Option.some(70_000))
        assert.isTrue(Option.isNone(entry.metadata))
      })
    ))

  it.effect("a fresh value within ttl is returned without refreshing", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const s = source()
        const options = { ttl: "10 seconds", staleWhileRevalidate: "5 seconds" } as const
        yield* store.getOrSet("k", s.compute, options)
        yield* TestClock.adjust("9 seconds")
        assert.strictEqual(text(yield* store.getOrSet("k", s.compute, options)), "v1")
        yield* settle
        assert.strictEqual(s.state.runs, 1)
      })
    ))
})

describe("getOrSet: grace", () => {
  it.effect("a failed refresh serves the stale value within grace, and the error after it", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const s = source()
        const options = { ttl: "10 seconds", grace: "20 seconds" } as const
        yield* store.getOrSet("k", s.compute, options)
        s.state.failing = true
        yield* TestClock.adjust("12 seconds")
        assert.strictEqual(text(yield* store.getOrSet("k", s.compute, options)), "v1")
        assert.strictEqual(s.state.runs, 2)
        yield* TestClock.adjust("18 seconds") // 30 s: past the grace
        assert.strictEqual(yield* Effect.flip(store.getOrSet("k", s.compute, options)), "failed3")
      })
    ))

  it.effect("a successful refresh within grace replaces the value", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const s = source()
        const options = { ttl: "10 seconds", grace: "20 seconds" } as const
        yield* store.getOrSet("k", s.compute, options)
        yield* TestClock.adjust("12 seconds")
        assert.strictEqual(text(yield* store.getOrSet("k", s.compute, options)), "v2")
        assert.strictEqual(text(yield* store.getOrSet("k", s.compute, options)), "v2")
      })
    ))

  it.effect("without grace a failed refresh is the error (the entry is gone past its ttl)", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const s = source()
        yield* store.getOrSet("k", s.compute, { ttl: "10 seconds" })
        s.state.failing = true
        yield* TestClock.adjust("12 seconds")
        assert.strictEqual(yield* Effect.flip(store.getOrSet("k", s.compute, { ttl: "10 seconds" })), "failed2")
      })
    ))
})

describe("getOrSet: softTimeout and hardTimeout", () => {
  it.effect("softTimeout: a slow refresh returns the stale value, finishes in the background and writes", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const s = source("5 seconds")
        const options = { ttl: "10 seconds", grace: "1 minute", softTimeout: "1 second" } as const
        yield* store.set("k", "old", { ttl: "70 seconds" })
        yield* TestClock.adjust("11 seconds")
        const caller = yield* Effect.fork(store.getOrSet("k", s.compute, options))
        yield* TestClock.adjust("1 second")
        assert.strictEqual(text(yield* Fiber.join(caller)), "old")
        yield* TestClock.adjust("4 seconds")
        yield* settle
        assert.strictEqual(text(Option.getOrThrow(yield* store.get("k"))), "v1")
        assert.strictEqual(s.state.runs, 1)
      })
    ))

  it.effect("softTimeout: a refresh faster than it returns the new value", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const s = source("500 millis")
        const options = { ttl: "10 seconds", grace: "1 minute", softTimeout: "1 second" } as const
        yield* store.set("k", "old", { ttl: "70 seconds" })
        yield* TestClock.adjust("11 seconds")
        const caller = yield* Effect.fork(store.getOrSet("k", s.compute, options))
        yield* TestClock.adjust("500 millis")
        assert.strictEqual(text(yield* Fiber.join(caller)), "v1")
      })
    ))

  it.effect("softTimeout has no effect on a miss (no stale value at hand)", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const s = source("5 seconds")
        const caller = yield* Effect.fork(store.getOrSet("k", s.compute, { softTimeout: "1 second" }))
        yield* TestClock.adjust("1 second")
        assert.isTrue(Option.isNone(yield* Fiber.poll(caller)))
        yield* TestClock.adjust("4 seconds")
        assert.strictEqual(text(yield* Fiber.join(caller)), "v1")
      })
    ))

  it.effect("hardTimeout: a computation slower than it fails with Timeout, and nothing is written", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const s = source("10 seconds")
        const caller = yield* Effect.fork(store.getOrSet("k", s.compute, { hardTimeout: "2 seconds" }))
        yield* TestClock.adjust("2 seconds")
        const error = (yield* Effect.flip(Fiber.join(caller))) as { readonly _tag: string; readonly millis?: number }
        assert.strictEqual(error._tag, "Timeout")
        assert.strictEqual(error.millis, 2000)
        yield* TestClock.adjust("10 seconds")
        assert.isTrue(Option.isNone(yield* store.get("k")))
      })
    ))

  it.effect("hardTimeout with a stale value within grace serves the stale value", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const s = source("10 seconds")
        const options = { ttl: "10 seconds", grace: "1 minute", hardTimeout: "2 seconds" } as const
        yield* store.set("k", "old", { ttl: "70 seconds" })
        yield* TestClock.adjust("11 seconds")
        const caller = yield* Effect.fork(store.getOrSet("k", s.compute, options))
        yield* TestClock.adjust("2 seconds")
        assert.strictEqual(text(yield* Fiber.join(caller)), "old")
      })
    ))

  it.effect("hardTimeout bounds a background refresh: it ends without writing", () =>
    withStore((store) =>
      Effect.gen(function*() {
        const s = source("10 seconds")
        const options = { ttl: "10 seconds", staleWhileRevalidate: "1 minute", hardTimeout: "2 seconds" } as const
        yield* store.set("k", "old", { ttl: "70 seconds" })
        yield* TestClock.adjust("11 seconds")
        assert.strictEqual(text(yield* store.getOrSet("k", s.compute, options)), "old")
        yield* settle
        yield* TestClock.adjust("2 seconds")
        yield* settle
        // The refresh ended: the next stale read starts another one.
        assert.strictEqual(text(yield* store.getOrSet("k", s.compute, options)), "old")
        yield* settle
        assert.strictEqual(s.state.runs, 2)
        yield* TestClock.adjust("20 seconds")
        assert.strictEqual(text(Option.getOrThrow(yield* store.get("k"))), "old")
      })
    ))
})
