/**
 * The Prefix wrapper's module API (`wrappers/Prefix.ts`): `make` (data-first and data-last, throwing for a prefix
 * that is not valid Unicode, the store itself for `""`), `makeEffect` and `layer` (failing instead), `validate`, and
 * the short forms `KeyValueStore.prefix` / `layerPrefix` giving the same namespace. The namespace's behaviour is
 * the contract suite's (`test/contract/namespace.ts`, through `layerPrefix`).
 */
import { assert, describe, it } from "@effect/vitest"
import { KeyValueStore, MemoryStore, Prefix } from "effect-kv"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"

const store = Effect.provide(KeyValueStore.KeyValueStore, MemoryStore.layer())

describe("Prefix", () => {
  it.effect("make scopes a store to the prefix, data-first and data-last", () =>
    Effect.gen(function*() {
      const root = yield* store
      const a = Prefix.make(root, "a.")
      const b = Prefix.make("b.")(root)
      yield* a.set("x", "1")
      yield* b.set("x", "2")
      assert.deepStrictEqual(yield* root.getString("a.x").pipe(Effect.map((o) => o._tag)), "Some")
      assert.strictEqual(yield* a.size, 1)
      assert.strictEqual(yield* root.size, 2)
      yield* a.clear
      assert.strictEqual(yield* root.size, 1)
      assert.isTrue(KeyValueStore.isKeyValueStore(a))
    }))

  it.effect("the empty prefix is the store itself", () =>
    Effect.gen(function*() {
      const root = yield* store
      assert.strictEqual(Prefix.make(root, ""), root)
      assert.strictEqual(KeyValueStore.prefix(root, ""), root)
    }))

  it.effect("a prefix that is not valid Unicode: make throws, makeEffect and layer fail", () =>
    Effect.gen(function*() {
      const root = yield* store
      assert.strictEqual(Prefix.validate("ok."), undefined)
      assert.strictEqual(Prefix.validate("\uD800")?._tag, "InvalidArgument")
      assert.throws(() => Prefix.make(root, "\uD800"))
      assert.throws(() => KeyValueStore.prefix(root, "\uD800"))
      assert.strictEqual((yield* Effect.flip(Prefix.makeEffect(root, "\uD800")))._tag, "InvalidArgument")
      const layered = yield* Effect.exit(
        Layer.build(MemoryStore.layer().pipe(KeyValueStore.wrap(Prefix.layer("\uD800")))).pipe(Effect.scoped)
      )
      assert.isTrue(Exit.isFailure(layered))
      const short = yield* Effect.exit(
        Layer.build(MemoryStore.layer().pipe(KeyValueStore.wrap(KeyValueStore.layerPrefix("\uD800")))).pipe(
          Effect.scoped
        )
      )
      assert.isTrue(Exit.isFailure(short))
    }))

  it.effect("layer and the short forms give the same namespace", () =>
    Effect.gen(function*() {
      const root = yield* KeyValueStore.KeyValueStore
      yield* root.set("t.k", "v")
      const viaShort = KeyValueStore.prefix(root, "t.")
      assert.strictEqual((yield* viaShort.getString("k"))._tag, "Some")
      const viaLayer = yield* Effect.provide(
        KeyValueStore.KeyValueStore,
        Prefix.layer("t.").pipe(Layer.provide(Layer.succeed(KeyValueStore.KeyValueStore, root)))
      )
      assert.deepStrictEqual(Chunk.toArray(yield* Stream.runCollect(viaLayer.keys())), ["k"])
      assert.strictEqual(yield* viaLayer.size, 1)
      assert.strictEqual(yield* viaShort.size, 1)
    }).pipe(Effect.provide(MemoryStore.layer())))
})
