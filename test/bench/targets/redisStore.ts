/**
 * RedisStore on the bench's Redis server, measured as an application uses it: built in the bench's scope through the
 * public API only (`RedisStore.make({ url, prefix })` with this run's own prefix), prefilled through `setMany`, every
 * operation yielded inside the one Effect program the whole bench runs in. An entry is a hash beside a key index (see
 * `RedisStore`), so its figures include what the store does beyond the floor's plain `GET` and `SET`.
 */
import * as RedisStore from "effect-kv/RedisStore"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as Driver from "../drivers/effect.js"
import type { Fixture } from "../harness.js"
import * as Servers from "../servers.js"
import type { Subject } from "../session.js"

/** Opens a store on the bench's Redis under `prefix` for the scope and prefills it. */
export const subject = (prefix: string, fx: Fixture): Effect.Effect<Subject, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const store = yield* RedisStore.make({ url: Servers.url("redis"), prefix }).pipe(
      Effect.interruptible,
      Servers.within("redis", "opening RedisStore")
    )
    yield* Driver.prefill(store, fx)
    const measure = yield* Driver.ready(store, fx)
    return { name: "RedisStore", group: "redis", workloads: ["get", "set", "setMany", "getMany"], measure }
  })
