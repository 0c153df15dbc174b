/**
 * The namespace contract: `namespaceSuite(name, layer, capabilities)` runs the whole contract suite on a namespace
 * (`KeyValueStore.layerPrefix`) over the store, then checks that namespaces over one store are isolated from each
 * other and from the root: reads, `clear`, `size`, `keys` and patterns, tags (a namespace's own, never an outside
 * entry's), `stats`, nesting, and a root key equal to the prefix (outside the namespace).
 */
import { assert, describe, it } from "@effect/vitest"
import { KeyValueStore } from "effect-kv"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { assertSomeBytes } from "./bytes.js"
import { suite } from "./suite.js"

type Store = KeyValueStore.Service

const collect = <A, E>(stream: Stream.Stream<A, E>) => Effect.map(Stream.runCollect(stream), Chunk.toArray)

/** Registers the contract on a namespace over `layer`, and the isolation cases. */
export const namespaceSuite = (
  name: string,
  layer: Layer.Layer<KeyValueStore.KeyValueStore, unknown>,
  capabilities: KeyValueStore.Capabilities
): void => {
  suite(`${name} in a namespace`, layer.pipe(KeyValueStore.wrap(KeyValueStore.layerPrefix("ns."))), capabilities)

  const test = (title: string, body: (root: Store, a: Store, b: Store) => Effect.Effect<void, unknown>) =>
    it.effect(title, () =>
      Effect.flatMap(KeyValueStore.KeyValueStore, (root) => {
        const sep = root.separator
        return body(root, KeyValueStore.prefix(root, `tenant-a${sep}`), KeyValueStore.prefix(root, `tenant-b${sep}`))
      }).pipe(Effect.provide(layer)))

  describe(`${name}: namespaces`, () => {
    test(
      "the same key in two namespaces holds two values, stored under the prefixed key",
      (root, a, b) =>
        Effect.gen(function*() {
          const sep = root.separator
          yield* a.set("k", "in a")
          yield* b.set("k", "in b")
          yield* root.set("k", "in root")
          assertSomeBytes(yield* a.get("k"), "in a")
          assertSomeBytes(yield* b.get("k"), "in b")
          assertSomeBytes(yield* root.get(`tenant-a${sep}k`), "in a")
          assert.isTrue(yield* a.remove("k"))
          assertSomeBytes(yield* b.get("k"), "in b")
          assertSomeBytes(yield* root.get("k"), "in root")
        })
    )

    test("clear and size see only their namespace", (root, a, b) =>
      Effect.gen(function*() {
        yield* a.setMany([["1", "a"], ["2", "a"], ["3", "a"]])
        yield* b.setMany([["1", "b"], ["2", "b"]])
        yield* root.set("tenant-ab", "root, same letters as the prefix")
        assert.strictEqual(yield* a.size, 3)
        assert.strictEqual(yield* b.size, 2)
        assert.strictEqual(yield* root.size, 6)
        yield* a.clear
        assert.strictEqual(yield* a.size, 0)
        assert.strictEqual(yield* b.size, 2)
        assert.strictEqual(yield* root.size, 3)
        assert.isTrue(yield* root.has("tenant-ab"))
      }))

    if (capabilities.enumeration) {
      test(
        "keys and patterns are matched without the prefix and listed without it",
        (root, a, b) =>
          Effect.gen(function*() {
            const sep = root.separator
            yield* a.setMany([[`x${sep}1`, "a"], [`x${sep}2`, "a"], ["y", "a"]])
            yield* b.setMany([[`x${sep}1`, "b"]])
            assert.deepStrictEqual(yield* collect(a.keys()), [`x${sep}1`, `x${sep}2`, "y"])
            assert.deepStrictEqual(yield* collect(a.keys(`x${sep}*`)), [`x${sep}1`, `x${sep}2`])
            assert.deepStrictEqual(yield* collect(a.keys("*")), ["y"], "* is one segment of the namespace's key")
            assert.deepStrictEqual((yield* collect(b.entries("**"))).map(([key]) => key), [`x${sep}1`])
            assert.strictEqual(yield* a.countPattern("**"), 3)
            assert.strictEqual(yield* a.removePattern(`x${sep}**`), 2)
            assert.strictEqual(yield* b.countPattern("**"), 1)
            assert.strictEqual(yield* root.countPattern(`tenant-a${sep}**`), 1)
          })
      )
    }

    if (capabilities.tags) {
      test("tags belong to their namespace", (root, a, b) =>
        Effect.gen(function*() {
          yield* a.set("1", "a", { tags: ["t"] })
          yield* b.set("1", "b", { tags: ["t"] })
          yield* root.set("1", "root", { tags: ["t"] })
          const entry = yield* a.getEntry("1")
          assert.isTrue(Option.isSome(entry))
          if (Option.isSome(entry)) {
            assert.strictEqual(entry.value.key, "1")
            assert.deepStrictEqual(entry.value.tags, ["t"])
          }
          assert.strictEqual(yield* a.removeTag("t"), 1)
          assert.isFalse(yield* a.has("1"))
          assert.isTrue(yield* b.has("1"))
          assert.isTrue(yield* root.has("1"))
          assert.strictEqual(yield* root.removeTag("t"), 1, "the root's tag is its own too")
          assert.isTrue(yield* b.has("1"))
        }))

      test(
        "removeTag in a namespace removes only its own entries, even when an outside tag looks prefixed",
        (root, a) =>
          Effect.gen(function*() {
            const sep = root.separator
            yield* root.set("other", "v", { tags: [`tenant-a${sep}t`] })
            const inner = KeyValueStore.prefix(a, `b${sep}`)
            yield* a.set("x", "v", { tags: [`b${sep}t`] })
            assert.strictEqual(yield* a.removeTag("t"), 0, "the root's entry is not the namespace's")
            assert.strictEqual(yield* inner.removeTag("t"), 0, "the parent's entry is not the nested namespace's")
            assert.isTrue(yield* root.has("other"))
            assert.isTrue(yield* a.has("x"))
            assert.strictEqual(yield* root.removeTag(`tenant-a${sep}t`), 1)
            assert.strictEqual(yield* root.removeTag(`tenant-a${sep}b${sep}t`), 1)
          })
      )

      test(
        "a namespace sees only its own tags of an entry, and an atomic operation keeps all of them",
        (root, a) =>
          Effect.gen(function*() {
            const sep = root.separator
            yield* root.set(`tenant-a${sep}n`, "1", { tags: ["x", `tenant-a${sep}own`] })
            const shown = yield* a.getEntry("n")
            assert.deepStrictEqual(Option.map(shown, (entry) => entry.tags), Option.some(["own"]))
            assert.strictEqual(yield* a.increment("n"), 2n)
            assert.strictEqual(yield* a.append("n", "0"), 2)
            assert.isTrue(yield* a.setMetadata("n", { by: "a" }))
            const entry = yield* root.getEntry(`tenant-a${sep}n`)
            assert.deepStrictEqual(Option.map(entry, (e) => e.tags), Option.some([`tenant-a${sep}own`, "x"]))
            assert.strictEqual(yield* root.removeTag("x"), 1)
          })
      )
    }

    test(
      "a key equal to the prefix belongs to the store outside, not to the namespace",
      (root, a) =>
        Effect.gen(function*() {
          const sep = root.separator
          yield* root.set(`tenant-a${sep}`, "outside")
          yield* a.set("k", "inside")
          assert.strictEqual(yield* a.size, 1)
          if (capabilities.enumeration) {
            assert.deepStrictEqual(yield* collect(a.keys()), ["k"])
            assert.deepStrictEqual((yield* collect(a.entries())).map(([key]) => key), ["k"])
            assert.strictEqual(yield* a.countPattern("**"), 1)
            assert.strictEqual(yield* a.removePattern("**"), 1)
          }
          yield* a.clear
          assertSomeBytes(yield* root.get(`tenant-a${sep}`), "outside")
          assert.strictEqual(yield* root.size, 1)
        })
    )

    test("stats are counted per namespace", (_root, a, b) =>
      Effect.gen(function*() {
        yield* a.set("1", "a")
        yield* a.get("1")
        yield* b.get("1")
        const statsA = yield* a.stats
        const statsB = yield* b.stats
        assert.deepStrictEqual([statsA.writes, statsA.hits, statsA.misses], [1, 1, 0])
        assert.deepStrictEqual([statsB.writes, statsB.hits, statsB.misses], [0, 0, 1])
      }))

    test("namespaces nest, and the atomic operations stay inside them", (root, a) =>
      Effect.gen(function*() {
        const sep = root.separator
        const inner = KeyValueStore.prefix(a, `inner${sep}`)
        assert.strictEqual(yield* inner.increment("n", 5), 5n)
        assert.isTrue(yield* inner.compareAndSwap("n", Option.some("5"), Option.some("6")))
        assertSomeBytes(yield* root.get(`tenant-a${sep}inner${sep}n`), "6")
        assertSomeBytes(yield* a.get(`inner${sep}n`), "6")
        yield* inner.clear
        assert.strictEqual(yield* root.size, 0)
      }))

    test("a prefix that is not valid Unicode is refused", (root) =>
      Effect.gen(function*() {
        assert.throws(() => KeyValueStore.prefix(root, "\uD800"))
        const error = yield* Effect.flip(
          Effect.provide(KeyValueStore.KeyValueStore, KeyValueStore.layerPrefix("\uDC00"))
            .pipe(Effect.provideService(KeyValueStore.KeyValueStore, root))
        )
        assert.strictEqual(error._tag, "InvalidArgument")
      }))
  })
}
