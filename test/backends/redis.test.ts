/**
 * RedisStore on the loopback Redis server: the contract suite, the lock contract, the model-based property test and
 * the namespace contract, each test on a fresh key prefix that is removed afterwards; then what only Redis has: the
 * key layout and native `PEXPIRE` backstops (ttl plus grace) under a `TestClock` at epoch 0, entries Redis drops by
 * itself (stale index members tolerated and cleaned up), the sweeper, binary-safe keys in byte order, stores sharing a
 * database under different prefixes, two clients contending on one prefix, damaged hashes (`StoreCorrupted`), keys of
 * the wrong type (`BackendError`), `check` and its repairs, `layerConfig` with a `Redacted` URL, `fromClient`, and option
 * errors.
 */
import { assert, it } from "@effect/vitest"
import type { KeyValueStoreError } from "effect-kv"
import { KeyValueStore, RedisStore } from "effect-kv"
import * as Chunk from "effect/Chunk"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { Cluster } from "ioredis"
import { locksSuite } from "../contract/locks.js"
import { modelSuite } from "../contract/model.js"
import { namespaceSuite } from "../contract/namespace.js"
import { suite } from "../contract/suite.js"
import { churn, peak, show } from "./fixtures/churn.js"
import { entryReaders } from "./fixtures/damaged.js"
import { invalidStoreOptions } from "./fixtures/options.js"
import { freshPrefix, freshRedisLayer, keysUnder, rawClient } from "./fixtures/redis.js"
import { freePort } from "./fixtures/redisServer.js"
import { addressOf, describeServer, urls } from "./fixtures/servers.js"

await describeServer("redis", "RedisStore contract", () => {
  suite("RedisStore", freshRedisLayer(), RedisStore.capabilities)
  locksSuite("RedisStore", freshRedisLayer(), RedisStore.capabilities)
  modelSuite("RedisStore", freshRedisLayer())
  namespaceSuite("RedisStore", freshRedisLayer(), RedisStore.capabilities)
})

const text = (bytes: Option.Option<Uint8Array>): string | undefined =>
  Option.getOrUndefined(Option.map(bytes, (b) => Buffer.from(b).toString("utf8")))

const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b))

const collect = <A, E>(stream: Stream.Stream<A, E>) => Effect.map(Stream.runCollect(stream), Chunk.toArray)

/** A store with a client of its own under `prefix`. */
const open = (prefix: string, options: Omit<RedisStore.Options, "prefix" | "url"> = {}) =>
  RedisStore.make({ ...options, url: urls.redis, prefix })

