/**
 * FanoutStore: the contract suite, the model-based property test and the namespace suite on 4 SQLite shards in a
 * fresh directory per test (and the contract on a fan-out over 4 MemoryStores, which exercises the merge and the
 * fast paths cheaply); then what only a fan-out has: the pinned shard hash (part of the file format) and hash tags,
 * keys spread over the shards, enumeration merged across shards in byte order at page edges and under skew (and a
 * property test of the page merge against a sorted union), aggregated `size`/`clear`/`expire`/`volume`/`stats`, the
 * shard-count manifest (a reopen with another count fails typed), options, layers, and per-shard transactions through
 * the fan-out: a region's writes roll back, other fibers wait for it only on its shard, and regions on two shards do
 * not wait for each other.
 */
import { assert, describe, it } from "@effect/vitest"
import Database from "better-sqlite3"
import type { KeyValueStoreError } from "effect-kv"
import { FanoutStore, KeyValueStore, MemoryStore, Pattern, SqliteStore } from "effect-kv"
import * as Chunk from "effect/Chunk"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as FastCheck from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as fs from "node:fs"
import * as path from "node:path"
import * as fanout from "../../src/internal/sqlite/fanout.js"
import { locksSuite } from "../contract/locks.js"
import { modelSuite } from "../contract/model.js"
import { namespaceSuite } from "../contract/namespace.js"
import { suite } from "../contract/suite.js"
import { churn, peak, show } from "./fixtures/churn.js"
import { tempDir } from "./fixtures/temp.js"

const SHARDS = 4

const freshFanoutLayer = (options: Omit<FanoutStore.Options, "directory"> = {}) =>
  Layer.unwrapScoped(
    Effect.map(tempDir, (directory) => FanoutStore.layer({ shards: SHARDS, ...options, directory }))
  )

const memoryShards: Effect.Effect<FanoutStore.FanoutStore, unknown, Scope.Scope> = Effect.map(
  Effect.forEach(Array.from({ length: SHARDS }), () => MemoryStore.make()),
  fanout.make
)

suite("FanoutStore", freshFanoutLayer(), FanoutStore.capabilities)
modelSuite("FanoutStore", freshFanoutLayer())
namespaceSuite("FanoutStore", freshFanoutLayer(), FanoutStore.capabilities)
locksSuite("FanoutStore", freshFanoutLayer(), FanoutStore.capabilities)
suite("fan-out over MemoryStore", Layer.scoped(KeyValueStore.KeyValueStore, memoryShards), {
  ...MemoryStore.capabilities,
  transactions: false
})

const collect = <A, E>(stream: Stream.Stream<A, E>) => Effect.map(Stream.runCollect(stream), Chunk.toArray)

const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b))

const text = (bytes: Option.Option<Uint8Array>): string | undefined =>
  Option.getOrUndefined(Option.map(bytes, (b) => Buffer.from(b).toString("utf8")))

/** FNV-1a 32 over a buffer, written from the definition: the reference the pinned hash is checked against. */
const fnvReference = (bytes: Uint8Array): number => {
  let h = 0x811c9dc5
  for (const byte of bytes) h = Number((BigInt(h ^ byte) * 0x01000193n) & 0xffffffffn)
  return h >>> 0
}

const openIn = (directory: string, options: Omit<FanoutStore.Options, "directory"> = {}) =>
  FanoutStore.make({ shards: SHARDS, ...options, directory })

const openFresh = (options: Omit<FanoutStore.Options, "directory"> = {}) =>
  Effect.flatMap(tempDir, (directory) => openIn(directory, options))

/** Runs `f` on a store over `directory` and closes it afterwards. */
const withStore = <A, E>(
  options: FanoutStore.Options,
  f: (store: FanoutStore.FanoutStore) => Effect.Effect<A, E>
) => Effect.scoped(Effect.flatMap(FanoutStore.make(options), f))

/** The first key `<stem><i>` that lives on another shard than `key`. */
const onAnotherShard = (store: FanoutStore.FanoutStore, key: string, stem = "other."): string => {
  for (let i = 0;; i++) if (store.shardOf(`${stem}${i}`) !== store.shardOf(key)) return `${stem}${i}`
}

/** A hash tag whose keys live on shard `shard` of `shards`. */
const tagOnShard = (shard: number, shards: number): string => {
  for (let i = 0;; i++) if (FanoutStore.shardIndex(`t${i}`, shards) === shard) return `t${i}`
}

