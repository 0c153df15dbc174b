/**
 * A process of the caching section's cold-key trial. Arguments: the target (`effect-kv`, `cacheable` or
 * `bentocache`), the Redis URL, this target's key prefix for the run, the cold key, the number of concurrent callers,
 * the compute time in ms and the worker id. It opens its cache on Redis as an application of that library does (and
 * makes one round trip, so the connection is up before the clock starts), prints `ready`, waits for `go` on stdin,
 * then starts every caller at once on the same key, each asking for the value through the library's own read-through
 * call, whose computation sleeps for the compute time and counts itself. It prints one JSON report line: how many
 * times this process computed, when it was released and when its last caller had a value (both as
 * `performance.timeOrigin + performance.now()`, comparable across processes of one machine), how many callers got a
 * value and which workers computed the values they got; or the error that stopped it.
 *
 * - effect-kv: `RedisStore.make({ url, prefix })`, `store.getOrSet(key, compute, { lock: true, ttl })`, the callers
 *   forked in one Effect program;
 * - cacheable: `new Cacheable({ secondary: new Keyv({ store: new KeyvRedis(url), namespace }) })` (an in-memory
 *   primary in front of Redis), `cache.getOrSet(key, fn, { ttl })`, the callers as promises;
 * - bentocache: `new BentoCache({ prefix, stores: { cache: bentostore().useL1Layer(memoryDriver()).useL2Layer(
 *   redisDriver({ connection: ioredis })) } })`, `bento.getOrSet({ key, factory, ttl })`, the callers as promises.
 */
import KeyvRedis from "@keyv/redis"
import { BentoCache, bentostore } from "bentocache"
import { memoryDriver } from "bentocache/drivers/memory"
import { redisDriver } from "bentocache/drivers/redis"
import { Cacheable } from "cacheable"
import * as RedisStore from "effect-kv/RedisStore"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import { Redis } from "ioredis"
import Keyv from "keyv"
import * as readline from "node:readline"

const [target, url, prefix, key, callersArg, computeMsArg, id] = process.argv.slice(2)
if (
  (target !== "effect-kv" && target !== "cacheable" && target !== "bentocache") || url === undefined ||
  prefix === undefined || key === undefined || callersArg === undefined || computeMsArg === undefined ||
  id === undefined
) {
  console.error("usage: coldKey (effect-kv | cacheable | bentocache) <url> <prefix> <key> <callers> <ms> <id>")
  process.exit(2)
}
const callers = Number(callersArg)
const computeMs = Number(computeMsArg)
const TTL_MS = 60_000

const now = () => performance.timeOrigin + performance.now()

let computes = 0
/** The value this process computes: names the process, so callers' distinct values show who computed. */
const value = `${id}`.padEnd(256, ".")

/** A target ready to serve: every caller's read-through call at once, giving the value each caller got. */
type Ask = Effect.Effect<ReadonlyArray<unknown>, unknown>

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const open: Effect.Effect<Ask, unknown, Scope.Scope> = Effect.gen(function*() {
  if (target === "effect-kv") {
    const store = yield* RedisStore.make({ url, prefix })
    yield* store.get(`${key}.probe`)
    const compute = Effect.sleep(computeMs).pipe(Effect.zipRight(Effect.sync(() => {
      computes++
      return value
    })))
    return Effect.all(
      Array.from({ length: callers }, () => store.getOrSet(key, compute, { lock: true, ttl: TTL_MS })),
      { concurrency: "unbounded" }
    )
  }
  const factory = async () => {
    await sleep(computeMs)
    computes++
    return value
  }
  if (target === "cacheable") {
    const cache = yield* Effect.acquireRelease(
      Effect.promise(async () => {
        const cache = new Cacheable({ secondary: new Keyv({ store: new KeyvRedis(url), namespace: prefix }) })
        await cache.get(`${key}.probe`)
        return cache
      }),
      (cache) => Effect.promise(() => cache.disconnect().catch(() => undefined))
    )
    return Effect.tryPromise(() =>
      Promise.all(Array.from({ length: callers }, () => cache.getOrSet(key, factory, { ttl: TTL_MS })))
    )
  }
  const redis = yield* Effect.acquireRelease(
    Effect.promise(async () => {
      const redis = new Redis(url, { lazyConnect: true })
      await redis.connect()
      return redis
    }),
    (redis) => Effect.promise(() => redis.quit().catch(() => redis.disconnect()))
  )
  const bento = yield* Effect.acquireRelease(
    Effect.promise(async () => {
      const bento = new BentoCache({
        default: "cache",
        prefix,
        stores: {
          cache: bentostore().useL1Layer(memoryDriver({ maxItems: 1000 })).useL2Layer(
            redisDriver({ connection: redis })
          )
        }
      })
      await bento.get({ key: `${key}.probe` })
      return bento
    }),
    // Closed before the connection it was given (finalizers run in reverse order).
    (bento) => Effect.promise(() => bento.disconnect().catch(() => undefined))
  )
  return Effect.tryPromise(() =>
    Promise.all(Array.from({ length: callers }, () => bento.getOrSet({ key, factory, ttl: TTL_MS })))
  )
})

const text = (v: unknown): string | undefined =>
  typeof v === "string" ? v : v instanceof Uint8Array ? Buffer.from(v).toString("utf8") : undefined

const report = (line: object) => process.stdout.write(JSON.stringify({ id, ...line }) + "\n")

const fail = (cause: Cause.Cause<unknown>) => {
  const failure = Cause.failureOption(cause)
  const tag = Option.isSome(failure) ? (failure.value as { readonly _tag?: string })._tag ?? "Error" : "Defect"
  report({ ok: false, tag, cause: Cause.pretty(cause) })
  process.exit(1)
}

Effect.runPromiseExit(
  Effect.gen(function*() {
    const ask = yield* open
    yield* Effect.async<void>((resume) => {
      const lines = readline.createInterface({ input: process.stdin })
      lines.on("line", (line) => {
        if (line !== "go") return
        lines.close()
        resume(Effect.void)
      })
      process.stdout.write("ready\n")
    })
    const goAt = now()
    const cpu = process.cpuUsage()
    const values = yield* ask
    const doneAt = now()
    const used = process.cpuUsage(cpu)
    const got = values.map(text).filter((v): v is string => v !== undefined && v.length > 0)
    return {
      computes,
      goAt,
      doneAt,
      answered: got.length,
      from: [...new Set(got.map((v) => v.replace(/\.+$/, "")))],
      cpuMs: (used.user + used.system) / 1000
    }
  }).pipe(Effect.scoped)
).then((exit) => {
  if (Exit.isFailure(exit)) return fail(exit.cause)
  report({ ok: true, ...exit.value })
  process.exit(0)
})
