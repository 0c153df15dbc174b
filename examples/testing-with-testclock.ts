/**
 * Testing TTL logic without waiting: sessions that expire after 30 minutes of inactivity, kept in a typed store over
 * `MemoryStore`, driven by `TestClock.adjust`. Every store reads time from Effect's `Clock`, so providing
 * `TestContext.TestContext` makes hours pass in a fraction of a second, and the store's background sweeper runs on the same
 * clock. In a test suite the same code goes inside `it.effect` from `@effect/vitest`, which provides the TestClock
 * itself. Run with `npx tsx --conditions=effect-kv-source examples/testing-with-testclock.ts`.
 */
import { KeyValueStore, MemoryStore, TypedStore } from "effect-kv"
import * as Clock from "effect/Clock"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import * as TestContext from "effect/TestContext"

const Session = Schema.Struct({ user: Schema.String, started: Schema.Date })

// The logic under test: a session lives 30 minutes after its last activity.
const idle = "30 minutes"

const sessions = Effect.map(KeyValueStore.KeyValueStore, (store) => TypedStore.make(store, Session))

const login = (id: string, user: string) =>
  Effect.gen(function*() {
    const started = new Date(yield* Clock.currentTimeMillis)
    yield* (yield* sessions).set(`session.${id}`, { user, started }, { ttl: idle })
  })

const activity = (id: string) => Effect.flatMap(sessions, (s) => s.touch(`session.${id}`, idle))

const whoIs = (id: string) =>
  Effect.flatMap(sessions, (s) => s.get(`session.${id}`)).pipe(
    Effect.map(Option.match({ onNone: () => "nobody (expired)", onSome: (session) => session.user }))
  )

const program = Effect.gen(function*() {
  const realStart = performance.now()
  const store = yield* KeyValueStore.KeyValueStore

  yield* login("a", "ada")
  yield* login("g", "grace")
  yield* Console.log(`t=0      both logged in; live entries: ${yield* store.size}`)

  yield* TestClock.adjust("20 minutes")
  yield* activity("g")
  yield* Console.log(`t=20min  grace is active again (touch resets her 30 minutes)`)

  yield* TestClock.adjust("15 minutes")
  yield* Console.log(`t=35min  session a: ${yield* whoIs("a")}; session g: ${yield* whoIs("g")}`)

  const remaining = yield* Effect.flatMap(sessions, (s) => s.ttl("session.g"))
  yield* Console.log(
    `t=35min  grace's session expires in ${Option.match(remaining, { onNone: () => "-", onSome: Duration.format })}`
  )

  yield* TestClock.adjust("1 hour")
  yield* Console.log(`t=95min  session g: ${yield* whoIs("g")}; live entries: ${yield* store.size}`)

  const stats = yield* store.stats
  yield* Console.log(
    `swept    the background sweeper (on the TestClock too) removed ${stats.expirations} expired entries`
  )
  yield* Console.log(`real     ${(performance.now() - realStart).toFixed(1)} ms of real time for 95 minutes of clock`)
})

program.pipe(
  Effect.provide(MemoryStore.layer()),
  Effect.provide(TestContext.TestContext),
  Effect.runPromise
).catch((error) => {
  console.error(error)
  process.exit(1)
})
