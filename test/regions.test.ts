/**
 * The transaction regions of `internal/regions.ts` on a scripted engine: the engine calls a region makes (begin,
 * savepoints, commit, rollback, in stack order), a failed begin or commit reported as the store's typed error with the
 * region left closed, and a region the engine rolled back by itself (after a full disk, say) failing its operations
 * and its commit instead of letting them run outside any transaction.
 */
import { assert, describe, it } from "@effect/vitest"
import { KeyValueStoreError } from "effect-kv"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as regions from "../src/internal/regions.js"

const scripted = (options: { failBegin?: boolean; failCommit?: boolean } = {}) => {
  const calls: Array<string> = []
  let alive = true
  const engine: regions.Engine = {
    begin: (depth) => {
      if (options.failBegin) throw new Error("cannot begin")
      calls.push(`begin ${depth}`)
    },
    commit: (depth) => {
      if (options.failCommit || !alive) throw new Error("cannot commit")
      calls.push(`commit ${depth}`)
    },
    rollback: (depth) => {
      calls.push(`rollback ${depth}`)
    },
    alive: () => alive
  }
  const toError = (method: string, cause: unknown) =>
    new KeyValueStoreError.BackendError({ method, backend: "scripted", cause })
  return { calls, regions: regions.make(engine, toError), kill: () => (alive = false) }
}

describe("transaction regions", () => {
  it.effect("nest as begin/savepoint, commit or roll back innermost first", () =>
    Effect.gen(function*() {
      const { calls, regions } = scripted()
      yield* regions.withTransaction(Effect.gen(function*() {
        yield* regions.withTransaction(Effect.void)
        yield* Effect.exit(regions.withTransaction(Effect.fail("no")))
      }))
      assert.deepStrictEqual(calls, ["begin 0", "begin 1", "commit 1", "begin 1", "rollback 1", "commit 0"])
    }))

  it.effect("a failed begin is a typed error and the region never runs", () =>
    Effect.gen(function*() {
      const { regions } = scripted({ failBegin: true })
      let ran = false
      const error = yield* Effect.flip(regions.withTransaction(Effect.sync(() => (ran = true))))
      assert.strictEqual(error._tag, "BackendError")
      assert.isFalse(ran)
      // Nothing is left open: a guarded effect runs at once.
      assert.strictEqual(yield* regions.guard(Effect.succeed(1)), 1)
    }))

  it.effect("a failed commit is rolled back and reported", () =>
    Effect.gen(function*() {
      const { calls, regions } = scripted({ failCommit: true })
      const error = yield* Effect.flip(regions.withTransaction(Effect.succeed(1)))
      assert.strictEqual(error._tag, "BackendError")
      assert.strictEqual(error.method, "withTransaction")
      assert.deepStrictEqual(calls, ["begin 0", "rollback 0"])
    }))

  it.effect("a region the engine rolled back fails its operations instead of running them outside it", () =>
    Effect.gen(function*() {
      const { kill, regions } = scripted()
      let ran = false
      const exit = yield* Effect.exit(regions.withTransaction(Effect.gen(function*() {
        kill()
        const error = yield* Effect.flip(regions.guard(Effect.sync(() => (ran = true))))
        assert.strictEqual(error._tag, "BackendError")
        const nested = yield* Effect.flip(regions.withTransaction(Effect.void))
        assert.strictEqual(nested._tag, "BackendError")
      })))
      assert.isFalse(ran)
      assert.isTrue(Exit.isFailure(exit), "the commit of a dead region fails")
    }))
})