describe("FanoutStore.shardIndex", () => {
  it("is FNV-1a 32 of the UTF-8 bytes: pinned values (the file format)", () => {
    assert.strictEqual(FanoutStore.shardIndex("", 2 ** 32), 0x811c9dc5)
    assert.strictEqual(FanoutStore.shardIndex("a", 2 ** 32), 0xe40c292c)
    assert.strictEqual(FanoutStore.shardIndex("foobar", 2 ** 32), 0xbf9cf968)
    assert.strictEqual(FanoutStore.shardIndex("user.1", 2 ** 32), 0x654bdaff)
    assert.strictEqual(FanoutStore.shardIndex("grüße 😀", 2 ** 32), 0xfcfe1235)
    const pinned: ReadonlyArray<readonly [string, number, number]> = [
      ["a", 4, 0],
      ["foobar", 0, 0],
      ["user.1", 7, 3],
      ["k.0", 4, 0],
      ["k.1", 7, 3],
      ["k.2", 2, 2],
      ["k.3", 5, 1],
      ["{user1}.name", 1, 1]
    ]
    for (const [key, of8, of4] of pinned) {
      assert.strictEqual(FanoutStore.shardIndex(key, 8), of8, key)
      assert.strictEqual(FanoutStore.shardIndex(key, 4), of4, key)
    }
    assert.strictEqual(FanoutStore.shardIndex("anything", 1), 0)
  })

  it("agrees with FNV-1a 32 over Buffer.from(key) for any string", () => {
    FastCheck.assert(
      FastCheck.property(FastCheck.fullUnicodeString({ maxLength: 40 }), (key) => {
        const tag = fanout.hashTag(key)
        const hashed = tag === undefined ? key : key.slice(tag[0], tag[1])
        assert.strictEqual(FanoutStore.shardIndex(key, 2 ** 32), fnvReference(Buffer.from(hashed, "utf8")), key)
      }),
      { numRuns: 2000 }
    )
    // lone surrogates hash as U+FFFD, as TextEncoder and Buffer write them
    for (const key of ["a\uD800b", "\uDC00", "x\uD83D"]) {
      assert.strictEqual(FanoutStore.shardIndex(key, 2 ** 32), fnvReference(Buffer.from(key, "utf8")), key)
    }
  })

  it("hashes only the first non-empty hash tag, as Redis Cluster does", () => {
    const whole = (key: string) => fnvReference(Buffer.from(key, "utf8"))
    const h = (key: string) => FanoutStore.shardIndex(key, 2 ** 32)
    assert.strictEqual(h("{user1}.a"), h("user1"))
    assert.strictEqual(h("{user1}.b"), h("user1"))
    assert.strictEqual(h("profile.{user1}"), h("user1"))
    assert.strictEqual(h("a{b}{c}"), h("b"))
    assert.strictEqual(h("a}{b}"), h("b"))
    assert.strictEqual(h("{b}}"), h("b"))
    assert.strictEqual(h("{😀}.x"), h("😀"))
    // no tag: an empty first tag, an unclosed brace, a lone closing brace
    for (const key of ["{}x", "{}{user1}", "x{", "x{y", "}x{", "plain"]) assert.strictEqual(h(key), whole(key), key)
    // a range prefix holding a whole tag is on one shard; any other prefix may be on every shard
    assert.strictEqual(fanout.shardOfPrefix("{cart}.", 4), FanoutStore.shardIndex("cart", 4))
    assert.strictEqual(fanout.shardOfPrefix("a.{cart}", 4), FanoutStore.shardIndex("cart", 4))
    for (const prefix of ["", "cart.", "{cart", "{}", "{}{cart}"]) {
      assert.isUndefined(fanout.shardOfPrefix(prefix, 4), prefix)
    }
  })
})

