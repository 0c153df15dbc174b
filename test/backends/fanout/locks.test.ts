/**
 * Locks through a FanoutStore are routed by the full lock name, so a namespace's lock and the root lock of the same
 * full name are one lease, also between two fan-outs on one directory; a fiber in a region of any shard cannot take a
 * lock.
 */
import { assert, describe, it } from "@effect/vitest"
import { FanoutStore, KeyValueStore } from "effect-kv"
import * as Effect from "effect/Effect"
import { tempDir } from "../fixtures/temp.js"

describe("FanoutStore locks", () => {
  it.scoped("a namespace's lock and the root lock of the same full name exclude each other", () =>
    Effect.gen(function*() {
      const directory = yield* tempDir
      const fan = yield* FanoutStore.make({ directory, shards: 4 })
      const other = yield* FanoutStore.make({ directory })
      for (const name of ["L", "{x}L", "a{b}"]) {
        for (const ns of ["ns.", "{t}.", "x{"]) {
          yield* Effect.scoped(Effect.gen(function*() {
            yield* KeyValueStore.prefix(fan, ns).lock(name)
            const a = yield* Effect.flip(Effect.scoped(fan.lock(ns + name, { timeout: 0 })))
            const b = yield* Effect.flip(Effect.scoped(other.lock(ns + name, { timeout: 0 })))
            const c = yield* Effect.flip(Effect.scoped(KeyValueStore.prefix(other, ns).lock(name, { timeout: 0 })))
            assert.deepStrictEqual([a._tag, b._tag, c._tag], ["LockTimeout", "LockTimeout", "LockTimeout"], ns + name)
          }))
        }
      }
    }))

  it.scoped("a fiber in a region of any shard cannot take a lock", () =>
    Effect.gen(function*() {
      const fan = yield* FanoutStore.make({ directory: yield* tempDir, shards: 4 })
      for (let i = 0; i < 8; i++) {
        const error = yield* Effect.flip(
          fan.shardOf(`k${i}`).withTransaction(Effect.scoped(fan.lock("L")))
        )
        assert.strictEqual(error._tag, "InvalidArgument")
      }
    }))
})
