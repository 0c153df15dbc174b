/**
 * The RateLimiter bridge (`@effect/experimental`'s `RateLimiterStore` on our stores) on MemoryStore, SqliteStore,
 * RedisStore and PostgresStore: experimental's own RateLimiter tests (fixed window and token bucket, delay and fail,
 * under `TestClock`) written again against our store; a differential run comparing every answer of our store with
 * experimental's `layerStoreMemory` over a seeded random sequence of takes and clock moves; the entries' ttls (a
 * window's entry goes with the window, a bucket's once it is full again); concurrent callers taking exactly the
 * allowed number of tokens (and, in delay mode, exactly the delays one caller after another would get), on one store
 * and on two stores over one SQLite file; store failures as `RateLimitStoreError`.
 */
import * as RateLimiterX from "@effect/experimental/RateLimiter"
import { assert, describe, it } from "@effect/vitest"
import { KeyValueStore, MemoryStore, RateLimiter, ReadOnly, SqliteStore } from "effect-kv"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as path from "node:path"
import { freshRedisLayer } from "../backends/fixtures/redis.js"
import { describeServer } from "../backends/fixtures/servers.js"
import { freshLayer } from "../backends/fixtures/sql-servers.js"
import { freshSqliteLayer, tempDir } from "../backends/fixtures/temp.js"
import * as Workers from "../backends/fixtures/workers.js"

type StoreLayer = () => Layer.Layer<KeyValueStore.KeyValueStore, unknown>

const LimiterAndStore = (storeLayer: StoreLayer) => RateLimiter.layer().pipe(Layer.provideMerge(storeLayer()))

const limiterOn = (storeLayer: StoreLayer) => RateLimiterX.layer.pipe(Layer.provideMerge(LimiterAndStore(storeLayer)))

