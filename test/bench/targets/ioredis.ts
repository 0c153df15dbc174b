/**
 * The floor of the redis section: raw ioredis, each call awaited, with nothing around it. `get` is one `GET` that
 * returns the value's bytes (`getBuffer`, as a store returning bytes must), `set` one `SET` of the fixture's 256-byte
 * value, `setMany` one pipeline of 1000 `SET`s (one round trip), and the untimed cleanup of a round one `UNLINK`. Keys
 * are the fixture's behind this target's own prefix; the prefill goes through the same pipelines. Also the client
 * the section opens first and closes last: it deletes every key of the run's prefix (`SCAN` + `UNLINK`, never a
 * flush: other runs share the server).
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { Redis } from "ioredis"
import * as Driver from "../drivers/async.js"
import type { Fixture } from "../harness.js"
import { chunks } from "../harness.js"
import * as Servers from "../servers.js"
import type { Subject } from "../session.js"

/** A client connected to the bench's Redis for the scope, or a failure naming the server when it does not answer. */
export const connect: Effect.Effect<Redis, unknown, Scope.Scope> = Effect.acquireRelease(
  Servers.step("redis", "connecting ioredis", async (signal) => {
    const redis = new Redis(Servers.url("redis"), {
      lazyConnect: true,
      connectTimeout: 3000,
      maxRetriesPerRequest: 1,
      retryStrategy: () => null
    })
    redis.on("error", () => undefined) // errors reach the caller through the command that meets them
    signal.addEventListener("abort", () => {
      redis.disconnect()
      redis.stream?.destroy() // `disconnect` only half-closes a socket that a silent server keeps open
    })
    try {
      await redis.connect()
      await redis.ping()
    } catch (error) {
      redis.disconnect()
      throw error
    }
    return redis
  }),
  (redis) => Effect.promise(() => redis.quit().catch(() => redis.disconnect()))
)

/** Deletes every key that starts with `prefix` (`SCAN` + `UNLINK` in pages); returns how many. */
export const removePrefix = (redis: Redis, prefix: string): Promise<number> =>
  new Promise((resolve, reject) => {
    let removed = 0
    const stream = redis.scanStream({ match: `${prefix.replace(/[*?[\]\\]/g, "\\$&")}*`, count: 1000 })
    stream.on("data", (keys: Array<string>) => {
      if (keys.length === 0) return
      stream.pause()
      redis.unlink(...keys).then((n) => {
        removed += n
        stream.resume()
      }, reject)
    })
    stream.on("end", () => resolve(removed))
    stream.on("error", reject)
  })

/**
 * A connection for the scope that deletes the keys of `prefix` when the scope closes (after the targets opened later
 * have closed); reports how many it deleted.
 */
export const janitor = (prefix: string): Effect.Effect<void, unknown, Scope.Scope> =>
  Effect.flatMap(
    connect,
    (redis) =>
      Effect.addFinalizer(() =>
        Servers.step("redis", `deleting the keys ${prefix}*`, () => removePrefix(redis, prefix)).pipe(
          Effect.tap((n) => Effect.sync(() => console.log(`redis: deleted ${n} keys ${prefix}*`))),
          Effect.catchAll((e) => Effect.sync(() => console.error(e.message)))
        )
      )
  )

const target = (redis: Redis, prefix: string): Driver.AsyncTarget<Buffer> => {
  const setMany = async (entries: ReadonlyArray<readonly [string, Buffer]>) => {
    const pipeline = redis.pipeline()
    for (const [key, value] of entries) pipeline.set(prefix + key, value)
    const results = await pipeline.exec()
    const failed = results?.find(([error]) => error !== null)
    if (failed !== undefined) throw failed[0]
  }
  return {
    get: (key) => redis.getBuffer(prefix + key),
    set: (key, value) => redis.set(prefix + key, value),
    setMany,
    removeMany: (keys) => keys.length === 0 ? Promise.resolve(0) : redis.unlink(...keys.map((key) => prefix + key))
  }
}

/** Connects for the scope and prefills the fixture's keys under `prefix` through pipelines of `fx.batch` `SET`s. */
export const subject = (prefix: string, fx: Fixture): Effect.Effect<Subject, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const t = target(yield* connect, prefix)
    yield* Servers.step("redis", "prefilling ioredis", async () => {
      for (const keys of chunks(fx.keys, fx.batch)) await t.setMany(keys.map((key) => [key, fx.bytes] as const))
    })
    const measure = yield* Driver.ready(t, fx, fx.bytes)
    return { name: "ioredis", group: "redis", workloads: ["get", "set", "setMany"], measure }
  })
