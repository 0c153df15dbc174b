/**
 * The floor of the redis section: raw ioredis, each call awaited, with nothing around it. `get` is one `GET` that
 * returns the value's bytes (`getBuffer`, as a store returning bytes must), `set` one `SET` of the fixture's 256-byte
 * value, `setMany` one pipeline of 1000 `SET`s (one round trip), `getMany` one `MGET` of 1000 keys, and the untimed
 * cleanup of a round one `UNLINK`. Keys are the fixture's behind this target's own prefix; the prefill goes through the
 * same pipelines. Also `schemaSubject`, the second floor: raw ioredis on RedisStore's own data model (the same hash
 * per entry, index and scripts, called directly with `EVALSHA`, no Effect around them), which shows what the data
 * model costs apart from the wrapper. Also the client
 * the section opens first and closes last: it deletes every key of the run's prefix (`SCAN` + `UNLINK`, never a
 * flush: other runs share the server).
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { Redis } from "ioredis"
import * as scripts from "../../../src/internal/redis/scripts.js"
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
    removeMany: (keys) => keys.length === 0 ? Promise.resolve(0) : redis.unlink(...keys.map((key) => prefix + key)),
    getMany: (keys) => redis.mgetBuffer(keys.map((key) => prefix + key))
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
    return { name: "ioredis", group: "redis", workloads: ["get", "set", "setMany", "getMany"], measure }
  })

/**
 * RedisStore's data model driven by raw ioredis under `prefix`: `get` is the store's `HMGET v x`, `set` and `setMany`
 * its lean scripts (no tags, no metadata, no ttl) and `getMany` its batch-read script, each by `EVALSHA` with the
 * arguments the store sends; cleanup removes the entry hashes and their index members.
 */
const schemaTarget = (redis: Redis, prefix: string): Driver.AsyncTarget<Buffer> => {
  const index = prefix + "i"
  let revision = 0
  const evalsha = (script: scripts.Script, keys: ReadonlyArray<string>, args: ReadonlyArray<string | Buffer>) =>
    redis.callBuffer("EVALSHA", [script.sha, keys.length, ...keys, ...args])
  const setMany = (entries: ReadonlyArray<readonly [string, Buffer]>) => {
    const args: Array<string | Buffer> = [String(Date.now()), `raw${revision++}`, String(entries.length)]
    for (const [key, value] of entries) args.push(key, value, "", "")
    return evalsha(scripts.setManySimple, [index], args)
  }
  return {
    get: (key) => redis.hmgetBuffer(prefix + "e:" + key, "v", "x").then(([value]) => value ?? undefined),
    set: (key, value) =>
      evalsha(scripts.setSimple, [index], [String(Date.now()), key, value, "", "", `raw${revision++}`]),
    setMany,
    getMany: (keys) => evalsha(scripts.getMany, [index, ...keys.map((key) => prefix + "e:" + key)], []),
    removeMany: async (keys) => {
      if (keys.length === 0) return 0
      await redis.zrem(index, ...keys)
      return redis.unlink(...keys.map((key) => prefix + "e:" + key))
    }
  }
}

/** Connects for the scope, loads RedisStore's scripts, and prefills RedisStore's data model under `prefix`. */
export const schemaSubject = (prefix: string, fx: Fixture): Effect.Effect<Subject, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const redis = yield* connect
    const t = schemaTarget(redis, prefix)
    yield* Servers.step("redis", "prefilling ioredis on the store's schema", async () => {
      for (const script of [scripts.setSimple, scripts.setManySimple, scripts.getMany]) {
        await redis.script("LOAD", script.lua)
      }
      for (const keys of chunks(fx.keys, fx.batch)) await t.setMany(keys.map((key) => [key, fx.bytes] as const))
    })
    const measure = yield* Driver.ready(t, fx, fx.bytes)
    return { name: "ioredis (our schema)", group: "redis", workloads: ["get", "set", "setMany", "getMany"], measure }
  })
