/**
 * Stampede protection across processes (`getOrSet` with `lock`) on every backend several processes share: a SQLite
 * file, a PostgreSQL table and a Redis prefix (`fixtures/stampede-worker.ts`). Four child processes × 50 concurrent
 * callers on a cold key compute it exactly once (counted in the store itself), and once more after it expires; a
 * process SIGKILLed while computing under the lease is taken over by another only once its lease has expired.
 */
import { assert, describe, it } from "@effect/vitest"
import { KeyValueStore } from "effect-kv"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as fs from "node:fs"
import * as path from "node:path"
import { type Backend, fresh, type Kind, storeLayer } from "../backends/fixtures/backends.js"
import { describeServer } from "../backends/fixtures/servers.js"
import { tempDir } from "../backends/fixtures/temp.js"
import * as Workers from "../backends/fixtures/workers.js"
import type { Holding, Report, Spec } from "./fixtures/stampede-worker.js"

const script = "test/caching/fixtures/stampede-worker.ts"

const PROCESSES = 4
const CALLERS = 50
const TTL = 8000
const LEASE_TTL = 1500

/** A store of `backend` for the rest of the scope. */
const openStore = (backend: Backend) =>
  Effect.map(Layer.build(storeLayer(backend)), Context.get(KeyValueStore.KeyValueStore))

/** Polls `f` every 10 ms until it yields a value. */
const until = <A, E>(f: Effect.Effect<A | undefined, E>) =>
  Effect.gen(function*() {
    for (;;) {
      const a = yield* f
      if (a !== undefined) return a
      yield* Effect.sleep("10 millis")
    }
  })

const computes = (store: KeyValueStore.Service) =>
  Effect.map(store.getString("computes"), (count) => Number(Option.getOrElse(count, () => "0")))

const okReports = (reports: ReadonlyArray<Report>) =>
  reports.map((report) => report.ok ? report : assert.fail(`worker ${report.id} failed: ${report.tag} ${report.cause}`))

const burst = (backend: Backend, round: string, ids: ReadonlyArray<string>, computeMillis = 300) =>
  Effect.map(
    Workers.run<Report>(
      script,
      ids.map((id) => [
        JSON.stringify(
          {
            mode: "burst",
            store: backend,
            id: `${round}/${id}`,
            key: "cold",
            callers: CALLERS,
            computeMillis,
            ttlMillis: TTL,
            leaseTtlMillis: LEASE_TTL
          } satisfies Spec
        )
      ]),
      { timeout: "60 seconds" }
    ),
    okReports
  )

const stampedeAcrossProcesses = (name: string, kind: Kind) =>
  describe(`${name}: getOrSet with lock across processes`, () => {
    it.scopedLive(
      `${PROCESSES} processes × ${CALLERS} callers on a cold key compute it once per expiry`,
      () =>
        Effect.gen(function*() {
          const backend = yield* fresh(kind)
          const store = yield* openStore(backend)
          const ids = Array.from({ length: PROCESSES }, (_, i) => `w${i}`)

          const t0 = Date.now()
          const first = yield* burst(backend, "r1", ids)
          const started = first.flatMap((report) => report.computedAt.map((at) => `${report.id}@${at - t0}ms`))
          assert.strictEqual(yield* computes(store), 1, `computations in the first round: ${started.join(", ")}`)
          const values1 = new Set(first.flatMap((report) => report.values))
          assert.strictEqual(values1.size, 1, `values of the first round: ${[...values1].join(", ")}`)
          assert.strictEqual(first.flatMap((report) => report.values).length, PROCESSES * CALLERS)

          // Past the ttl: a second cold round computes once more.
          yield* Effect.sleep(TTL + 200)
          assert.isTrue(Option.isNone(yield* store.get("cold")), "the value expired")
          const second = yield* burst(backend, "r2", ids)
          assert.strictEqual(yield* computes(store), 2, "computations after the second round")
          const values2 = new Set(second.flatMap((report) => report.values))
          assert.strictEqual(values2.size, 1)
          assert.notDeepEqual([...values2], [...values1])
        }),
      Workers.testTimeout
    )

    it.scopedLive(
      "a process SIGKILLed while computing under the lease is taken over once the lease expires",
      () =>
        Effect.gen(function*() {
          const backend = yield* fresh(kind)
          const store = yield* openStore(backend)
          const pidFile = path.join(yield* tempDir, "holding.json")
          const spec: Spec = {
            mode: "hold",
            store: backend,
            id: "holder",
            key: "cold",
            pidFile,
            ttlMillis: TTL,
            leaseTtlMillis: LEASE_TTL
          }
          const holder = yield* Effect.fork(
            Effect.either(Workers.run<Report>(script, [[JSON.stringify(spec)]], { timeout: "30 seconds" }))
          )
          const holding = yield* until(Effect.sync(() =>
            fs.existsSync(pidFile) ? JSON.parse(fs.readFileSync(pidFile, "utf8")) as Holding : undefined
          )).pipe(Effect.timeout("20 seconds"))
          // Long enough for a renewal or two of the lease (every third of its ttl).
          yield* Effect.sleep("700 millis")
          process.kill(holding.pid, "SIGKILL")
          const crashed = yield* Fiber.join(holder)
          assert.isTrue(Either.isLeft(crashed) && crashed.left._tag === "WorkerCrashed", "the holder was not killed")

          const reports = yield* burst(backend, "takeover", ["w0", "w1", "w2"], 50)
          assert.strictEqual(yield* computes(store), 2, "the dead holder's computation and one takeover")
          const values = new Set(reports.flatMap((report) =>
            report.values
          ))
          assert.strictEqual(values.size, 1)
          const takeovers = reports.flatMap((report) => report.computedAt)
          assert.strictEqual(takeovers.length, 1)
          // The lease was renewed at least once (at a third of its ttl) before the kill.
          assert.isAtLeast(takeovers[0]!, holding.startedAt + LEASE_TTL, "taken over before the lease expired")
        }),
      60_000
    )
  })

stampedeAcrossProcesses("SqliteStore", "sqlite")
await describeServer("postgres", "PostgreSQL", () => stampedeAcrossProcesses("PostgresStore", "postgres"))
await describeServer("redis", "Redis", () => stampedeAcrossProcesses("RedisStore", "redis"))
