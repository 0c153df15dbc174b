/**
 * Keyv 5 with `@keyv/redis` 5 (which runs on node-redis, not ioredis) as an application sets it up:
 * `new Keyv({ store: new KeyvRedis(url), namespace })`, each call awaited. Values are the fixture's text, which Keyv
 * keeps as JSON (`{"value":...}`) under `<namespace>::<key>`; its `setMany` is one `MULTI`/`EXEC` of `SET`s (and its
 * untimed `deleteMany` one of `UNLINK`s). The prefill goes through Keyv's own `setMany` in batches, so the entries are
 * in its format.
 */
import KeyvRedis from "@keyv/redis"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import Keyv from "keyv"
import * as Driver from "../drivers/async.js"
import type { Fixture } from "../harness.js"
import { chunks } from "../harness.js"
import * as Servers from "../servers.js"
import type { Subject } from "../session.js"

const target = (keyv: Keyv): Driver.AsyncTarget => ({
  get: (key) => keyv.get(key),
  set: (key, value) => keyv.set(key, value),
  setMany: (entries) => keyv.setMany(entries.map(([key, value]) => ({ key, value }))),
  removeMany: (keys) => keyv.deleteMany([...keys]),
  getMany: (keys) => keyv.getMany([...keys])
})

const acquire = (namespace: string) =>
  Effect.acquireRelease(
    Servers.step("redis", "connecting Keyv", async (signal) => {
      const keyv = new Keyv({ store: new KeyvRedis(Servers.url("redis")), namespace, throwOnErrors: true })
      signal.addEventListener("abort", () => void keyv.disconnect().catch(() => undefined))
      try {
        await keyv.set("probe", "probe") // connects
        await keyv.delete("probe")
      } catch (error) {
        await keyv.disconnect().catch(() => undefined)
        throw error
      }
      return keyv
    }),
    (keyv) => Effect.promise(() => keyv.disconnect().catch(() => undefined))
  )

/** Opens Keyv on the bench's Redis under `namespace` for the scope and prefills it. */
export const subject = (namespace: string, fx: Fixture): Effect.Effect<Subject, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const keyv = yield* acquire(namespace)
    yield* Servers.step("redis", "prefilling Keyv", async () => {
      for (const keys of chunks(fx.keys, fx.batch)) await keyv.setMany(keys.map((key) => ({ key, value: fx.text })))
    })
    const measure = yield* Driver.ready(target(keyv), fx, fx.text)
    return { name: "keyv", group: "redis", workloads: ["get", "set", "setMany", "getMany"], measure }
  })