/** A seeded pseudo-random generator (mulberry32), so that a failing sequence can be replayed. */
const random = (seed: number) => () => {
  seed = (seed + 0x6D2B79F5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const cases = (name: string, storeLayer: StoreLayer) =>
  describe(name, () => {
    // experimental's RateLimiter tests.
    it.effect("fixed window, onExceeded delay", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiterX.RateLimiter
        const consume = limiter.consume({
          algorithm: "fixed-window",
          onExceeded: "delay",
          window: "1 minute",
          limit: 5,
          tokens: 1,
          key: "a"
        })
        yield* Effect.repeatN(consume, 3) // 1 + 3
        let result = yield* consume // 5
        assert.deepStrictEqual(result.delay, Duration.zero)
        result = yield* consume // 6
        assert.deepStrictEqual(result.delay, Duration.minutes(1))
        yield* Effect.repeatN(consume, 2) // 7, 8, 9
        result = yield* consume // 10
        assert.deepStrictEqual(result.delay, Duration.minutes(1))
        result = yield* consume // 11
        assert.deepStrictEqual(result.delay, Duration.minutes(2))
        yield* TestClock.adjust(Duration.seconds(30))
        result = yield* consume // 12
        assert.deepStrictEqual(result.delay, Duration.seconds(90))
        yield* TestClock.adjust(Duration.seconds(45))
        result = yield* consume // 13
        assert.deepStrictEqual(result.delay, Duration.seconds(45))
      }).pipe(Effect.provide(limiterOn(storeLayer))))

    it.effect("fixed window, onExceeded fail", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiterX.RateLimiter
        const consume = limiter.consume({
          algorithm: "fixed-window",
          onExceeded: "fail",
          window: "1 minute",
          limit: 5,
          tokens: 1,
          key: "a"
        })
        yield* Effect.repeatN(consume, 3)
        let result = yield* consume
        assert.deepStrictEqual(result.delay, Duration.zero)
        assert.strictEqual(result.remaining, 0)
        let error = yield* Effect.flip(consume)
        assert.strictEqual(error.reason, "Exceeded")
        assert(error.reason === "Exceeded")
        assert.deepStrictEqual(error.retryAfter, Duration.minutes(1))
        assert.strictEqual(error.remaining, 0)
        yield* TestClock.adjust(Duration.seconds(30))
        error = yield* Effect.flip(consume)
        assert(error.reason === "Exceeded")
        assert.deepStrictEqual(error.retryAfter, Duration.seconds(30))
        yield* TestClock.adjust(Duration.seconds(30))
        result = yield* consume
        assert.deepStrictEqual(result.delay, Duration.zero)
        assert.strictEqual(result.remaining, 4)
      }).pipe(Effect.provide(limiterOn(storeLayer))))

    it.effect("token bucket, onExceeded delay", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiterX.RateLimiter
        const consume = limiter.consume({
          algorithm: "token-bucket",
          onExceeded: "delay",
          window: "1 minute",
          limit: 5,
          tokens: 1,
          key: "a"
        })
        const refillRate = Duration.unsafeDivide(Duration.minutes(1), 5)
        yield* Effect.repeatN(consume, 3) // 1 + 3
        let result = yield* consume // 5
        assert.deepStrictEqual(result.delay, Duration.zero)
        result = yield* consume // 6
        assert.deepStrictEqual(result.delay, refillRate)
        result = yield* consume // 7
        assert.deepStrictEqual(result.delay, Duration.times(refillRate, 2))
        yield* TestClock.adjust(Duration.minutes(1)) // 2
        result = yield* consume // 3
        assert.deepStrictEqual(result.delay, Duration.zero)
        assert.strictEqual(result.remaining, 2)
      }).pipe(Effect.provide(limiterOn(storeLayer))))

    it.effect("token bucket, onExceeded fail", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiterX.RateLimiter
        const consume = limiter.consume({
          algorithm: "token-bucket",
          onExceeded: "fail",
          window: "1 minute",
          limit: 5,
          tokens: 1,
          key: "a"
        })
        const refillRate = Duration.unsafeDivide(Duration.minutes(1), 5)
        yield* Effect.repeatN(consume, 3)
        let result = yield* consume
        assert.deepStrictEqual(result.delay, Duration.zero)
        const error = yield* Effect.flip(consume)
        assert(error.reason === "Exceeded")
        assert.deepStrictEqual(error.retryAfter, Duration.seconds(12))
        assert.strictEqual(error.remaining, 0)
        yield* TestClock.adjust(Duration.times(refillRate, 3))
        result = yield* consume
        assert.deepStrictEqual(result.delay, Duration.zero)
        assert.strictEqual(result.remaining, 2)
      }).pipe(Effect.provide(limiterOn(storeLayer))))

    it.effect("answers as experimental's memory store does, take after take (seeded random sequence)", () =>
      Effect.gen(function*() {
        const ours = yield* RateLimiterX.RateLimiterStore
        const model = Context.get(yield* Layer.build(RateLimiterX.layerStoreMemory), RateLimiterX.RateLimiterStore)
        const next = random(13)
        // A limit of 7 per minute: a refill interval of 8571.428... ms, fractions included.
        const limit = 7
        const refillRate = Duration.unsafeDivide(Duration.minutes(1), limit)
        const refillMillis = Duration.toMillis(refillRate)
        const log: Array<string> = []
        for (let step = 0; step < 150; step++) {
          const tokens = 1 + Math.floor(next() * 3)
          const window = {
            key: `w${Math.floor(next() * 2)}`,
            tokens,
            refillRate,
            limit: next() < 0.8 ? limit : undefined
          }
          const bucket = { key: "b", tokens, limit, refillRate, allowOverflow: next() < 0.3 }
          const [a, b] = [yield* ours.fixedWindow(window), yield* model.fixedWindow(window)]
          log.push(`${step} window ${JSON.stringify(window.limit)} ${tokens}: ${a} vs ${b}`)
          assert.deepStrictEqual(a, b, log.join("\n"))
          const [c, d] = [yield* ours.tokenBucket(bucket), yield* model.tokenBucket(bucket)]
          log.push(`${step} bucket ${bucket.allowOverflow} ${tokens}: ${c} vs ${d}`)
          assert.strictEqual(c, d, log.join("\n"))
          // Clock moves of up to half a refill interval, and now and then a whole window.
          yield* TestClock.adjust(
            next() < 0.05 ? Duration.minutes(1) : Duration.millis(Math.floor(next() * refillMillis / 2))
          )
        }
      }).pipe(Effect.scoped, Effect.provide(LimiterAndStore(storeLayer))))

    it.effect("entries carry ttls: a window's goes with the window, a bucket's once it is full again", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiterX.RateLimiter
        const store = yield* KeyValueStore.KeyValueStore
        yield* Effect.repeatN(limiter.consume({ key: "w", limit: 5, window: "1 minute" }), 2) // 3 tokens: 36 s
        assert.deepStrictEqual(Option.getOrUndefined(yield* store.ttl("ratelimiter.w")), Duration.seconds(36))
        yield* limiter.consume({ key: "b", limit: 5, window: "1 minute", algorithm: "token-bucket", tokens: 2 })
        assert.deepStrictEqual(Option.getOrUndefined(yield* store.ttl("ratelimiter.b")), Duration.seconds(24))
        yield* TestClock.adjust("24 seconds")
        assert.isTrue(Option.isNone(yield* store.get("ratelimiter.b")))
        assert.isTrue(Option.isSome(yield* store.get("ratelimiter.w")))
        // A bucket gone with its ttl was full: a new take sees every token.
        const taken = yield* limiter.consume({ key: "b", limit: 5, window: "1 minute", algorithm: "token-bucket" })
        assert.strictEqual(taken.remaining, 4)
        yield* TestClock.adjust("12 seconds")
        assert.isTrue(Option.isNone(yield* store.get("ratelimiter.w")))
        const fresh = yield* limiter.consume({ key: "w", limit: 5, window: "1 minute" })
        assert.strictEqual(fresh.remaining, 4)
      }).pipe(Effect.provide(limiterOn(storeLayer))))

    for (const algorithm of ["fixed-window", "token-bucket"] as const) {
      it.effect(`${algorithm}: 40 concurrent callers, limit 10: exactly 10 pass`, () =>
        Effect.gen(function*() {
          const limiter = yield* RateLimiterX.RateLimiter
          const results = yield* Effect.forEach(
            Array.from({ length: 40 }, () => 0),
            () =>
              Effect.either(
                limiter.consume({ key: "hot", limit: 10, window: "1 minute", algorithm, onExceeded: "fail" })
              ),
            { concurrency: "unbounded" }
          )
          const passed = results.flatMap((r) => r._tag === "Right" ? [r.right.remaining] : [])
          assert.strictEqual(passed.length, 10)
          assert.deepStrictEqual(passed.sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
          for (const r of results) if (r._tag === "Left") assert.strictEqual(r.left.reason, "Exceeded")
        }).pipe(Effect.provide(limiterOn(storeLayer))))
    }

    it.effect("fixed-window delay: 20 concurrent callers get the delays of 20 callers one after another", () =>
      Effect.gen(function*() {
        const limiter = yield* RateLimiterX.RateLimiter
        const delays = yield* Effect.forEach(
          Array.from({ length: 20 }, () => 0),
          () =>
            Effect.map(
              limiter.consume({ key: "hot", limit: 5, window: "1 minute", onExceeded: "delay" }),
              (r) => Duration.toSeconds(r.delay)
            ),
          { concurrency: "unbounded" }
        )
        assert.deepStrictEqual(delays.sort((a, b) => a - b), [
          0,
          0,
          0,
          0,
          0,
          60,
          60,
          60,
          60,
          60,
          120,
          120,
          120,
          120,
          120,
          180,
          180,
          180,
          180,
          180
        ])
      }).pipe(Effect.provide(limiterOn(storeLayer))))

    it.effect("store failures become RateLimitStoreError with our error as cause", () =>
      Effect.gen(function*() {
        const store = yield* KeyValueStore.KeyValueStore
        const readOnly = RateLimiter.make(yield* ReadOnly.make(store))
        const refillRate = Duration.seconds(1)
        for (
          const effect of [
            Effect.asVoid(readOnly.fixedWindow({ key: "k", tokens: 1, refillRate, limit: 5 })),
            Effect.asVoid(readOnly.tokenBucket({ key: "k", tokens: 1, refillRate, limit: 5, allowOverflow: false }))
          ]
        ) {
          const error = yield* Effect.flip(effect)
          assert.instanceOf(error, RateLimiterX.RateLimitStoreError)
          assert.strictEqual((error.cause as { readonly _tag: string })._tag, "ReadOnlyViolation")
        }
        const limiterStore = RateLimiter.make(store)
        yield* store.set("ratelimiter.damaged", "not a state")
        const damaged = yield* Effect.flip(
          limiterStore.fixedWindow({ key: "damaged", tokens: 1, refillRate, limit: 5 })
        )
        assert.strictEqual((damaged as RateLimiterX.RateLimitStoreError).cause?.constructor.name, "DecodeError")
        const emptyKey = yield* Effect.flip(limiterStore.fixedWindow({ key: "", tokens: 1, refillRate, limit: 5 }))
        assert.strictEqual(
          ((emptyKey as RateLimiterX.RateLimitStoreError).cause as { readonly _tag: string })._tag,
          "InvalidKey"
        )
        const zero = yield* Effect.flip(limiterStore.tokenBucket({
          key: "k",
          tokens: 1,
          refillRate: Duration.zero,
          limit: 5,
          allowOverflow: false
        }))
        assert.strictEqual(
          ((zero as RateLimiterX.RateLimitStoreError).cause as { readonly _tag: string })._tag,
          "InvalidArgument"
        )
      }).pipe(Effect.provide(storeLayer())))
  })

