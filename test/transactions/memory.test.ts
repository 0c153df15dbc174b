/**
 * MemoryStore's undo journal against its eviction bookkeeping: a rolled-back `clear` keeps the LRU order and the LFU
 * use counts, and an eviction undone by a rollback is not counted. (A single entry restored by a rollback counts as
 * just used: the recency order of restored entries is not kept.)
 */
import { assert, describe, it } from "@effect/vitest"
import type { KeyValueStore } from "effect-kv"
import { MemoryStore } from "effect-kv"
import * as Effect from "effect/Effect"

// The keys of `keys` present (`has` is no use for the eviction policies).
const present = (store: KeyValueStore.Service, keys: ReadonlyArray<string>) =>
  Effect.forEach(keys, (key) => Effect.map(store.has(key), (has) => has ? key : undefined)).pipe(
    Effect.map((found) => found.filter((key) => key !== undefined))
  )

describe("transactions: MemoryStore rollback and eviction", () => {
  // maxEntries 2, lru: "a" is the least recently used. A region writes "c", which evicts "a"; the region rolls
  // back, so nothing happened: the next write outside must evict "a" again, as it would have without the region.
  it.effect("a rolled-back clear keeps the LRU order", () =>
    Effect.gen(function*() {
      const store = yield* MemoryStore.make({ maxEntries: 3, eviction: "lru" })
      yield* store.set("a", "1")
      yield* store.set("b", "2")
      yield* store.set("c", "3") // c is the most recently used, a the least
      yield* Effect.exit(store.withTransaction(Effect.zipRight(store.clear, Effect.fail("undo"))))
      yield* store.set("d", "4")
      assert.deepStrictEqual(yield* present(store, ["a", "b", "c", "d"]), ["b", "c", "d"])
    }).pipe(Effect.scoped))

  // lfu: a rolled-back clear resets every use count to 1 (the journal does not hold them), so the most used entry
  // can become the victim.
  it.effect("a rolled-back clear keeps the LFU use counts", () =>
    Effect.gen(function*() {
      const store = yield* MemoryStore.make({ maxEntries: 3, eviction: "lfu" })
      yield* store.set("a", "1")
      yield* store.set("b", "2")
      yield* store.set("c", "3")
      for (let i = 0; i < 5; i++) {
        yield* store.get("b")
        yield* store.get("c")
      }
      // a: 1 use, b and c: 6 uses each.
      yield* Effect.exit(store.withTransaction(Effect.zipRight(store.clear, Effect.fail("undo"))))
      yield* store.set("d", "4")
      assert.deepStrictEqual(yield* present(store, ["a", "b", "c", "d"]), ["b", "c", "d"])
    }).pipe(Effect.scoped))

  // The eviction that the rollback undid did not happen: it is not counted.
  it.effect("an eviction undone by a rollback is not counted in stats.evictions", () =>
    Effect.gen(function*() {
      const store = yield* MemoryStore.make({ maxEntries: 1 })
      yield* store.set("a", "1")
      yield* Effect.exit(store.withTransaction(Effect.zipRight(store.set("b", "2"), Effect.fail("undo"))))
      assert.isTrue(yield* store.has("a"))
      assert.strictEqual((yield* store.stats).evictions, 0)
    }).pipe(Effect.scoped))
})