describe("FanoutStore on a directory", () => {
  it.scoped("spreads keys over every shard and keeps each key on its own shard only", () =>
    Effect.gen(function*() {
      const directory = yield* tempDir
      const store = yield* openIn(directory)
      const keys = Array.from({ length: 1000 }, (_, i) => `key.${i}`)
      yield* store.setMany(keys.map((key) => [key, key] as const))
      const sizes = yield* Effect.forEach(store.shards, (shard) => shard.size)
      assert.strictEqual(sizes.length, SHARDS)
      for (const size of sizes) assert.isAbove(size, 150, `shard sizes ${sizes.join(", ")}`)
      assert.strictEqual(sizes.reduce((a, b) => a + b, 0), 1000)
      for (const key of keys.slice(0, 200)) {
        const home = FanoutStore.shardIndex(key, SHARDS)
        assert.strictEqual(store.shardOf(key), store.shards[home])
        for (let i = 0; i < SHARDS; i++) assert.strictEqual(yield* store.shards[i]!.has(key), i === home, key)
      }
      assert.deepStrictEqual(
        fs.readdirSync(directory).filter((name) => name.endsWith(".db") || name.endsWith(".json")).sort(),
        ["fanout.json", "shard-0.db", "shard-1.db", "shard-2.db", "shard-3.db"]
      )
    }))

  it.scoped("a hash-tag pair lands on one shard", () =>
    Effect.gen(function*() {
      const store = yield* openFresh()
      yield* store.set("{user1}.a", "1")
      yield* store.set("{user1}.b", "2")
      const shard = store.shards[FanoutStore.shardIndex("user1", SHARDS)]!
      assert.strictEqual(store.shardOf("{user1}.a"), shard)
      assert.strictEqual(store.shardOf("{user1}.b"), shard)
      assert.strictEqual(text(yield* shard.get("{user1}.a")), "1")
      assert.strictEqual(text(yield* shard.get("{user1}.b")), "2")
      assert.strictEqual(yield* shard.size, 2)
    }))

  it.scoped("keys and entries over 5000 keys with a pattern yield exactly the sorted set", () =>
    Effect.gen(function*() {
      const store = yield* openFresh()
      const fields = ["name", "email", "é", "😀"]
      const all = Array.from({ length: 5000 }, (_, i) => `u.${(i * 7919) % 5000}.${fields[i % fields.length]}`)
      for (let i = 0; i < all.length; i += 1000) {
        yield* store.setMany(all.slice(i, i + 1000).map((key) => [key, key] as const))
      }
      assert.strictEqual(yield* store.size, 5000)
      assert.deepStrictEqual(yield* collect(store.keys()), [...all].sort(byteOrder))
      const names = all.filter((key) => key.endsWith(".name")).sort(byteOrder)
      assert.strictEqual(names.length, 1250)
      assert.deepStrictEqual(yield* collect(store.keys("u.*.name")), names)
      assert.strictEqual(yield* store.countPattern("u.*.name"), 1250)
      const emoji = all.filter((key) => key.endsWith(".😀")).sort(byteOrder)
      const entries = yield* collect(store.entries("u.*.😀"))
      assert.deepStrictEqual(entries.map(([key]) => key), emoji)
      for (const [key, value] of entries) assert.strictEqual(Buffer.from(value).toString(), key)
      assert.deepStrictEqual(
        yield* collect(store.keys("u.1*.**")),
        all.filter((k) => k.startsWith("u.1")).sort(byteOrder)
      )
    }))

  it.scoped("pages across shards with the key and entry page edges (1000 keys, 100 entries) and under skew", () =>
    Effect.gen(function*() {
      const store = yield* openFresh()
      const check = (count: number, keyOf: (i: number) => string) =>
        Effect.gen(function*() {
          yield* store.clear
          const keys = Array.from({ length: count }, (_, i) => keyOf(i))
          yield* store.setMany(keys.map((key) => [key, key] as const))
          const sorted = [...keys].sort(byteOrder)
          assert.deepStrictEqual(yield* collect(store.keys()), sorted, `keys of ${count}`)
          const entries = yield* collect(store.entries())
          assert.deepStrictEqual(entries.map(([key]) => key), sorted, `entries of ${count}`)
          assert.strictEqual(yield* store.countPattern("**"), count)
        })
      const padded = (i: number) => String(i).padStart(5, "0")
      for (const count of [99, 100, 101, 200, 999, 1000, 1001, 2000]) yield* check(count, (i) => `k.${padded(i)}`)
      // Skewed: the first 1000 keys in order all live on one shard, the rest on another, so a whole page comes from
      // one shard (read again several times) and the next page starts on the other exactly at the page edge.
      const a = tagOnShard(0, SHARDS)
      const b = tagOnShard(2, SHARDS)
      yield* check(1500, (i) => `s.${padded(i)}.{${i < 1000 ? a : b}}`)
      yield* check(250, (i) => `s.${padded(i)}.{${i < 100 ? a : b}}`)
      const shardSizes = yield* Effect.forEach(store.shards, (shard) => shard.size)
      assert.deepStrictEqual(shardSizes, [100, 0, 150, 0])
    }))

  it.scoped("a pattern whose prefix holds a hash tag reads, counts and removes on that tag's shard", () =>
    Effect.gen(function*() {
      const store = yield* openFresh()
      const tagged = Array.from({ length: 30 }, (_, i) => `{cart}.item.${i}`)
      const others = Array.from({ length: 30 }, (_, i) => `cart.item.${i}`)
      yield* store.setMany([...tagged, ...others].map((key) => [key, "v"] as const))
      // braces are alternation in patterns: a hash tag is written escaped
      assert.strictEqual(Pattern.compile("\\{cart\\}.**").pipe(Either.getOrThrow).prefix, "{cart}")
      assert.deepStrictEqual(yield* collect(store.keys("\\{cart\\}.**")), [...tagged].sort(byteOrder))
      assert.strictEqual(yield* store.countPattern("\\{cart\\}.item.*"), 30)
      assert.strictEqual(yield* store.removePattern("\\{cart\\}.**"), 30)
      assert.strictEqual(yield* store.size, 30)
      assert.deepStrictEqual(yield* collect(store.keys()), [...others].sort(byteOrder))
    }))

  it.scoped("size, clear, expire, volume and stats add up the shards", () =>
    Effect.gen(function*() {
      const store = yield* openFresh()
      yield* store.setMany(Array.from({ length: 100 }, (_, i) => [`k.${i}`, "v"] as const))
      yield* Effect.forEach(
        Array.from({ length: 12 }, (_, i) => i),
        (i) => store.set(`t.${i}`, "v", { ttl: "1 second" })
      )
      yield* store.set("tagged.1", "v", { tags: ["g"] })
      yield* store.set("tagged.2", "v", { tags: ["g"] })
      assert.strictEqual(yield* store.size, 114)
      const sizes = yield* Effect.forEach(store.shards, (shard) => shard.size)
      assert.strictEqual(sizes.reduce((a, b) => a + b, 0), 114)
      assert.strictEqual(yield* store.removeTag("g"), 2)
      assert.strictEqual(yield* store.get("k.1").pipe(Effect.map(text)), "v")
      assert.isTrue(Option.isNone(yield* store.get("missing")))
      yield* TestClock.adjust("2 seconds")
      assert.strictEqual(yield* store.size, 100)
      assert.strictEqual(yield* store.expire, 12)
      const stats = yield* store.stats
      assert.strictEqual(stats.writes, 114)
      assert.strictEqual(stats.removes, 2)
      assert.strictEqual(stats.hits, 1)
      assert.strictEqual(stats.misses, 1)
      assert.strictEqual(stats.expirations, 12)
      const volumes = yield* Effect.forEach(store.shards, (shard) => shard.volume)
      assert.strictEqual(yield* store.volume, volumes.reduce((a, b) => a + b, 0))
      yield* store.resetStats
      assert.deepStrictEqual(yield* store.stats, {
        hits: 0,
        misses: 0,
        writes: 0,
        removes: 0,
        evictions: 0,
        expirations: 0
      })
      yield* store.clear
      assert.strictEqual(yield* store.size, 0)
      for (const shard of store.shards) assert.strictEqual(yield* shard.size, 0)
    }))

  it.scoped("a stream of short-lived unique keys keeps every shard small", () =>
    Effect.gen(function*() {
      const directory = yield* tempDir
      const store = yield* FanoutStore.make({ directory, shards: 4 })
      const shards = yield* Effect.acquireRelease(
        Effect.sync(() => [0, 1, 2, 3].map((i) => new Database(path.join(directory, `shard-${i}.db`)))),
        (dbs) => Effect.sync(() => dbs.forEach((db) => db.close()))
      )
      const rows = Effect.sync(() =>
        shards.reduce((n, db) => n + (db.prepare("SELECT COUNT(*) FROM effect_kv").pluck().get() as number), 0)
      )
      const series = yield* churn({ store, seconds: 60, perSecond: 500, batched: true, pending: rows })
      assert.isAtMost(peak(series, 5), 2500, `rows held over the shards: ${show(series)}`)
    }))

  it.scoped("limits are split over the shards and evictions add up", () =>
    Effect.gen(function*() {
      const store = yield* openFresh({ maxEntries: 8 })
      for (let i = 0; i < 40; i++) yield* store.set(`k.${i}`, "v")
      const sizes = yield* Effect.forEach(store.shards, (shard) => shard.size)
      for (const size of sizes) assert.isAtMost(size, 2)
      const size = yield* store.size
      assert.isAtMost(size, 8)
      assert.strictEqual((yield* store.stats).evictions, 40 - size)
    }))

  it.scoped("records the shard count: another fails with InvalidArgument, none reopens with the recorded one", () =>
    Effect.gen(function*() {
      const directory = yield* tempDir
      yield* withStore({ directory, shards: 4 }, (store) => store.setMany([["a", "1"], ["b", "2"], ["{x}.c", "3"]]))
      const manifest = JSON.parse(fs.readFileSync(path.join(directory, "fanout.json"), "utf8"))
      assert.deepStrictEqual(manifest, { format: "effect-kv/fanout", version: 1, hash: "fnv1a-32", shards: 4 })
      for (const shards of [8, 3, 1]) {
        const error = yield* Effect.flip(Effect.scoped(FanoutStore.make({ directory, shards })))
        assert.strictEqual(error._tag, "InvalidArgument", `${shards}`)
        if (error._tag === "InvalidArgument") assert.strictEqual(error.argument, "shards")
      }
      assert.deepStrictEqual(
        fs.readdirSync(directory).filter((name) => name.endsWith(".db")).sort(),
        ["shard-0.db", "shard-1.db", "shard-2.db", "shard-3.db"]
      )
      yield* withStore({ directory }, (store) =>
        Effect.gen(function*() {
          assert.strictEqual(store.shards.length, 4)
          assert.strictEqual(text(yield* store.get("{x}.c")), "3")
          assert.strictEqual(yield* store.size, 3)
        }))
      yield* withStore(
        { directory, shards: 4 },
        (store) => Effect.map(store.get("a"), (a) => assert.strictEqual(text(a), "1"))
      )
      // a new store without `shards` gets 8
      const fresh = yield* tempDir
      yield* withStore({ directory: fresh }, (store) => Effect.sync(() => assert.strictEqual(store.shards.length, 8)))
    }))

  it.scoped("a value file altered in place on a shard is StoreCorrupted naming the key, and check reports it", () =>
    Effect.gen(function*() {
      const directory = yield* tempDir
      const store = yield* openIn(directory)
      yield* store.set("big", new Uint8Array(100_000).fill(7))
      yield* store.set("small", "v")
      const [file, ...others] = fs.readdirSync(directory, { recursive: true, encoding: "utf8" })
        .filter((name) => name.endsWith(".value"))
      assert.isDefined(file)
      assert.deepStrictEqual(others, [])
      const fd = fs.openSync(path.join(directory, file!), "r+")
      fs.writeSync(fd, Buffer.from([8]), 0, 1, 50_000)
      fs.closeSync(fd)
      const reads: ReadonlyArray<Effect.Effect<unknown, KeyValueStoreError.KeyValueStoreError>> = [
        store.get("big"),
        store.getEntry("big"),
        store.getMany(["small", "big"]),
        store.pop("big")
      ]
      for (const read of reads) {
        const error = yield* Effect.flip(read)
        assert.strictEqual(error._tag, "StoreCorrupted")
        assert.strictEqual(error.key, "big")
      }
      const error = yield* Effect.flip(collect(store.entries()))
      assert.strictEqual(error._tag, "StoreCorrupted")
      const report = yield* store.check()
      assert.isFalse(report.ok)
      assert.deepStrictEqual(report.danglingRows, ["big"])
      assert.strictEqual(text(yield* store.get("small")), "v")
    }))

  it.scoped("a damaged manifest, or shard files without one, fail with StoreCorrupted", () =>
    Effect.gen(function*() {
      const directory = yield* tempDir
      yield* withStore({ directory, shards: 2 }, (store) => store.set("a", "1"))
      const manifest = path.join(directory, "fanout.json")
      const cases: ReadonlyArray<readonly [string, string | undefined]> = [
        ["not json", "{shards: 2"],
        ["another format", JSON.stringify({ format: "something", version: 1, hash: "fnv1a-32", shards: 2 })],
        ["another version", JSON.stringify({ format: "effect-kv/fanout", version: 2, hash: "fnv1a-32", shards: 2 })],
        ["another hash", JSON.stringify({ format: "effect-kv/fanout", version: 1, hash: "crc32", shards: 2 })],
        ["a bad count", JSON.stringify({ format: "effect-kv/fanout", version: 1, hash: "fnv1a-32", shards: 0 })],
        ["no manifest", undefined]
      ]
      for (const [label, content] of cases) {
        if (content === undefined) fs.rmSync(manifest)
        else fs.writeFileSync(manifest, content)
        const error = yield* Effect.flip(Effect.scoped(FanoutStore.make({ directory, shards: 2 })))
        assert.strictEqual(error._tag, "StoreCorrupted", label)
      }
      assert.isFalse(fs.existsSync(manifest), "a failed open writes no manifest")
    }))

  it.scoped("invalid options fail with InvalidArgument before anything is created", () =>
    Effect.gen(function*() {
      const directory = path.join(yield* tempDir, "sub")
      const cases: ReadonlyArray<readonly [Partial<FanoutStore.Options>, string]> = [
        [{ shards: 0 }, "shards"],
        [{ shards: 1.5 }, "shards"],
        [{ shards: 1025 }, "shards"],
        [{ shards: Number.NaN }, "shards"],
        [{ directory: "" }, "directory"],
        [{ directory: ":memory:" }, "directory"],
        [{ directory: `${directory}\u0000other` }, "directory"],
        [{ maxEntries: 0 }, "maxEntries"],
        [{ maxValueBytes: -1 }, "maxValueBytes"],
        [{ separator: "" }, "separator"],
        [{ table: "kv; DROP TABLE x" }, "table"],
        [{ largeValueThreshold: -1 }, "largeValueThreshold"],
        [{ mmapSize: 0.5 }, "mmapSize"]
      ]
      for (const [options, argument] of cases) {
        const error = yield* Effect.flip(Effect.scoped(FanoutStore.make({ directory, ...options })))
        assert.strictEqual(error._tag, "InvalidArgument", argument)
        if (error._tag === "InvalidArgument") assert.strictEqual(error.argument, argument)
      }
      assert.isFalse(fs.existsSync(directory))
    }))

  it.scoped("a directory that cannot be created fails with BackendError", () =>
    Effect.gen(function*() {
      const file = path.join(yield* tempDir, "plain-file")
      fs.writeFileSync(file, "x")
      const error = yield* Effect.flip(Effect.scoped(FanoutStore.make({ directory: path.join(file, "kv") })))
      assert.strictEqual(error._tag, "BackendError")
    }))

  it.scoped("layerConfig reads its options from Config, and isFanoutStore reaches shardOf through the tag", () =>
    Effect.gen(function*() {
      const directory = yield* tempDir
      const layer = FanoutStore.layerConfig({
        directory: Config.string("KV_DIRECTORY"),
        shards: Config.integer("KV_SHARDS")
      }).pipe(
        Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(
          new Map([["KV_DIRECTORY", directory], ["KV_SHARDS", "3"]])
        )))
      )
      yield* Effect.flatMap(KeyValueStore.KeyValueStore, (store) =>
        Effect.gen(function*() {
          assert.isTrue(FanoutStore.isFanoutStore(store))
          assert.isFalse(FanoutStore.isFanoutStore(yield* Effect.scoped(MemoryStore.make())))
          if (!FanoutStore.isFanoutStore(store)) return
          assert.strictEqual(store.shards.length, 3)
          yield* store.set("k", "v")
          assert.isTrue(yield* store.shardOf("k").has("k"))
        })).pipe(Effect.provide(layer))
      assert.strictEqual(JSON.parse(fs.readFileSync(path.join(directory, "fanout.json"), "utf8")).shards, 3)
    }))
})

