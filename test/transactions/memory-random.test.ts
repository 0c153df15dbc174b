/**
 * Random regions over MemoryStore that roll back leave every observable part of the store as it was: entries (value,
 * tags, metadata, expiry, createdAt, updatedAt), `keys()` order, size, the tag index and, with a limit, the byte count
 * `check` verifies.
 */
import { assert, describe, it } from "@effect/vitest"
import type { KeyValueStore } from "effect-kv"
import { MemoryStore } from "effect-kv"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"

type Store = KeyValueStore.Service

const KEYS = ["a", "b", "c", "d", "e", "é", "\u{1F600}", "\uFF21", "p.x", "p.y"]
const TAGS = ["t0", "t1", "t2"]

const rng = (seed: number) => () => {
  seed = (seed * 1103515245 + 12345) & 0x7fffffff
  return seed / 0x7fffffff
}

interface Snapshot {
  readonly keys: ReadonlyArray<string>
  readonly entries: ReadonlyArray<readonly [string, string, Array<string>, unknown, number | null, number, number]>
}

const snapshot = (store: Store): Effect.Effect<Snapshot, unknown> =>
  Effect.gen(function*() {
    const keys = Chunk.toArray(yield* Stream.runCollect(store.keys()))
    const entries: Array<readonly [string, string, Array<string>, unknown, number | null, number, number]> = []
    for (const key of KEYS) {
      const entry = yield* store.getEntry(key)
      if (Option.isSome(entry)) {
        const e = entry.value
        entries.push([
          key,
          Buffer.from(e.value).toString(),
          [...e.tags].sort(),
          Option.getOrNull(e.metadata),
          Option.getOrNull(e.expiresAt),
          e.createdAt,
          e.updatedAt
        ])
      }
    }
    return { keys, entries }
  })

// What `before` looks like at `now` (time may have moved inside the region): expired entries are gone.
const at = (before: Snapshot, now: number): Snapshot => {
  const live = new Set(before.entries.filter((e) => e[4] === null || e[4] > now).map((e) => e[0]))
  return { keys: before.keys.filter((k) => live.has(k)), entries: before.entries.filter((e) => live.has(e[0])) }
}

const ops = (store: Store, random: () => number, depth: number): Effect.Effect<void, unknown> =>
  Effect.gen(function*() {
    const pick = <A>(list: ReadonlyArray<A>): A => list[Math.floor(random() * list.length)]!
    const n = 1 + Math.floor(random() * 8)
    for (let i = 0; i < n; i++) {
      const r = random()
      const key = pick(KEYS)
      if (r < 0.25) {
        yield* store.set(key, `v${Math.floor(random() * 100)}`, {
          tags: random() < 0.5 ? [pick(TAGS)] : [],
          ...(random() < 0.3 ? { ttl: 1 + Math.floor(random() * 20) } : {}),
          ...(random() < 0.3 ? { metadata: { m: Math.floor(random() * 9) } } : {})
        })
      } else if (r < 0.35) yield* store.remove(key)
      else if (r < 0.4) yield* store.clear
      else if (r < 0.5) yield* Stream.runDrain(store.keys())
      else if (r < 0.55) yield* store.removeTag(pick(TAGS))
      else if (r < 0.6) yield* store.touch(key, 1 + Math.floor(random() * 20))
      else if (r < 0.65) yield* store.setMany([[key, "m1"], [pick(KEYS), "m2", { tags: [pick(TAGS)] }]])
      else if (r < 0.7) yield* store.expire
      else if (r < 0.75) yield* TestClock.adjust(Math.floor(random() * 10))
      else if (r < 0.8) yield* store.removePattern("p.*")
      else if (r < 0.85) yield* Effect.ignore(store.increment(key))
      else if (r < 0.9) yield* store.get(key)
      else if (depth < 3) {
        const fail = random() < 0.5
        yield* Effect.exit(store.withTransaction(
          Effect.zipRight(ops(store, random, depth + 1), fail ? Effect.fail("inner") : Effect.void)
        ))
      }
    }
  })

const run = (options: MemoryStore.Options) =>
  Effect.gen(function*() {
    const failures: Array<string> = []
    for (let seed = 1; seed <= 150; seed++) {
      const random = rng(seed)
      const store = yield* MemoryStore.make(options)
      // Some state before the region, partly enumerated (indexed) and partly not.
      yield* ops(store, random, 3)
      if (random() < 0.5) yield* Stream.runDrain(store.keys())
      yield* ops(store, random, 3)
      yield* TestClock.adjust(Math.floor(random() * 5))
      const before = yield* snapshot(store)
      yield* Effect.exit(store.withTransaction(Effect.zipRight(ops(store, random, 0), Effect.fail("undo"))))
      const after = yield* snapshot(store)
      const expected = at(before, yield* Clock.currentTimeMillis)
      try {
        assert.deepStrictEqual(after, expected)
        assert.strictEqual(yield* store.size, expected.entries.length, "size")
      } catch (error) {
        failures.push(
          `seed ${seed}: ${String(error).slice(0, 300)} ${JSON.stringify(after)} vs ${JSON.stringify(expected)}`
        )
        continue
      }
      const report = yield* store.check()
      if (!report.ok) failures.push(`seed ${seed}: check ${JSON.stringify(report)}`)
      for (const tag of TAGS) {
        const live = expected.entries.filter((e) => e[2].includes(tag)).length
        const removed = yield* store.removeTag(tag)
        if (removed !== live) failures.push(`seed ${seed}: removeTag(${tag}) removed ${removed}, ${live} carry it`)
      }
    }
    assert.deepStrictEqual(failures.slice(0, 5), [])
  }).pipe(Effect.scoped)

describe("transactions: MemoryStore random rollbacks", () => {
  it.effect("without limits", () => run({}))
  it.effect("with maxEntries (lru)", () => run({ maxEntries: 1000 }))
  it.effect("with maxEntries (lfu)", () => run({ maxEntries: 1000, eviction: "lfu" }))
  it.effect("with maxEntries 4 (lru, evicting)", () => run({ maxEntries: 4 }))
  it.effect("with maxSize 10 (lfu, evicting)", () => run({ maxSize: 10, eviction: "lfu" }))
})
