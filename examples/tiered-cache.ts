/**
 * A tiered cache: an in-memory L1 (at most 10 000 entries, each kept at most a minute) in front of Redis, with the
 * Redis bus so that a write on one application instance drops the key from every other instance's L1. Two instances
 * are simulated in one process (each with its own L1 and bus connection, over the same Redis keys): one reads a key
 * (from Redis, then from its L1), the other writes it, and the first sees the new value as soon as the bus tells it.
 *
 *   KV_REDIS_URL, default redis://127.0.0.1:6379 (the keys live under a prefix of their own, removed at the end)
 *
 * Run: npx tsx --conditions=effect-kv-source examples/tiered-cache.ts
 */
import { Config, Console, Effect, Option } from "effect"
import type { KeyValueStore } from "effect-kv"
import { RedisStore, Tiered } from "effect-kv"
import * as crypto from "node:crypto"

const program = Effect.gen(function*() {
  const url = yield* Config.string("KV_REDIS_URL").pipe(Config.withDefault("redis://127.0.0.1:6379"))
  const run = crypto.randomBytes(4).toString("hex")
  const redis = yield* RedisStore.make({ url, prefix: `effect-kv-example-tiered-${run}:` })
  yield* Effect.addFinalizer(() => Effect.ignore(redis.clear))

  // One application instance: its own L1, its own bus connection; every instance uses the same channel.
  const instance = Tiered.make(redis, {
    l1: { maxEntries: 10_000, ttl: "1 minute" },
    invalidation: Tiered.redisBus({ url, channel: `effect-kv-example-tiered-${run}` })
  })
  const a = yield* instance
  const b = yield* instance

  yield* b.set("user.1.name", "Ada")
  const show = (store: KeyValueStore.Service) =>
    Effect.map(store.getString("user.1.name"), Option.getOrElse(() => "<none>"))
  const l1Hits = (store: KeyValueStore.Service) =>
    Effect.map(Tiered.info(store), Option.match({ onNone: () => 0, onSome: (info) => info.hits }))

  yield* Console.log(`instance A reads user.1.name: ${yield* show(a)} (from Redis; A's L1 is filled)`)
  yield* Console.log(`instance A reads it again: ${yield* show(a)} (L1 hits so far: ${yield* l1Hits(a)})`)

  yield* b.set("user.1.name", "Grace")
  yield* Console.log("instance B writes user.1.name = Grace (to Redis, then announced on the bus)")

  // A's L1 still says "Ada" until the bus message arrives (typically a millisecond or two).
  const start = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
  let seen = yield* show(a)
  while (seen !== "Grace") {
    yield* Effect.sleep("1 millis")
    seen = yield* show(a)
  }
  const waited = (yield* Effect.clockWith((clock) => clock.currentTimeMillis)) - start
  yield* Console.log(`instance A reads user.1.name: ${seen} (invalidated by the bus within ${waited} ms)`)

  const info = yield* Tiered.info(a)
  if (Option.isSome(info)) {
    const { connected, fills, hits, received } = info.value
    yield* Console.log(
      `A's L1: ${hits} hits, ${fills} fills, ${received} bus messages applied, connected: ${connected}`
    )
  }
})

Effect.runPromise(Effect.scoped(program)).catch((error) => {
  console.error(error)
  process.exit(1)
})
