/**
 * RedisStore values and key edge cases: all 256 byte values, an empty value and a 1 MiB value round trip through
 * get, getEntry, getMany, entries and append; values kept while more big values are read stay intact; and every
 * returned value owns its memory (ioredis hands out views into its socket read chunk, so a kept 1-byte value used to
 * pin 64 KiB and expose its neighbours through `.buffer`). `clear` under a prefix holding `[ ] * ? \` leaves a store
 * whose prefix differs only there alone, and prefix ranges (`keys`, `countPattern`, `removePattern`) are exact over
 * keys ending in U+FFFF, astral characters, U+0000 and glob characters.
 */
import { assert, it } from "@effect/vitest"
import { RedisStore } from "effect-kv"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { freshPrefix, rawClient } from "./fixtures/redis.js"
import { describeServer, urls } from "./fixtures/servers.js"

await describeServer("redis", "RedisStore values and key edge cases", () => {
  it.scoped("binary values round trip, and every returned value owns its memory", () =>
    Effect.gen(function*() {
      const prefix = yield* freshPrefix()
      const store = yield* RedisStore.make({ url: urls.redis, prefix })
      const all = new Uint8Array(256).map((_, i) => i)
      const big = new Uint8Array(1024 * 1024).map((_, i) => (i * 31) & 255)
      const empty = new Uint8Array(0)
      yield* store.set("all", all)
      yield* store.set("big", big)
      yield* store.set("empty", empty)
      for (const [k, v] of [["all", all], ["big", big], ["empty", empty]] as const) {
        const got = Option.getOrThrow(yield* store.get(k))
        assert.isTrue(Buffer.compare(Buffer.from(got), Buffer.from(v)) === 0, k)
        const e = Option.getOrThrow(yield* store.getEntry(k))
        assert.strictEqual(e.size, v.byteLength)
        assert.isTrue(Buffer.compare(Buffer.from(e.value), Buffer.from(v)) === 0, k)
      }
      const many = yield* store.getMany(["all", "big", "empty", "none"])
      assert.deepStrictEqual(many.map((o) => Option.map(o, (b) => b.byteLength)), [
        Option.some(256),
        Option.some(1048576),
        Option.some(0),
        Option.none()
      ])
      const rows = Chunk.toArray(yield* Stream.runCollect(store.entries()))
      assert.deepStrictEqual(rows.map(([k, v]) => [k, v.byteLength]), [["all", 256], ["big", 1048576], ["empty", 0]])
      yield* store.append("empty", all)
      assert.strictEqual(Option.getOrThrow(yield* store.get("empty")).byteLength, 256)
      // values kept while more big values are read stay intact
      const kept: Array<Uint8Array> = []
      for (let i = 0; i < 20; i++) {
        const v = new Uint8Array(200_000).fill(i)
        yield* store.set(`v${i}`, v)
        kept.push(Option.getOrThrow(yield* store.get(`v${i}`)))
        yield* Effect.promise(() => new Promise((r) => setTimeout(r, 60)))
      }
      for (let i = 0; i < 20; i++) assert.isTrue(kept[i]!.every((b) => b === i), `value ${i} changed`)
      // a small returned value owns its memory: keeping it must not keep a megabyte reply alive
      yield* store.set("small", "s")
      const [small] = yield* store.getMany(["small", "big"])
      assert.strictEqual(Option.getOrThrow(small!).buffer.byteLength, 1, "getMany")
      const got = Option.getOrThrow(yield* store.get("all"))
      assert.strictEqual(got.buffer.byteLength, 256, "get")
      const entry = Option.getOrThrow(yield* store.getEntry("small"))
      assert.strictEqual(entry.value.buffer.byteLength, 1, "getEntry")
      const listed = Chunk.toArray(yield* Stream.runCollect(store.entries()))
      for (const [k, v] of listed) assert.strictEqual(v.buffer.byteLength, v.byteLength, `entries ${k}`)
      const popped = Option.getOrThrow(yield* store.pop("small"))
      assert.strictEqual(popped.buffer.byteLength, 1, "pop")
    }))

  it.scoped("clear under a prefix holding glob characters removes only its own keys", () =>
    Effect.gen(function*() {
      const base = yield* freshPrefix()
      const raw = yield* rawClient()
      const prefixA = base + "a[b]*?\\:"
      const prefixB = base + "ab*?\\:"
      const a = yield* RedisStore.make({ url: urls.redis, prefix: prefixA })
      const b = yield* RedisStore.make({ url: urls.redis, prefix: prefixB })
      yield* a.set("k", "1", { tags: ["t"] })
      yield* b.set("k", "2", { tags: ["t"] })
      yield* a.clear
      assert.strictEqual(yield* a.size, 0)
      assert.strictEqual(yield* b.size, 1)
      assert.isTrue(Option.isSome(yield* b.get("k")))
      const left = yield* Effect.promise(() => raw.exists(`${prefixA}e:k`, `${prefixA}t:t`, `${prefixA}i`))
      assert.strictEqual(left, 0)
    }))

  it.scoped("prefix ranges over keys ending in U+FFFF, astral characters, U+0000 and glob characters", () =>
    Effect.gen(function*() {
      const prefix = yield* freshPrefix()
      const store = yield* RedisStore.make({ url: urls.redis, prefix })
      const keys = ["a", "a\uFFFF", "a\uFFFFz", "a\u{10FFFF}", "a😀", "ab", "a\u0000", "b", "a*", "a?", "a[", "a\\"]
      yield* store.setMany(keys.map((k) => [k, "v"] as const))
      const ks = Chunk.toArray(yield* Stream.runCollect(store.keys("a*")))
      assert.strictEqual(ks.length, keys.filter((k) => k.startsWith("a")).length)
      assert.strictEqual(yield* store.countPattern("a\uFFFF*"), 2)
      assert.strictEqual(yield* store.countPattern("a\\**"), 1)
      assert.strictEqual(yield* store.removePattern("a\u{10FFFF}*"), 1)
      assert.strictEqual(yield* store.removePattern("a**"), keys.length - 2)
      assert.strictEqual(yield* store.size, 1)
    }))
})
