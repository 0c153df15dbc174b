/**
 * A quick measurement of the Batched wrapper: wall time of 100 concurrent gets (and of one lone get) through Batched
 * and straight to the store, on RedisStore (the loopback server, a unique key prefix removed afterwards), on
 * PostgresStore (a table of its own, dropped afterwards) and on MemoryStore, in both modes (`requests`: the default,
 * through `Effect.request`; `direct`: `requestBatching: false`); paired trials in alternating order, and the median
 * of the paired ratios (unbatched / batched). Run with
 * `npx tsx --conditions=effect-kv-source test/wrappers/batched.measure.ts [trials]`.
 */
import { PgClient } from "@effect/sql-pg"
import { Batched, KeyValueStore, MemoryStore, PostgresStore, RedisStore } from "effect-kv"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { uniqueName, urls } from "../backends/fixtures/loopback.js"
import { removeAll } from "../backends/fixtures/redis.js"

// The store's tables (as the test fixtures name them), dropped through a client of their own.
const dropTables = (table: string): Effect.Effect<void> =>
  Effect.flatMap(PgClient.PgClient, (sql) =>
    Effect.gen(function*() {
      const names = ["", "_tags", "_meta", "_locks", "_fences", "_counters"].map((suffix) => `"${table}${suffix}"`)
      yield* sql.unsafe(`DROP TABLE IF EXISTS ${names.join(", ")}`)
      yield* sql.unsafe(`DROP FUNCTION IF EXISTS "${table}_untag"()`)
    })).pipe(Effect.provide(PgClient.layer({ url: Redacted.make(urls.postgres) })), Effect.orDie)

const trials = Number(process.argv[2] ?? 41)
const keys = Array.from({ length: 100 }, (_, i) => `k${i}`)

const median = (xs: ReadonlyArray<number>): number => {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

const timed = <A, E>(self: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const start = performance.now()
    yield* self
    return performance.now() - start
  })

const measure = (name: string, plain: KeyValueStore.Service) =>
  Effect.gen(function*() {
    const modes = [
      ["requests", KeyValueStore.batched(plain)],
      ["direct", yield* Batched.make(plain, { requestBatching: false })]
    ] as const
    yield* Effect.forEach(keys, (key, i) => i % 2 === 0 ? plain.set(key, `value-${i}`) : Effect.void)
    type Run = (store: KeyValueStore.Service) => Effect.Effect<unknown, unknown>
    const many: Run = (store) => Effect.forEach(keys, store.get, { concurrency: "unbounded" })
    const one: Run = (store) => store.get("k0")
    const rows: Array<string> = []
    for (
      const [label, run] of [
        ["100 concurrent gets", many],
        ["1 get", one]
      ] as const
    ) {
      for (const [mode, batched] of modes) {
        // warm-up
        for (let i = 0; i < 5; i++) {
          yield* run(plain)
          yield* run(batched)
        }
        const ratios: Array<number> = []
        const plainTimes: Array<number> = []
        const batchedTimes: Array<number> = []
        for (let i = 0; i < trials; i++) {
          const first = i % 2 === 0
          const a = yield* timed(run(first ? plain : batched))
          const b = yield* timed(run(first ? batched : plain))
          const [p, q] = first ? [a, b] : [b, a]
          plainTimes.push(p)
          batchedTimes.push(q)
          ratios.push(p / q)
        }
        rows.push(
          `| ${name} | ${label} | ${mode} | ${median(plainTimes).toFixed(3)} | ${median(batchedTimes).toFixed(3)} | ${
            median(ratios).toFixed(2)
          }x |`
        )
      }
    }
    return rows
  })

const program = Effect.gen(function*() {
  const rows: Array<string> = [
    "| store | workload | batched mode | unbatched ms (median) | batched ms (median) | " +
    `median paired ratio unbatched/batched (${trials} trials) |`,
    "|---|---|---|---|---|---|"
  ]
  const open = (layer: Layer.Layer<KeyValueStore.KeyValueStore, unknown>) =>
    Effect.map(Layer.build(layer), (context) => Context.get(context, KeyValueStore.KeyValueStore))
  rows.push(
    ...yield* Effect.scoped(Effect.flatMap(open(MemoryStore.layer()), (store) => measure("MemoryStore", store)))
  )
  const prefix = `${uniqueName("batched")}:`
  yield* Effect.ensuring(
    Effect.scoped(
      Effect.flatMap(open(RedisStore.layer({ url: urls.redis, prefix })), (store) => measure("RedisStore", store))
    ),
    removeAll(prefix)
  ).pipe(Effect.tap((r) => rows.push(...r)))
  const table = uniqueName("kv_batched")
  yield* Effect.ensuring(
    Effect.scoped(Effect.flatMap(
      open(PostgresStore.layer({ url: Redacted.make(urls.postgres), table })),
      (store) => measure("PostgresStore", store)
    )),
    dropTables(table)
  ).pipe(Effect.tap((r) => rows.push(...r)))
  console.log(rows.join("\n"))
})

Effect.runPromise(program).catch((error) => {
  console.error(error)
  process.exitCode = 1
})
