/**
 * Memoized functions on SQLite: an expensive Effect function cached with a schema and a ttl, a plain async function
 * cached through a runtime, a flag in the store that switches caching off and on, negative caching of a "not found"
 * failure, and invalidation by tag. Prints each step and how many times each function really ran.
 */
import { KeyValueStore, Memoize, SqliteStore } from "effect-kv"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Schema from "effect/Schema"

class Forecast extends Schema.Class<Forecast>("Forecast")({
  city: Schema.String,
  celsius: Schema.Number,
  computedAt: Schema.Date
}) {}

class UnknownCity extends Schema.TaggedError<UnknownCity>()("UnknownCity", { city: Schema.String }) {}

let forecastRuns = 0
let lookupRuns = 0

// The expensive Effect function: imagine a slow API call.
const forecast = (city: string, days: number) =>
  Effect.gen(function*() {
    forecastRuns++
    yield* Effect.sleep("50 millis")
    if (city === "Atlantis") return yield* new UnknownCity({ city })
    return new Forecast({ city, celsius: 12 + days + city.length, computedAt: new Date() })
  })

// A plain async function, as a library would give it.
const lookupAddress = async (host: string): Promise<{ host: string; address: string }> => {
  lookupRuns++
  await new Promise((resolve) => setTimeout(resolve, 10))
  return { host, address: `192.0.2.${host.length}` }
}

const StoreLive = SqliteStore.layer({ filename: ".effect-kv/memoize.db" })

const program = Effect.gen(function*() {
  const store = yield* KeyValueStore.KeyValueStore
  yield* store.clear

  const cachedForecast = Memoize.effect(forecast, {
    schema: Forecast,
    ttl: "10 minutes",
    tags: ["weather"],
    when: { flag: "cache.enabled" },
    cacheFailures: { schema: UnknownCity, ttl: "1 minute" }
  })

  const a = yield* cachedForecast("Paris", 3)
  const b = yield* cachedForecast("Paris", 3)
  yield* Console.log(
    `forecast Paris: ${a.celsius} C, again: ${b.celsius} C (a Date back: ${b.computedAt instanceof Date})`
  )
  yield* Console.log(`  forecast ran ${forecastRuns} time(s)`)

  const missing1 = yield* Effect.flip(cachedForecast("Atlantis", 1))
  const missing2 = yield* Effect.flip(cachedForecast("Atlantis", 1))
  yield* Console.log(`Atlantis: ${missing1._tag}, again: ${missing2._tag} (a cached failure)`)
  yield* Console.log(`  forecast ran ${forecastRuns} time(s)`)

  yield* Memoize.disable(store, "cache.enabled")
  yield* cachedForecast("Paris", 3)
  yield* cachedForecast("Paris", 3)
  yield* Console.log(`caching off: two more calls, forecast ran ${forecastRuns} time(s)`)
  yield* Memoize.enable(store, "cache.enabled")
  yield* cachedForecast("Paris", 3)
  yield* Console.log(`caching on again: forecast ran ${forecastRuns} time(s)`)

  const removed = yield* store.removeTag("weather")
  yield* cachedForecast("Paris", 3)
  yield* Console.log(`removed ${removed} entries tagged "weather"; the next call ran forecast: ${forecastRuns} time(s)`)
  yield* Console.log(`key of forecast("Paris", 3): ${yield* cachedForecast.keyOf("Paris", 3)}`)
})

const main = async () => {
  // The Promise variant runs on a runtime that provides the store.
  const runtime = ManagedRuntime.make(StoreLive)
  try {
    await runtime.runPromise(program)
    const lookup = Memoize.promise(lookupAddress, { runtime: await runtime.runtime(), ttl: "1 hour" })
    const first = await lookup("example.com")
    const second = await lookup("example.com")
    console.log(
      `lookup example.com: ${first.address}, again: ${second.address}; lookupAddress ran ${lookupRuns} time(s)`
    )
  } finally {
    await runtime.dispose()
  }
}

main().catch((error) => {
  console.error(error)
  process.exit(1)
})