describe("page merge", () => {
  it.effect("pages through the sorted union of any split of keys, for any page size", () =>
    Effect.gen(function*() {
      const alphabet = ["a", "b", "é", "😀", "\uFF21", "\u0000", "z"]
      const keyArb = FastCheck.array(FastCheck.constantFrom(...alphabet), { minLength: 1, maxLength: 4 })
        .map((chars) => chars.join(""))
      const caseArb = FastCheck.record({
        keys: FastCheck.uniqueArray(keyArb, { maxLength: 60 }),
        shards: FastCheck.integer({ min: 1, max: 5 }),
        limit: FastCheck.integer({ min: 1, max: 9 }),
        prefix: FastCheck.constantFrom("", "a", "b", "😀"),
        seed: FastCheck.integer({ min: 0, max: 1000 })
      })
      const failures: Array<string> = []
      FastCheck.assert(
        FastCheck.property(caseArb, ({ keys, limit, prefix, seed, shards }) => {
          const owned = Array.from({ length: shards }, (): Array<string> => [])
          keys.forEach((key, i) => owned[(i * 31 + seed) % shards]!.push(key))
          for (const list of owned) list.sort(byteOrder)
          let reads = 0
          const scans = owned.map((list) => (range: KeyValueStore.ScanRange) =>
            Effect.sync(() => {
              const rows = list.filter((key) =>
                key.startsWith(range.prefix) && (range.after === undefined || byteOrder(key, range.after) > 0)
              ).slice(0, range.limit)
              reads += rows.length
              return rows
            })
          )
          const listed: Array<string> = []
          for (let after: string | undefined = undefined;;) {
            const page: ReadonlyArray<string> = Effect.runSync(
              fanout.mergedPage(scans, (key) => key, { prefix, after, limit }, 0)
            )
            listed.push(...page)
            if (page.length < limit) break
            after = page[page.length - 1]
          }
          const expected = keys.filter((key) => key.startsWith(prefix)).sort(byteOrder)
          if (JSON.stringify(listed) !== JSON.stringify(expected)) {
            failures.push(JSON.stringify({ keys, shards, limit, prefix, listed, expected }))
            return false
          }
          return reads >= 0
        }),
        { numRuns: 500 }
      )
      assert.deepStrictEqual(failures, [])
    }))

  it.effect("reads little more than a page when keys are spread evenly", () =>
    Effect.gen(function*() {
      const shards = 8
      const owned = Array.from({ length: shards }, (): Array<string> => [])
      for (let i = 0; i < 20_000; i++) {
        const key = `k.${String(i).padStart(6, "0")}`
        owned[FanoutStore.shardIndex(key, shards)]!.push(key)
      }
      let reads = 0
      const scans = owned.map((list) => (range: KeyValueStore.ScanRange) =>
        Effect.sync(() => {
          const start = range.after === undefined ? 0 : list.findIndex((key) => byteOrder(key, range.after!) > 0)
          const rows = start < 0 ? [] : list.slice(start, start + range.limit)
          reads += rows.length
          return rows
        })
      )
      let after: string | undefined = undefined
      for (let page = 0; page < 10; page++) {
        const rows: ReadonlyArray<string> = yield* fanout.mergedPage(scans, (key) => key, {
          prefix: "",
          after,
          limit: 1000
        }, 0)
        assert.strictEqual(rows.length, 1000)
        after = rows[rows.length - 1]
      }
      assert.strictEqual(after, "k.009999")
      assert.isBelow(reads, 10 * 1000 * 1.5, `${reads} rows read for 10 pages of 1000`)
    }))
})

