/**
 * RedisStore's native expiry backstop when the store's `Clock` differs from the one it was opened under: a store
 * opened under the live Clock and used under a `TestClock` at epoch 0 keeps its entries and leases (an absolute
 * deadline from an offset measured at open put them in the past, and Redis deleted them at once), and a store opened
 * under a `TestClock` and used under the live Clock gets native deadlines near the ttl plus the grace (not decades
 * ahead).
 */
import { assert, it } from "@effect/vitest"
import { RedisStore } from "effect-kv"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import { freshPrefix, rawClient } from "./fixtures/redis.js"
import { describeServer, urls } from "./fixtures/servers.js"

const text = (bytes: Option.Option<Uint8Array>): string | undefined =>
  Option.getOrUndefined(Option.map(bytes, (b) => Buffer.from(b).toString("utf8")))

await describeServer("redis", "RedisStore native deadlines under another Clock than at open", () => {
  it.scoped("opened under the live Clock, used under a TestClock: entries and leases stay", () =>
    Effect.gen(function*() {
      const prefix = yield* freshPrefix()
      const raw = yield* rawClient()
      const store = yield* RedisStore.make({ url: urls.redis, prefix }).pipe(Effect.withClock(Clock.make()))
      yield* store.set("k", "v", { ttl: "1 hour" })
      yield* store.setMany([["m", "w", { ttl: "1 hour" }]])
      assert.isTrue(yield* store.compareAndSwap("c", Option.none(), Option.some("x"), { ttl: "1 hour" }))
      yield* store.set("t", "t")
      assert.isTrue(yield* store.touch("t", "1 hour"))
      for (const key of ["k", "m", "c", "t"]) {
        const pttl = yield* Effect.promise(() => raw.pttl(`${prefix}e:${key}`))
        assert.isAtLeast(pttl, 3_600_000, key)
        assert.isAtMost(pttl, 3_600_000 + 60_000, key)
      }
      assert.strictEqual(text(yield* store.get("k")), "v")
      assert.strictEqual(yield* store.size, 4)
      yield* Effect.scoped(Effect.gen(function*() {
        yield* store.lock("l", { ttl: "10 seconds" })
        assert.strictEqual(yield* Effect.promise(() => raw.exists(`${prefix}l:l`)), 1, "the lease is held")
        const other = yield* Effect.exit(Effect.scoped(store.lock("l", { ttl: "10 seconds", timeout: 0 })))
        assert.isTrue(Exit.isFailure(other), "a second holder got the lock")
      }))
    }))

  it.scoped("opened under a TestClock, used under the live Clock: deadlines are the ttl plus the grace", () =>
    Effect.gen(function*() {
      const prefix = yield* freshPrefix()
      const raw = yield* rawClient()
      const store = yield* RedisStore.make({ url: urls.redis, prefix })
      const live = Clock.make()
      yield* store.set("k", "v", { ttl: "1 hour" }).pipe(Effect.withClock(live))
      const pttl = yield* Effect.promise(() => raw.pttl(`${prefix}e:k`))
      assert.isAtLeast(pttl, 3_600_000)
      assert.isAtMost(pttl, 3_600_000 + 60_000)
      yield* Effect.scoped(
        store.lock("l", { ttl: "10 seconds" }).pipe(
          Effect.zipRight(Effect.promise(() => raw.pttl(`${prefix}l:l`))),
          Effect.tap((lease) => {
            assert.isAtLeast(lease, 10_000)
            assert.isAtMost(lease, 10_000 + 60_000)
          }),
          Effect.withClock(live)
        )
      )
    }))
})
