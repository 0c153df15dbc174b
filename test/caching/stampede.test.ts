/**
 * `getOrSet` with `lock` in one process: two views of one MemoryStore (two store objects, so two sets of flights, but
 * one lease table) stand for two processes. The lease makes them compute once; a waiter past `lock.timeout` computes
 * itself or fails with `LockTimeout` (`onTimeout`); the lease is released after the write, and its name is the
 * library's own.
 */
import { assert, describe, it } from "@effect/vitest"
import { KeyValueStore, MemoryStore } from "effect-kv"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import { leaseName } from "../../src/internal/cache/stampede.js"

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes)

/** Two views of one store (sharing entries and leases) and a computation taking `millis` of real time. */
const setup = (millis: number) =>
  Effect.map(KeyValueStore.KeyValueStore, (root) => {
    const state = { runs: 0 }
    const compute = Effect.zipRight(Effect.sleep(millis), Effect.sync(() => `v${++state.runs}`))
    return { root, a: KeyValueStore.prefix(root, "app."), b: KeyValueStore.prefix(root, "app."), state, compute }
  })

const callers = <A, E>(n: number, f: () => Effect.Effect<A, E>) =>
  Effect.forEach(Array.from({ length: n }, (_, i) => i), f, { concurrency: "unbounded" })

describe("getOrSet with lock (one process, two views)", () => {
  it.live("without lock, two views compute once each (their flights are separate)", () =>
    Effect.gen(function*() {
      const { a, b, compute, state } = yield* setup(100)
      yield* Effect.all([callers(5, () => a.getOrSet("k", compute)), callers(5, () => b.getOrSet("k", compute))], {
        concurrency: "unbounded"
      })
      assert.strictEqual(state.runs, 2)
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.live("with lock, the two views compute once and every caller gets the value", () =>
    Effect.gen(function*() {
      const { a, b, compute, state } = yield* setup(100)
      const [x, y] = yield* Effect.all([
        callers(5, () => a.getOrSet("k", compute, { lock: true })),
        callers(5, () => b.getOrSet("k", compute, { lock: true }))
      ], { concurrency: "unbounded" })
      assert.strictEqual(state.runs, 1)
      assert.deepStrictEqual(new Set([...x, ...y].map(text)), new Set(["v1"]))
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.live("the lease is released once the value is written", () =>
    Effect.gen(function*() {
      const { a, compute, root } = yield* setup(10)
      yield* a.getOrSet("k", compute, { lock: true })
      // Taking the lease at once (timeout 0) shows nobody holds it.
      yield* Effect.scoped(a.getOrSet("other", compute, { lock: { timeout: 0 } }))
      assert.isTrue(Option.isSome(yield* root.get("app.k")))
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.live("past lock.timeout a waiter fails with LockTimeout (onTimeout: \"fail\") or computes (default)", () =>
    Effect.gen(function*() {
      const { a, b, compute, state } = yield* setup(500)
      const holder = yield* Effect.fork(a.getOrSet("k", compute, { lock: true }))
      yield* Effect.sleep("50 millis")
      const error = yield* Effect.flip(
        b.getOrSet("k", compute, { lock: { timeout: "50 millis", onTimeout: "fail" } })
      )
      assert.strictEqual(error._tag, "LockTimeout")
      assert.strictEqual(error.method, "getOrSet")
      assert.strictEqual(error.key, "k")
      const own = yield* b.getOrSet("k", compute, { lock: { timeout: "50 millis" } })
      assert.strictEqual(text(own), "v2")
      assert.strictEqual(text(yield* Fiber.join(holder)), "v1")
      assert.strictEqual(state.runs, 2)
    }).pipe(Effect.provide(MemoryStore.layer())))

  it.live("a LockTimeout of the computation itself is its failure, not a lease timeout", () =>
    Effect.gen(function*() {
      const { a } = yield* setup(0)
      let runs = 0
      const failing = Effect.suspend(() => {
        runs++
        return Effect.fail({ _tag: "LockTimeout" as const })
      })
      const error = yield* Effect.flip(a.getOrSet("k", failing, { lock: true }))
      assert.strictEqual(error._tag, "LockTimeout")
      assert.strictEqual(runs, 1)
    }).pipe(Effect.provide(MemoryStore.layer())))

  it("lease names: the key with the reserved mark, hashed when too long", () => {
    assert.strictEqual(leaseName("k"), "k\u0000effect-kv:getOrSet")
    const long = leaseName("x".repeat(1024))
    assert.isTrue(long.endsWith("\u0000effect-kv:getOrSet/sha256"))
    assert.isBelow(Buffer.byteLength(long), 1025)
    assert.notStrictEqual(leaseName("x".repeat(1024)), leaseName("x".repeat(1023) + "y"))
  })
})
