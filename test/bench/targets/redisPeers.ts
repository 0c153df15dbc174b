/**
 * The cache libraries of the redis section, on the bench's Redis server, each set up and called as its README shows:
 * bentocache with only its Redis driver as the L2 layer (`bentostore().useL2Layer(redisDriver(...))`, no L1 memory
 * layer, so every call reaches Redis; values serialized, its default) and unstorage with its Redis driver
 * (`createStorage({ driver: redisDriver({ base, url }) })`, which runs on ioredis). Values are the fixture's text.
 * bentocache has no batch calls, so its `getMany`/`setMany` are a `Promise.all` of single calls, as its users write
 * them; unstorage's `getItems` is one `MGET` and its `setItems` (the driver has none) one `setItem` per entry, issued
 * together. The prefill goes through the libraries' own calls, so the entries are in their formats.
 */
import { BentoCache, bentostore } from "bentocache"
import { redisDriver } from "bentocache/drivers/redis"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { createStorage } from "unstorage"
import unstorageRedis from "unstorage/drivers/redis"
import * as Driver from "../drivers/async.js"
import type { Fixture } from "../harness.js"
import { chunks } from "../harness.js"
import * as Servers from "../servers.js"
import type { Subject } from "../session.js"

const prefill = async (t: Driver.AsyncTarget, fx: Fixture) => {
  for (const keys of chunks(fx.keys, fx.batch)) await t.setMany(keys.map((key) => [key, fx.text] as const))
}

/** bentocache on the bench's Redis (L2 only) under `prefix`, for the scope, prefilled. */
export const bentocache = (prefix: string, fx: Fixture): Effect.Effect<Subject, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const bento = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const url = new URL(Servers.url("redis"))
        const connection = { host: url.hostname, port: Number(url.port || 6379) }
        return new BentoCache({
          default: "redis",
          stores: { redis: bentostore().useL2Layer(redisDriver({ connection, prefix })) }
        })
      }),
      (bento) => Effect.promise(() => bento.disconnect().catch(() => undefined))
    )
    const t: Driver.AsyncTarget = {
      get: (key) => bento.get({ key }),
      set: (key, value) => bento.set({ key, value }),
      setMany: (entries) => Promise.all(entries.map(([key, value]) => bento.set({ key, value }))),
      getMany: (keys) => Promise.all(keys.map((key) => bento.get({ key }))),
      removeMany: (keys) => bento.deleteMany({ keys: [...keys] })
    }
    yield* Servers.step("redis", "prefilling bentocache", () => prefill(t, fx))
    const measure = yield* Driver.ready(t, fx, fx.text)
    return { name: "bentocache", group: "redis", workloads: ["get", "set", "setMany", "getMany"], measure }
  })

/** unstorage with its Redis driver under `base`, for the scope, prefilled. */
export const unstorage = (base: string, fx: Fixture): Effect.Effect<Subject, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const storage = yield* Effect.acquireRelease(
      Effect.sync(() => createStorage({ driver: unstorageRedis({ base, url: Servers.url("redis") }) })),
      (storage) => Effect.promise(() => storage.dispose().catch(() => undefined))
    )
    const t: Driver.AsyncTarget = {
      get: (key) => storage.getItem(key),
      set: (key, value) => storage.setItem(key, value),
      setMany: (entries) => storage.setItems(entries.map(([key, value]) => ({ key, value }))),
      getMany: (keys) => storage.getItems([...keys]),
      removeMany: (keys) => Promise.all(keys.map((key) => storage.removeItem(key)))
    }
    yield* Servers.step("redis", "prefilling unstorage", () => prefill(t, fx))
    const measure = yield* Driver.ready(t, fx, fx.text)
    return { name: "unstorage", group: "redis", workloads: ["get", "set", "setMany", "getMany"], measure }
  })
