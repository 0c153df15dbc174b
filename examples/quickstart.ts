/**
 * Quick start: open the embedded default store (SQLite in a local file), write a few entries with and without a TTL,
 * read them back, count, and print the store's statistics. Run with `npm run demo`.
 */
import { KeyValueStore, SqliteStore } from "effect-kv"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"

const program = Effect.gen(function*() {
  const store = yield* KeyValueStore.KeyValueStore

  yield* store.set("app.name", "effect-kv demo")
  yield* store.set("session.abc", JSON.stringify({ user: "ada" }), { ttl: "30 minutes" })
  yield* store.setMany([
    ["user.1.name", "Ada"],
    ["user.2.name", "Grace", { ttl: "1 hour" }]
  ])

  const name = yield* store.getString("app.name")
  const names = yield* store.getMany(["user.1.name", "user.2.name", "user.3.name"])
  const visits = yield* store.increment("app.visits")
  const sessionTtl = yield* store.ttl("session.abc")
  const added = yield* store.add("app.name", "ignored: the key exists")

  yield* Console.log(`app.name      = ${Option.getOrElse(name, () => "<none>")}`)
  yield* Console.log(`users         = ${
    names.map((o) =>
      Option.match(o, {
        onNone: () => "<none>",
        onSome: (bytes) => new TextDecoder().decode(bytes)
      })
    ).join(", ")
  }`)
  yield* Console.log(`app.visits    = ${visits} (a counter that survives restarts: run the demo again)`)
  yield* Console.log(
    `session ttl   = ${
      Option.match(sessionTtl, {
        onNone: () => "absent",
        onSome: (d) => `${Math.round(Duration.toSeconds(d))} s`
      })
    }`
  )
  yield* Console.log(`add existing  = ${added}`)
  yield* Console.log(`live entries  = ${yield* store.size}`)

  const missing = yield* Effect.flip(store.get(""))
  yield* Console.log(`bad key       = ${missing._tag}: ${missing.message}`)
  yield* Console.log(`stats         = ${JSON.stringify(yield* store.stats)}`)
})

program.pipe(
  Effect.provide(SqliteStore.layer({ filename: ".effect-kv/quickstart.db" })),
  Effect.runPromise
).catch((error) => {
  console.error(error)
  process.exit(1)
})
