/**
 * Locks through a FanoutStore are routed by the full lock name, so a namespace's lock and the root lock of the same
 * full name are one lease, also between two fan-outs on one directory; a fiber in a region of any shard cannot take a
 * lock. A fenced write is checked on the lock's shard: keys sharing the lock name's hash tag are written, a key on
 * another shard fails with `Unsupported` and nothing is written (a batch included).
 */
import { assert, describe, it } from "@effect/vitest"
import { FanoutStore, KeyValueStore } from "effect-kv"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
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

  it.scoped("a fenced write needs its keys on the lock's shard: Unsupported otherwise, nothing written", () =>
    Effect.gen(function*() {
      const fan = yield* FanoutStore.make({ directory: yield* tempDir, shards: 4 })
      const lock = yield* fan.lock("{order-1}")
      const home = FanoutStore.shardIndex("{order-1}", 4)
      const away = Array.from({ length: 64 }, (_, i) => `k${i}`).find((key) => FanoutStore.shardIndex(key, 4) !== home)!
      yield* fan.set("{order-1}.total", "1", { fence: lock })
      yield* fan.setMany([["{order-1}.a", "1"], ["{order-1}.b", "2"]], { fence: lock })
      yield* fan.increment("{order-1}.n", 1, { fence: lock })
      const refused: ReadonlyArray<readonly [string, Effect.Effect<unknown, unknown>]> = [
        ["set", fan.set(away, "x", { fence: lock })],
        ["increment", fan.increment(away, 1, { fence: lock })],
        ["remove", fan.remove("{order-1}.a", { fence: lock }).pipe(Effect.zipRight(fan.remove(away, { fence: lock })))],
        ["setMany", fan.setMany([["{order-1}.c", "3"], [away, "x"]], { fence: lock })],
        ["removeMany", fan.removeMany(["{order-1}.b", away], { fence: lock })]
      ]
      for (const [what, effect] of refused) {
        const error = yield* Effect.flip(effect)
        assert.strictEqual((error as { readonly _tag: string })._tag, "Unsupported", what)
      }
      assert.isTrue(Option.isNone(yield* fan.get(away)), "a key on another shard was written")
      assert.isTrue(Option.isNone(yield* fan.get("{order-1}.c")), "part of a refused batch was written")
      assert.isTrue(Option.isSome(yield* fan.get("{order-1}.b")), "part of a refused batch was removed")
    }))
})
