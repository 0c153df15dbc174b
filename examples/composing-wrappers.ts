/**
 * Composing wrappers: a SQLite store with a per-attempt Timeout inside Retry, a Fallback to memory when SQLite is
 * unavailable, a TtlClamp so nothing lives longer than a day, Logging of every operation, and Statistics outermost
 * so it counts what the application sees. Prints a few results and the per-operation statistics.
 */
import {
  Fallback,
  KeyValueStore,
  Logging,
  MemoryStore,
  Retry,
  SqliteStore,
  Statistics,
  Timeout,
  TtlClamp
} from "effect-kv"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"

// Read top to bottom: each wrapper wraps the store built above it.
const store = SqliteStore.layer({ filename: "data/wrappers.db" }).pipe(
  KeyValueStore.wrap(Timeout.layer("2 seconds")), // each attempt is bounded...
  KeyValueStore.wrap(Retry.layer({ retries: 3, delay: "20 millis" })), // ...and retried on availability failures
  KeyValueStore.wrap(Fallback.layer(MemoryStore.layer())), // then served from memory if SQLite stays unavailable
  KeyValueStore.wrap(TtlClamp.layer({ max: "1 day" })), // no entry lives longer than a day
  KeyValueStore.wrap(Logging.layer({ level: "Debug", values: "size" })), // one log line per operation
  KeyValueStore.wrap(Statistics.layer({ name: "example" })) // outermost: counts what the application sees
)

const program = Effect.gen(function*() {
  const kv = yield* KeyValueStore.KeyValueStore
  yield* kv.set("user.1.name", "Ada")
  yield* kv.set("session.1", "token", { ttl: "30 days" }) // clamped to 1 day
  yield* kv.get("user.1.name")
  yield* kv.get("user.2.name")
  yield* kv.increment("visits")

  const ttl = yield* kv.ttl("session.1")
  yield* Console.log(
    `session.1 ttl = ${Option.match(ttl, { onNone: () => "absent", onSome: Duration.format })} (asked for 30 days)`
  )
  const snapshot = yield* Statistics.snapshot
  for (const [operation, counts] of Object.entries(snapshot.operations)) {
    yield* Console.log(
      `${
        operation.padEnd(10)
      } calls ${counts.calls}  hits ${counts.hits}  misses ${counts.misses}  writes ${counts.writes}`
    )
  }
  yield* kv.clear
})

program.pipe(
  Effect.provide(store),
  Logger.withMinimumLogLevel(LogLevel.Debug),
  Effect.runPromise
)