cases("MemoryStore", () => MemoryStore.layer())
cases("SqliteStore", () => freshSqliteLayer())

await describeServer("redis", "RateLimiter on RedisStore", () => cases("RedisStore", () => freshRedisLayer()))
await describeServer(
  "postgres",
  "RateLimiter on PostgresStore",
  () => cases("PostgresStore", () => freshLayer("postgres"))
)

describe("options", () => {
  it.effect("a custom prefix, and an invalid one", () =>
    Effect.gen(function*() {
      const store = yield* KeyValueStore.KeyValueStore
      yield* RateLimiter.make(store, { prefix: "limits:" }).fixedWindow({
        key: "api",
        tokens: 1,
        refillRate: Duration.seconds(1),
        limit: 5
      })
      assert.isTrue(Option.isSome(yield* store.get("limits:api")))
      const error = yield* Effect.flip(Layer.build(RateLimiter.layer({ prefix: "\uD800" })))
      assert.strictEqual(error._tag, "InvalidArgument")
    }).pipe(Effect.scoped, Effect.provide(MemoryStore.layer())))
})

describe("several stores on one SQLite file (in this process and in 4 processes)", () => {
  for (const algorithm of ["fixed-window", "token-bucket"] as const) {
    it.effect(`${algorithm}: 2 x 25 concurrent callers, limit 10: exactly 10 pass`, () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const filename = path.join(dir, "limits.db")
        const open = Effect.map(
          Layer.build(
            RateLimiterX.layer.pipe(Layer.provide(RateLimiter.layer()), Layer.provide(SqliteStore.layer({ filename })))
          ),
          (context) => Context.get(context, RateLimiterX.RateLimiter)
        )
        const [one, two] = [yield* open, yield* open]
        const results = yield* Effect.forEach(
          Array.from({ length: 50 }, (_, i) => i % 2 === 0 ? one : two),
          (limiter) =>
            Effect.either(
              limiter.consume({ key: "hot", limit: 10, window: "1 minute", algorithm, onExceeded: "fail" })
            ),
          { concurrency: "unbounded" }
        )
        assert.strictEqual(results.filter((r) => r._tag === "Right").length, 10)
      }).pipe(Effect.scoped))
  }

  for (const algorithm of ["fixed-window", "token-bucket"] as const) {
    it.scopedLive(`${algorithm}: 4 processes x 100 callers, limit 100: exactly 100 pass`, () =>
      Effect.gen(function*() {
        const dir = yield* tempDir
        const filename = path.join(dir, "limits.db")
        const reports = yield* Workers.run<{ ok: boolean; passed: number; failures: Array<string> }>(
          "test/interop/fixtures/rate-limiter-worker.ts",
          [0, 1, 2, 3].map((id) => [JSON.stringify({ id: `w${id}`, filename, algorithm, calls: 100, limit: 100 })])
        )
        for (const report of reports) assert.isTrue(report.ok, JSON.stringify(report))
        assert.strictEqual(reports.reduce((sum, report) => sum + report.passed, 0), 100, JSON.stringify(reports))
      }), Workers.testTimeout)
  }
})
