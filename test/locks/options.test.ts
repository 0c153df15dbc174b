/**
 * Lock options: a negative or NaN timeout in any `DurationInput` form (bigint nanoseconds, a [seconds, nanos] tuple)
 * fails with InvalidArgument, as the same values given as a number do.
 */
import { assert, describe, it } from "@effect/vitest"
import type { Duration } from "effect"
import { MemoryStore } from "effect-kv"
import * as Effect from "effect/Effect"
import { tagOf } from "./helpers.js"

describe("locks: lock options out of range", () => {
  it.scoped("a negative or NaN timeout fails with InvalidArgument whatever its DurationInput form", () =>
    Effect.gen(function*() {
      const store = yield* MemoryStore.make()
      const cases: ReadonlyArray<readonly [string, Duration.DurationInput]> = [
        ["-1 (number)", -1],
        ["-1n (bigint nanos)", -1n],
        ["[-1, 0] (tuple)", [-1, 0]],
        ["[NaN, 0] (tuple)", [NaN, 0]]
      ]
      const outcomes = yield* Effect.forEach(
        cases,
        ([what, timeout]) =>
          Effect.map(Effect.exit(Effect.scoped(store.lock("a", { timeout }))), (exit) => `${what}: ${tagOf(exit)}`)
      )
      assert.deepStrictEqual(outcomes, cases.map(([what]) => `${what}: InvalidArgument`))
    }))
})