/** Per-shard transactions through the fan-out, on any fan-out whose shards have transactions. */
const transactionCases = (label: string, open: Effect.Effect<FanoutStore.FanoutStore, unknown, Scope.Scope>) =>
  describe(`${label}: per-shard transactions through the fan-out`, () => {
    it.scoped("the fan-out's own withTransaction fails with Unsupported, a shard's works", () =>
      Effect.gen(function*() {
        const store = yield* open
        assert.isFalse(store.capabilities.transactions)
        const error = yield* Effect.flip(store.withTransaction(store.set("k", "v")))
        assert.strictEqual(error._tag, "Unsupported")
        assert.isFalse(yield* store.has("k"))
        yield* store.shardOf("k").withTransaction(store.set("k", "v"))
        assert.isTrue(yield* store.has("k"))
      }))

    it.scoped("a failed region rolls back the fan-out's writes on its shard, not those on other shards", () =>
      Effect.gen(function*() {
        const store = yield* open
        const key = "{t}.k"
        const other = onAnotherShard(store, key)
        yield* store.set(key, "old")
        const error = yield* Effect.flip(
          store.shardOf(key).withTransaction(Effect.gen(function*() {
            yield* store.set(key, "new")
            yield* store.set("{t}.same", "x")
            yield* store.setMany([["{t}.batch", "x"], [other, "kept"]])
            assert.strictEqual(text(yield* store.get(key)), "new", "the region sees its own write")
            assert.strictEqual(yield* store.increment("{t}.n"), 1n)
            return yield* Effect.fail("boom" as const)
          }))
        )
        assert.strictEqual(error, "boom")
        assert.strictEqual(text(yield* store.get(key)), "old")
        assert.isFalse(yield* store.has("{t}.same"))
        assert.isFalse(yield* store.has("{t}.batch"))
        assert.isFalse(yield* store.has("{t}.n"))
        assert.strictEqual(text(yield* store.get(other)), "kept")
      }))

    for (const commit of [true, false]) {
      it.scoped(
        `another fiber waits for the region on its shard only and then sees the ${
          commit ? "committed" : "rolled back"
        } state`,
        () =>
          Effect.gen(function*() {
            const store = yield* open
            const key = "{t}.k"
            const other = onAnotherShard(store, key)
            yield* store.setMany([[key, "old"], [other, "other"]])
            const entered = yield* Deferred.make<void>()
            const release = yield* Deferred.make<boolean>()
            const region = yield* Effect.fork(
              store.shardOf(key).withTransaction(Effect.gen(function*() {
                yield* store.set(key, "new")
                yield* Deferred.succeed(entered, undefined)
                if (!(yield* Deferred.await(release))) return yield* Effect.fail("rolled back" as const)
              }))
            )
            yield* Deferred.await(entered)
            const reader = yield* Effect.fork(store.getString(key))
            const entry = yield* Effect.fork(store.getEntry(key))
            const writer = yield* Effect.fork(store.set("{t}.outside", "written"))
            const counter = yield* Effect.fork(store.size)
            const lister = yield* Effect.fork(collect(store.keys()))
            // another shard is not held back, fast path or not
            assert.strictEqual(Option.getOrNull(yield* store.getString(other)), "other")
            yield* store.set(other, "changed")
            for (let i = 0; i < 50; i++) yield* Effect.yieldNow()
            const held: ReadonlyArray<Fiber.Fiber<unknown, unknown>> = [reader, entry, writer, counter, lister]
            for (const fiber of held) {
              assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)), "held back while the region is open")
            }
            yield* Deferred.succeed(release, commit)
            yield* Fiber.await(region)
            assert.strictEqual(Option.getOrNull(yield* Fiber.join(reader)), commit ? "new" : "old")
            assert.strictEqual(text(Option.map(yield* Fiber.join(entry), (e) => e.value)), commit ? "new" : "old")
            yield* Fiber.join(writer)
            assert.strictEqual(yield* Fiber.join(counter), 3)
            assert.deepStrictEqual(yield* Fiber.join(lister), [other, key, "{t}.outside"].sort(byteOrder))
            assert.strictEqual(text(yield* store.get("{t}.outside")), "written", "not rolled back with the region")
            assert.strictEqual(text(yield* store.get(other)), "changed")
          })
      )
    }

    it.scopedLive("regions on two shards writing their own keys through the fan-out do not wait for each other", () =>
      Effect.gen(function*() {
        const store = yield* open
        const a = `{${tagOnShard(0, store.shards.length)}}.a`
        const b = `{${tagOnShard(1, store.shards.length)}}.b`
        const inA = yield* Deferred.make<void>()
        const inB = yield* Deferred.make<void>()
        const region = (key: string, mine: Deferred.Deferred<void>, theirs: Deferred.Deferred<void>) =>
          store.shardOf(key).withTransaction(Effect.gen(function*() {
            yield* store.set(key, "1")
            yield* Deferred.succeed(mine, undefined)
            yield* Deferred.await(theirs)
            yield* store.set(key, "2")
            assert.strictEqual(text(yield* store.get(key)), "2")
          }))
        yield* Effect.all([region(a, inA, inB), region(b, inB, inA)], { concurrency: 2 }).pipe(
          Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => "the regions waited for each other" })
        )
        assert.strictEqual(text(yield* store.get(a)), "2")
        assert.strictEqual(text(yield* store.get(b)), "2")
      }))
  })

transactionCases("fan-out over MemoryStore", memoryShards)

describe.runIf(SqliteStore.capabilities.transactions)("with SQLite transactions", () => {
  transactionCases("FanoutStore", openFresh())
})
