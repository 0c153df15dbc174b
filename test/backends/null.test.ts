/**
 * NullStore: writes are accepted (and counted) but kept nowhere, every read misses, enumeration is empty, counters
 * start from their initial value on every call, arguments are checked like on every store (typed errors), and what a
 * store that keeps nothing cannot do is `Unsupported`. The contract suite cannot pass on a store that keeps nothing,
 * hence these focused cases.
 */
import { assert, describe, it } from "@effect/vitest"
import { Fallback, KeyValueStore, MemoryStore, NullStore } from "effect-kv"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"

const collect = <A, E>(stream: Stream.Stream<A, E>) => Effect.map(Stream.runCollect(stream), Chunk.toArray)

describe("NullStore", () => {
  it.effect("accepts every write and keeps nothing: reads miss, size 0, keys empty", () =>
    Effect.gen(function*() {
      const store = yield* NullStore.make()
      yield* store.set("a", "1", { ttl: "1 minute", tags: ["t"], metadata: { m: 1 } })
      yield* store.setMany([["b", "2"], ["c", "3"]])
      assert.isTrue(yield* store.add("a", "1"), "add wrote (and forgot)")
      assert.isTrue(Option.isNone(yield* store.get("a")))
      assert.isTrue(Option.isNone(yield* store.getEntry("a")))
      assert.isFalse(yield* store.has("a"))
      assert.isTrue(Option.isNone(yield* store.ttl("a")))
      assert.isTrue(Option.isNone(yield* store.pop("a")))
      assert.deepStrictEqual(yield* store.getMany(["a", "b"]), [Option.none(), Option.none()])
      assert.strictEqual((yield* Effect.flip(store.getOrFail("a")))._tag, "KeyNotFound")
      assert.strictEqual(yield* store.size, 0)
      assert.deepStrictEqual(yield* collect(store.keys()), [])
      assert.deepStrictEqual(yield* collect(store.entries("a.*")), [])
      assert.strictEqual(yield* store.countPattern("*"), 0)
      assert.strictEqual(yield* store.removePattern("*"), 0)
      assert.strictEqual(yield* store.removeTag("t"), 0)
      assert.strictEqual(yield* store.removeMany(["a", "b"]), 0)
      assert.isFalse(yield* store.remove("a"))
      assert.isFalse(yield* store.touch("a", "1 minute"))
      assert.isFalse(yield* store.setMetadata("a", { m: 2 }))
      assert.strictEqual(yield* store.expire, 0)
      yield* store.clear
      const stats = yield* store.stats
      assert.strictEqual(stats.writes, 4, "set, two of setMany, add")
      assert.strictEqual(stats.hits, 0)
    }))

  it.effect("counters start from their initial value every time; other atomics see an absent entry", () =>
    Effect.gen(function*() {
      const store = yield* NullStore.make()
      assert.strictEqual(yield* store.increment("n"), 1n)
      assert.strictEqual(yield* store.increment("n"), 1n)
      assert.strictEqual(yield* store.increment("n", 5, { initial: 10 }), 15n)
      assert.strictEqual(yield* store.decrement("n", 2n), -2n)
      assert.strictEqual(yield* store.append("a", "xyz"), 3)
      assert.strictEqual(yield* store.append("a", "xyz"), 3)
      assert.isTrue(yield* store.compareAndSwap("a", Option.none(), Option.some("v")))
      assert.isFalse(yield* store.compareAndSwap("a", Option.some("v"), Option.some("w")))
      let seen: Option.Option<Uint8Array> | undefined
      const updated = yield* store.update("u", (current) => {
        seen = current
        return Option.some("u")
      })
      assert.isTrue(seen !== undefined && Option.isNone(seen))
      assert.deepStrictEqual(Option.map(updated, (bytes) => new TextDecoder().decode(bytes)), Option.some("u"))
    }))

  it.effect("arguments are checked: typed errors like on every store", () =>
    Effect.gen(function*() {
      const store = yield* NullStore.make({ maxKeyBytes: 8, maxValueBytes: 4 })
      assert.strictEqual((yield* Effect.flip(store.set("", "v")))._tag, "InvalidKey")
      assert.strictEqual((yield* Effect.flip(store.get("a".repeat(9))))._tag, "InvalidKey")
      assert.strictEqual((yield* Effect.flip(store.set("k", "v", { ttl: 0 })))._tag, "InvalidArgument")
      assert.strictEqual((yield* Effect.flip(store.set("k", "12345")))._tag, "ValueTooLarge")
      assert.strictEqual((yield* Effect.flip(store.increment("k", 1.5)))._tag, "InvalidArgument")
      assert.strictEqual((yield* Effect.flip(store.setMany([["k", "v"], ["", "v"]])))._tag, "InvalidKey")
      assert.strictEqual((yield* Effect.flip(store.removePattern("[")))._tag, "InvalidArgument")
      assert.strictEqual((yield* store.stats).writes, 0, "no refused write is counted")
    }))

  it.effect("what it cannot do is Unsupported; its capabilities say so", () =>
    Effect.gen(function*() {
      const store = yield* NullStore.make()
      assert.deepStrictEqual(store.capabilities, NullStore.capabilities)
      assert.isFalse(store.capabilities.persistent)
      assert.strictEqual(store.backend, "null")
      assert.strictEqual((yield* Effect.flip(store.withTransaction(Effect.void)))._tag, "Unsupported")
      assert.strictEqual((yield* Effect.flip(Effect.scoped(store.lock("L"))))._tag, "Unsupported")
      assert.strictEqual((yield* Effect.flip(store.check()))._tag, "Unsupported")
    }))

  it.effect("invalid options fail the layer with InvalidArgument", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(NullStore.make({ maxKeyBytes: 0 }))
      assert.strictEqual(error._tag, "InvalidArgument")
    }))

  it.effect("as the layer, and as the secondary of a Fallback (an outage looks like an empty cache)", () =>
    Effect.gen(function*() {
      const store = yield* KeyValueStore.KeyValueStore
      yield* store.set("k", "v")
      assert.isTrue(Option.isSome(yield* store.get("k")))
      assert.isTrue(Option.isSome(yield* Fallback.servedBy(store)))
    }).pipe(Effect.provide(MemoryStore.layer().pipe(KeyValueStore.wrap(Fallback.layer(NullStore.layer()))))))
})