/** Polls `check` every 20 ms (real time) until it holds, for at most `millis`. */
const eventually = (what: string, check: () => Promise<boolean>, millis = 5000) =>
  Effect.promise(async () => {
    const deadline = Date.now() + millis
    while (!(await check())) {
      if (Date.now() > deadline) assert.fail(`${what}: not within ${millis} ms`)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  })

await describeServer("redis", "RedisStore on a real server", () => {
  it.scoped("writes the documented key layout, with native expiry of the ttl plus the grace", () =>
    Effect.gen(function*() {
      const prefix = yield* freshPrefix()
      const raw = yield* rawClient()
      const store = yield* open(prefix)
      // TestClock starts at epoch 0: the deadline must still be an hour (plus the grace) from the server's now.
      yield* store.set("k", "v", { ttl: "1 hour", tags: ["t"], metadata: { m: 1 } })
      yield* store.set("plain", "p")
      const hash = yield* Effect.promise(() => raw.hgetall(`${prefix}e:k`))
      assert.deepStrictEqual(
        { v: hash.v, x: hash.x, c: hash.c, u: hash.u, t: hash.t, m: hash.m },
        { v: "v", x: "3600000", c: "0", u: "0", t: "[\"t\"]", m: "{\"m\":1}" }
      )
      assert.isString(hash.r)
      const pttl = yield* Effect.promise(() => raw.pttl(`${prefix}e:k`))
      assert.isAtLeast(pttl, 3_600_000 + 60_000 - 10_000)
      assert.isAtMost(pttl, 3_600_000 + 60_000)
      assert.strictEqual(yield* Effect.promise(() => raw.pttl(`${prefix}e:plain`)), -1)
      assert.deepStrictEqual(yield* Effect.promise(() => raw.zrange(`${prefix}i`, 0, -1, "WITHSCORES")), [
        "k",
        "0",
        "plain",
        "0"
      ])
      assert.deepStrictEqual(yield* Effect.promise(() => raw.zrange(`${prefix}x`, 0, -1, "WITHSCORES")), [
        "k",
        "3600000"
      ])
      assert.deepStrictEqual(yield* Effect.promise(() => raw.smembers(`${prefix}t:t`)), ["k"])
      // An overwrite without ttl or tags clears the deadline, the expiry member and the tag member.
      yield* store.set("k", "w")
      assert.strictEqual(yield* Effect.promise(() => raw.pttl(`${prefix}e:k`)), -1)
      assert.strictEqual(yield* Effect.promise(() => raw.zcard(`${prefix}x`)), 0)
      assert.strictEqual(yield* Effect.promise(() => raw.exists(`${prefix}t:t`)), 0)
      // touch moves the deadline too.
      yield* store.touch("k", "2 hours")
      const touched = yield* Effect.promise(() => raw.pttl(`${prefix}e:k`))
      assert.isAtLeast(touched, 7_200_000 + 60_000 - 10_000)
      yield* store.touch("k", undefined)
      assert.strictEqual(yield* Effect.promise(() => raw.pttl(`${prefix}e:k`)), -1)
      // A lock's lease key carries a deadline too; its fence counter none.
      yield* Effect.scoped(store.lock("l", { ttl: "10 seconds" }))
      yield* Effect.scoped(Effect.gen(function*() {
        yield* store.lock("m", { ttl: "10 seconds" })
        const lease = yield* Effect.promise(() => raw.pttl(`${prefix}l:m`))
        assert.isAtLeast(lease, 10_000 + 60_000 - 10_000)
        assert.strictEqual(yield* Effect.promise(() => raw.pttl(`${prefix}f:m`)), -1)
      }))
    }))

  it.scoped("the lean write and batch paths: hashes written as the general scripts lay them out, tags and metadata dropped on overwrite, a key twice in one batch, a damaged expiry in getMany", () =>
    Effect.gen(function*() {
      const prefix = yield* freshPrefix()
      const raw = yield* rawClient()
      const store = yield* open(prefix)
      // Entries as the general write scripts lay them out, written with raw commands: read by getMany, overwritten by
      // the lean paths with their tags, expiry member and metadata gone and createdAt kept.
      yield* Effect.promise(() =>
        raw.multi()
          .hset(`${prefix}e:a`, "v", "A", "c", "5", "u", "5", "r", "old1", "t", "[\"t\"]", "m", "{\"m\":1}")
          .hset(`${prefix}e:b`, "v", "B", "c", "6", "u", "6", "r", "old2", "x", "9999999999999")
          .zadd(`${prefix}i`, 0, "a", 0, "b")
          .zadd(`${prefix}x`, 9999999999999, "b")
          .sadd(`${prefix}t:t`, "a")
          .exec()
      )
      assert.deepStrictEqual(
        (yield* store.getMany(["a", "b", "none"])).map(text),
        ["A", "B", undefined]
      )
      yield* store.set("a", "A2")
      yield* store.setMany([["b", "B1"], ["n", "N1", { ttl: "1 hour" }], ["b", "B2"], ["n", "N1"]])
      assert.deepStrictEqual((yield* store.getMany(["a", "b", "n"])).map(text), ["A2", "B2", "N1"])
      const a = Option.getOrThrow(yield* store.getEntry("a"))
      assert.deepStrictEqual([a.tags, Option.getOrUndefined(a.metadata), a.createdAt], [[], undefined, 5])
      // The second write of n sees the first (its expiry goes), not the state before the batch.
      assert.isTrue(Option.isNone(Option.getOrThrow(yield* store.getEntry("n")).expiresAt))
      const b = Option.getOrThrow(yield* store.getEntry("b"))
      assert.deepStrictEqual([Option.getOrUndefined(b.expiresAt), b.createdAt], [undefined, 6])
      assert.strictEqual(yield* Effect.promise(() => raw.exists(`${prefix}t:t`)), 0)
      assert.strictEqual(yield* Effect.promise(() => raw.zcard(`${prefix}x`)), 0)
      assert.strictEqual(yield* Effect.promise(() => raw.pttl(`${prefix}e:b`)), -1)
      assert.deepStrictEqual(yield* Effect.promise(() => raw.zrange(`${prefix}i`, 0, -1)), ["a", "b", "n"])
      // Each write of a batch gets a revision of its own.
      const revisions = yield* Effect.promise(() =>
        Promise.all(["b", "n"].map((k) => raw.hget(`${prefix}e:${k}`, "r")))
      )
      assert.strictEqual(new Set(revisions).size, 2)
      yield* Effect.promise(() => raw.hset(`${prefix}e:n`, "x", "soon"))
      const error = yield* Effect.flip(store.getMany(["a", "n"]))
      assert.strictEqual(error._tag, "StoreCorrupted")
      if (error._tag === "StoreCorrupted") assert.strictEqual(error.key, "n")
    }))

  it.live("Redis drops an expired entry by itself; reads, size and keys stay right with its stale index members", () =>
    Effect.scoped(Effect.gen(function*() {
      const prefix = yield* freshPrefix()
      const raw = yield* rawClient()
      const store = yield* open(prefix, { nativeExpiryGrace: 0, sweepInterval: "1 hour" })
      yield* store.set("gone", "x", { ttl: "300 millis", tags: ["t"] })
      yield* store.set("keep", "y", { tags: ["t"] })
      yield* eventually("Redis expired the hash", async () => (await raw.exists(`${prefix}e:gone`)) === 0)
      // The sweeper did not run: the index, expiry and tag members are still there.
      assert.strictEqual(yield* Effect.promise(() => raw.zscore(`${prefix}i`, "gone")), "0")
      assert.isNotNull(yield* Effect.promise(() => raw.zscore(`${prefix}x`, "gone")))
      assert.strictEqual(yield* Effect.promise(() => raw.sismember(`${prefix}t:t`, "gone")), 1)
      assert.isUndefined(text(yield* store.get("gone")))
      assert.isFalse(yield* store.has("gone"))
      assert.isTrue(Option.isNone(yield* store.getEntry("gone")))
      assert.isTrue(Option.isNone(yield* store.ttl("gone")))
      assert.deepStrictEqual((yield* store.getMany(["gone", "keep"])).map(text), [undefined, "y"])
      assert.strictEqual(yield* store.size, 1)
      assert.deepStrictEqual(yield* collect(store.keys()), ["keep"])
      assert.deepStrictEqual((yield* collect(store.entries())).map(([key]) => key), ["keep"])
      assert.strictEqual(yield* store.countPattern("g*"), 0)
      assert.isFalse(yield* store.remove("gone"))
      assert.strictEqual(yield* store.removeTag("t"), 1, "only the live entry counts")
      assert.deepStrictEqual(yield* Effect.promise(() => raw.keys(`${prefix}*`)), [])
      // A second natively expired entry is cleaned up by expire without being counted.
      yield* store.set("again", "z", { ttl: "300 millis" })
      yield* eventually("Redis expired the hash", async () => (await raw.exists(`${prefix}e:again`)) === 0)
      assert.strictEqual(yield* store.expire, 0)
      assert.strictEqual(yield* Effect.promise(() => raw.exists(`${prefix}i`, `${prefix}x`)), 0)
      // add and increment see the key as absent.
      yield* store.set("n", "5", { ttl: "300 millis" })
      yield* eventually("Redis expired the hash", async () => (await raw.exists(`${prefix}e:n`)) === 0)
      assert.strictEqual(yield* store.increment("n"), 1n)
      assert.isTrue(yield* store.add("gone", "back"))
      assert.strictEqual(yield* store.size, 2)
    })))

  it.live("the sweeper removes the tag-set members of entries Redis dropped by itself", () =>
    Effect.scoped(Effect.gen(function*() {
      const prefix = yield* freshPrefix()
      const raw = yield* rawClient()
      const store = yield* open(prefix, { nativeExpiryGrace: 0, sweepInterval: "1 hour" })
      yield* store.setMany(Array.from({ length: 50 }, (_, i) => [`gone.${i}`, "x", { ttl: "100 millis", tags: ["t"] }]))
      yield* store.set("keep", "y", { tags: ["t"] })
      yield* eventually("Redis expired the hashes", async () => (await keysUnder(raw, `${prefix}e:gone`)).length === 0)
      assert.strictEqual(yield* Effect.promise(() => raw.scard(`${prefix}t:t`)), 51, "the tags went with the hashes")
      // sweepBatch expiring writes wake the sweeper: it meets the dropped entries, then walks the tag sets.
      yield* store.setMany(Array.from({ length: 1000 }, (_, i) => [`later.${i}`, "z", { ttl: "1 hour" }]))
      yield* eventually("the walk over the tag sets", async () => (await raw.scard(`${prefix}t:t`)) === 1)
      assert.deepStrictEqual(yield* Effect.promise(() => raw.smembers(`${prefix}t:t`)), ["keep"])
      assert.strictEqual(yield* Effect.promise(() => raw.zcard(`${prefix}x`)), 1000)
      assert.strictEqual(yield* store.removeTag("t"), 1)
      assert.isTrue((yield* store.check()).ok)
    })))

  it.scoped("one sweep removes every expired entry with its index, expiry and tag members, in slices of sweepBatch", () =>
    Effect.gen(function*() {
      const prefix = yield* freshPrefix()
      const raw = yield* rawClient()
      const store = yield* open(prefix, { sweepInterval: "1 minute", sweepBatch: 2 })
      yield* store.setMany([
        ["a", "1", { ttl: "1 second", tags: ["t"] }],
        ["b", "2", { ttl: "1 second" }],
        ["c", "3", { ttl: "1 second" }],
        ["d", "4"]
      ])
      // More than sweepBatch expiring writes: the sweeper comes a second after its last sweep (at open), not a
      // minute, and removes all three in two slices.
      yield* TestClock.adjust("2 seconds")
      yield* eventually("the sweep", async () => (await raw.zcard(`${prefix}x`)) === 0)
      assert.deepStrictEqual(yield* Effect.promise(() => raw.zrange(`${prefix}i`, 0, -1)), ["d"])
      assert.strictEqual(yield* Effect.promise(() => raw.exists(`${prefix}t:t`, `${prefix}e:a`)), 0)
      assert.strictEqual((yield* store.stats).expirations, 3)
    }))

  it.scoped("a stream of short-lived unique keys keeps the index, the expiry set and the tag sets small", () =>
    Effect.gen(function*() {
      const prefix = yield* freshPrefix()
      const raw = yield* rawClient()
      const store = yield* open(prefix)
      const members = Effect.promise(async () =>
        Math.max(
          await raw.zcard(`${prefix}i`),
          await raw.zcard(`${prefix}x`),
          await raw.scard(`${prefix}t:t`),
          (await keysUnder(raw, `${prefix}e:`)).length
        )
      )
      const series = yield* churn({ store, seconds: 40, perSecond: 500, batched: true, tags: ["t"], pending: members })
      assert.isAtMost(peak(series, 5), 2500, `entries or members held: ${show(series)}`)
      yield* TestClock.adjust("1 minute")
      yield* eventually("the last sweep", async () => (await keysUnder(raw, prefix)).length === 0)
    }))

  it.scoped("keys with U+0000, astral characters and 1024 bytes round trip and come in byte order", () =>
    Effect.gen(function*() {
      const prefix = yield* freshPrefix()
      const raw = yield* rawClient()
      const store = yield* open(prefix)
      const keys = [
        "a\u0000b",
        "a\u0000",
        "a",
        "😀".repeat(256),
        "é".repeat(512),
        "\u{10FFFF}",
        "z\u0001",
        "\uFFFF",
        "k*[?]\\"
      ]
      yield* store.setMany(keys.map((key, i) => [key, `v${i}`] as const))
      for (const [i, key] of keys.entries()) assert.strictEqual(text(yield* store.get(key)), `v${i}`, key)
      assert.deepStrictEqual(yield* collect(store.keys()), [...keys].sort(byteOrder))
      assert.deepStrictEqual(yield* collect(store.keys("a*")), ["a", "a\u0000", "a\u0000b"])
      const stored = yield* Effect.promise(() => raw.exists(Buffer.from(`${prefix}e:a\u0000b`)))
      assert.strictEqual(stored, 1, "the key is stored as its UTF-8 bytes, U+0000 included")
      const counter = "€".repeat(341) + "a"
      assert.strictEqual(yield* store.increment(counter), 1n, "a read-modify-write on a 1024-byte key")
      assert.strictEqual(yield* store.removeMany(keys), keys.length)
      assert.deepStrictEqual(yield* collect(store.keys()), [counter])
    }))

  it.scoped("stores under different prefixes share a database without seeing each other", () =>
    Effect.gen(function*() {
      const prefixA = yield* freshPrefix("a")
      const prefixB = yield* freshPrefix("b")
      const raw = yield* rawClient()
      const a = yield* open(prefixA)
      const b = yield* open(prefixB)
      yield* a.setMany([["k", "in a", { tags: ["t"] }], ["only-a", "1"]])
      yield* b.setMany([["k", "in b", { tags: ["t"] }]])
      // Keys of somebody else under and beside the prefix.
      yield* Effect.promise(() => raw.set(`${prefixA}foreign`, "f"))
      yield* Effect.promise(() => raw.set(`${prefixA}ex`, "f"))
      yield* Effect.promise(() => raw.set(`${prefixA}i-not-the-index`, "f"))
      assert.strictEqual(text(yield* a.get("k")), "in a")
      assert.strictEqual(text(yield* b.get("k")), "in b")
      assert.strictEqual(yield* a.size, 2)
      assert.strictEqual(yield* b.size, 1)
      assert.deepStrictEqual(yield* collect(b.keys()), ["k"])
      yield* Effect.scoped(a.lock("l", { ttl: "10 seconds" }))
      assert.strictEqual(yield* b.removeTag("t"), 1)
      assert.strictEqual(text(yield* a.get("k")), "in a")
      yield* b.set("k", "in b again")
      yield* a.clear
      assert.strictEqual(yield* a.size, 0)
      assert.strictEqual(text(yield* b.get("k")), "in b again")
      assert.strictEqual(yield* b.size, 1)
      const left = (yield* Effect.promise(() => keysUnder(raw, prefixA))).sort()
      assert.deepStrictEqual(left, [`${prefixA}ex`, `${prefixA}f:l`, `${prefixA}foreign`, `${prefixA}i-not-the-index`])
      const second = yield* Effect.scoped(a.lock("l", { ttl: "10 seconds" }))
      assert.strictEqual(second.fencingToken, 2n, "the fence counter survives clear")
    }))

  it.scoped("two clients on one prefix: add wins once, increments and CAS loops lose no update", () =>
    Effect.gen(function*() {
      const prefix = yield* freshPrefix()
      const one = yield* open(prefix)
      const two = yield* open(prefix)
      const stores = [one, two]
      const wins = yield* Effect.forEach(
        Array.from({ length: 40 }, (_, i) => i),
        (i) => stores[i % 2]!.add("once", `${i}`),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(wins.filter((won) => won).length, 1)
      yield* Effect.forEach(Array.from({ length: 200 }, (_, i) => i), (i) => stores[i % 2]!.increment("n"), {
        concurrency: "unbounded",
        discard: true
      })
      assert.strictEqual(text(yield* one.get("n")), "200")
      // Each worker adds 1 ten times with a compareAndSwap loop; no update may be lost.
      const casAdd = (store: KeyValueStore.Service) =>
        Effect.gen(function*() {
          for (;;) {
            const current = yield* store.get("c")
            const next = String(Number(text(current) ?? "0") + 1)
            if (yield* store.compareAndSwap("c", current, Option.some(next))) return
          }
        })
      yield* Effect.forEach(Array.from({ length: 20 }, (_, i) => i), (i) => Effect.repeatN(casAdd(stores[i % 2]!), 9), {
        concurrency: "unbounded",
        discard: true
      })
      assert.strictEqual(text(yield* two.get("c")), "200")
      const appended = yield* Effect.forEach(
        Array.from({ length: 50 }, (_, i) => i),
        (i) => stores[i % 2]!.append("log", "x"),
        {
          concurrency: "unbounded"
        }
      )
      assert.deepStrictEqual([...appended].sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i + 1))
    }))

  it.scoped("a damaged hash fails reads and read-modify-writes with StoreCorrupted, and set repairs it", () =>
    Effect.gen(function*() {
      const prefix = yield* freshPrefix()
      const raw = yield* rawClient()
      const store = yield* open(prefix)
      const damages = [
        ["t", "[bad", "t (tags)"],
        ["t", "{}", "t (tags)"],
        ["m", "{bad", "m (metadata)"],
        ["m", "[1]", "m (metadata)"],
        ["x", "soon", "x (expiresAt)"],
        ["c", "", "c (createdAt)"]
      ] as const
      for (const [field, damage, name] of damages) {
        yield* store.set("k", "1", { tags: ["t"], metadata: { ok: true } })
        yield* Effect.promise(() => raw.hset(`${prefix}e:k`, field, damage))
        const operations: ReadonlyArray<
          readonly [string, Effect.Effect<unknown, KeyValueStoreError.KeyValueStoreError>]
        > = [
          ...entryReaders(store),
          ...(field === "x" ? [["get", store.get("k")], ["has", store.has("k")], ["ttl", store.ttl("k")]] as const : [])
        ]
        for (const [method, operation] of operations) {
          const label = `${method} with ${field} = ${JSON.stringify(damage)}`
          const error = yield* Effect.flip(operation)
          assert.strictEqual(error._tag, "StoreCorrupted", label)
          if (error._tag === "StoreCorrupted") {
            assert.strictEqual(error.backend, "redis")
            assert.strictEqual(error.key, "k")
            assert.include(error.reason, `field ${name}`, label)
            assert.include(error.reason, "\"k\"", label)
          }
        }
        assert.strictEqual(yield* Effect.promise(() => raw.hget(`${prefix}e:k`, field)), damage, "nothing written")
        yield* store.set("k", "1")
        assert.isTrue(Option.isSome(yield* store.getEntry("k")), "an overwrite repairs the entry")
        assert.strictEqual(yield* store.removeTag("t"), 0)
      }
    }))

  it.scoped("check finds structure damaged behind the store's back, and fix repairs all but damaged fields", () =>
    Effect.gen(function*() {
      const prefix = yield* freshPrefix()
      const raw = yield* rawClient()
      const store = yield* open(prefix)
      yield* store.setMany([
        ["drifted", "1", { ttl: "1 hour" }],
        ["tagged", "2", { tags: ["a"] }],
        ["unindexed", "3"],
        ["plain", "4"],
        ["damaged", "5", { tags: ["b"] }]
      ])
      assert.isTrue((yield* store.check()).ok)
      yield* Effect.promise(async () => {
        await raw.zadd(`${prefix}i`, 0, "ghost")
        await raw.zadd(`${prefix}x`, 5, "drifted")
        await raw.srem(`${prefix}t:a`, "tagged")
        await raw.zrem(`${prefix}i`, "unindexed")
        await raw.sadd(`${prefix}t:a`, "plain", "left-over")
        await raw.hset(`${prefix}e:damaged`, "t", "[bad")
      })
      const found = yield* store.check()
      assert.isFalse(found.ok)
      assert.deepStrictEqual(found.danglingRows, ["damaged", "drifted", "ghost", "plain", "tagged", "unindexed"])
      assert.deepStrictEqual([...found.engine].sort(), [
        "\"damaged\": damaged t",
        "\"drifted\": drift",
        "\"ghost\": orphan",
        "\"plain\": stale tag",
        "\"tagged\": untagged",
        "\"unindexed\": unindexed"
      ])
      assert.deepStrictEqual(found.fixed, [])
      assert.deepStrictEqual(
        yield* collect(store.keys()),
        ["damaged", "drifted", "ghost", "plain", "tagged"].filter(
          (key) => key !== "ghost"
        ),
        "before the fix, the unindexed entry is missing from keys"
      )
      // keys() already dropped the ghost's index member on its way (lazy cleanup): five repairs are left.
      const fixed = yield* store.check({ fix: true })
      assert.strictEqual(fixed.fixed.length, 5, fixed.fixed.join("; "))
      assert.isFalse(fixed.danglingRows.includes("ghost"))
      const after = yield* store.check()
      assert.deepStrictEqual(after.danglingRows, ["damaged"], "a damaged field is reported, never rewritten")
      assert.deepStrictEqual(yield* collect(store.keys()), ["damaged", "drifted", "plain", "tagged", "unindexed"])
      assert.deepStrictEqual(yield* Effect.promise(() => raw.zscore(`${prefix}x`, "drifted")), "3600000")
      assert.deepStrictEqual((yield* Effect.promise(() => raw.smembers(`${prefix}t:a`))).sort(), ["tagged"])
      assert.strictEqual(yield* store.removeTag("a"), 1)
    }))

  it.scoped("check is linear in an entry's tags: 30,000 tags written behind the store's back, checked in seconds", () =>
    Effect.gen(function*() {
      const prefix = yield* freshPrefix()
      const raw = yield* rawClient()
      const store = yield* open(prefix)
      yield* store.set("many", "v", { tags: ["t0"] })
      // More than a store writes (KeyValueStore.limits.maxTags), as an older version or another client may have.
      const tags = Array.from({ length: 30_000 }, (_, i) => `t${i}`)
      yield* Effect.promise(async () => {
        await raw.hset(`${prefix}e:many`, "t", JSON.stringify(tags))
        for (let i = 0; i < tags.length; i += 1000) {
          const pipeline = raw.pipeline()
          for (const tag of tags.slice(i, i + 1000)) pipeline.sadd(`${prefix}t:${tag}`, "many")
          await pipeline.exec()
        }
        await raw.sadd(`${prefix}t:stale`, "many")
        await raw.sadd(`${prefix}t:t5`, "gone")
      })
      const started = performance.now()
      const report = yield* store.check()
      const seconds = (performance.now() - started) / 1000
      assert.deepStrictEqual(report.engine, ["\"many\": stale tag"])
      // Quadratic, this took 63 s for 10,000 tags, and about 14 s on this project's machines.
      assert.isBelow(seconds, 20, `check took ${seconds.toFixed(1)} s`)
      const fixed = yield* store.check({ fix: true })
      assert.strictEqual(fixed.fixed.length, 2, "the stale member and the left-over one")
      assert.deepStrictEqual((yield* store.check()).engine, ["ok"])
      assert.strictEqual(yield* store.removeTag("t29999"), 1)
    }))

  it.scoped("a key of the wrong type under the prefix fails with BackendError, never a miss or a defect", () =>
    Effect.gen(function*() {
      const prefix = yield* freshPrefix()
      const raw = yield* rawClient()
      const store = yield* open(prefix)
      yield* Effect.promise(() => raw.set(`${prefix}e:k`, "a plain string"))
      const operations: ReadonlyArray<
        readonly [string, Effect.Effect<unknown, KeyValueStoreError.KeyValueStoreError>]
      > = [
        ["get", store.get("k")],
        ["getEntry", store.getEntry("k")],
        ["has", store.has("k")],
        ["set", store.set("k", "v")],
        ["remove", store.remove("k")],
        ["increment", store.increment("k")],
        ["getMany", store.getMany(["a", "k"])],
        ["setMany", store.setMany([["a", "1"], ["k", "2"]])]
      ]
      for (const [method, operation] of operations) {
        const error = yield* Effect.flip(operation)
        assert.strictEqual(error._tag, "BackendError", method)
        if (error._tag === "BackendError") {
          assert.strictEqual(error.backend, "redis")
          assert.strictEqual(error.method, method)
          assert.include(String((error.cause as Error).message), "WRONGTYPE", method)
        }
      }
      assert.isTrue(Option.isNone(yield* store.get("a")), "the failed batch wrote nothing")
      yield* Effect.promise(() => raw.del(`${prefix}e:k`))
      yield* Effect.promise(() => raw.set(`${prefix}i`, "not a sorted set"))
      const error = yield* Effect.flip(store.set("b", "v"))
      assert.strictEqual(error._tag, "BackendError")
      assert.strictEqual((yield* Effect.flip(Stream.runCollect(store.keys())))._tag, "BackendError")
    }))

  it.scoped("layerConfig reads a Redacted URL and the prefix from Config", () =>
    Effect.gen(function*() {
      const prefix = yield* freshPrefix()
      const raw = yield* rawClient()
      const config = RedisStore.layerConfig({ url: Config.redacted("REDIS_URL"), prefix: Config.string("KV_PREFIX") })
      const provider = ConfigProvider.fromMap(new Map([["REDIS_URL", urls.redis], ["KV_PREFIX", prefix]]))
      yield* Effect.gen(function*() {
        const store = yield* KeyValueStore.KeyValueStore
        assert.strictEqual(store.backend, "redis")
        yield* store.set("k", "v")
      }).pipe(Effect.provide(config.pipe(Layer.provide(Layer.setConfigProvider(provider)))))
      assert.strictEqual(yield* Effect.promise(() => raw.hget(`${prefix}e:k`, "v")), "v")
      const missing = yield* Effect.flip(
        Effect.scoped(
          Layer.build(config.pipe(Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map())))))
        )
      )
      assert.isTrue(ConfigError.isConfigError(missing), String(missing))
    }))

  it.scoped("fields given beside the URL override it", () =>
    Effect.gen(function*() {
      const prefix = yield* freshPrefix()
      const raw = yield* rawClient()
      const { host, port } = addressOf("redis")
      const wrong = yield* Effect.promise(() => freePort())
      const store = yield* RedisStore.make({ url: `redis://${host}:${wrong}/3`, port, db: 0, prefix })
      yield* store.set("k", "v")
      assert.strictEqual(yield* Effect.promise(() => raw.hget(`${prefix}e:k`, "v")), "v", "written to db 0")
      const bad = yield* Effect.flip(Effect.scoped(RedisStore.make({ url: "not a url://", prefix })))
      assert.strictEqual(bad._tag, "InvalidArgument")
      if (bad._tag === "InvalidArgument") assert.strictEqual(bad.argument, "url")
    }))

  it.scoped("fromClient uses the application's client and leaves it open", () =>
    Effect.gen(function*() {
      const prefix = yield* freshPrefix()
      const client = yield* rawClient()
      yield* Effect.scoped(Effect.gen(function*() {
        const store = yield* RedisStore.fromClient(client, { prefix })
        yield* store.set("k", "v")
        assert.strictEqual(text(yield* store.get("k")), "v")
      }))
      assert.strictEqual(client.status, "ready")
      assert.strictEqual(yield* Effect.promise(() => client.ping()), "PONG")
      assert.strictEqual(yield* Effect.promise(() => client.hget(`${prefix}e:k`, "v")), "v")
    }))

  it.scoped("options out of range and a Cluster prefix without hash tag fail with InvalidArgument", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [RedisStore.Options, string]> = [
        ...invalidStoreOptions,
        [{ prefix: "" }, "prefix"],
        [{ prefix: "a\uD800" }, "prefix"],
        [{ commandTimeout: 0 }, "commandTimeout"],
        [{ commandTimeout: Duration.infinity }, "commandTimeout"],
        [{ connectTimeout: -1 }, "connectTimeout"],
        [{ nativeExpiryGrace: -1 }, "nativeExpiryGrace"],
        [{ sweepBatch: 0 }, "sweepBatch"],
        [{ port: 70000 }, "port"],
        [{ db: -1 }, "db"]
      ]
      for (const [options, argument] of cases) {
        const error = yield* Effect.flip(Effect.scoped(RedisStore.make({ url: urls.redis, ...options })))
        assert.strictEqual(error._tag, "InvalidArgument", argument)
        if (error._tag === "InvalidArgument") assert.strictEqual(error.argument, argument)
      }
      const cluster = new Cluster([{ host: "127.0.0.1", port: 1 }], { lazyConnect: true })
      const refused = yield* Effect.flip(Effect.scoped(RedisStore.fromClient(cluster, { prefix: "kv:" })))
      assert.strictEqual(refused._tag, "InvalidArgument")
      assert.strictEqual(cluster.status, "wait", "the cluster was not touched")
      cluster.disconnect()
    }))
})
