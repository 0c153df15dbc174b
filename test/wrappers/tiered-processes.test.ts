/**
 * Tiered across processes, on the loopback servers: two worker processes (`fixtures/tiered-worker.ts`) each hold a
 * Tiered store (L1 ttl cap one minute) over the same L2, RedisStore with the Redis bus and PostgresStore with the
 * PostgreSQL bus. In each of 50 rounds the reader fills its L1 with the key (and checks its next read is an L1 hit),
 * the writer writes the key, and the reader must see the new value within 100 ms of the start of the write: only the
 * bus can tell it before the minute is up. The worst and median delays are printed.
 */
import { assert, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import { fresh, type Kind } from "../backends/fixtures/backends.js"
import { describeServer, uniqueName, urls } from "../backends/fixtures/servers.js"
import type { Failed } from "../backends/fixtures/worker-report.js"
import * as Workers from "../backends/fixtures/workers.js"
import type { Report, Spec } from "./fixtures/tiered-worker.js"

const rounds = 50

const twoProcesses = (kind: Kind & ("redis" | "postgres")) =>
  it.scopedLive(
    `a write in one process is seen through the other's L1 within 100 ms (${rounds} rounds)`,
    () =>
      Effect.gen(function*() {
        const store = yield* fresh(kind)
        const bus = { kind, url: urls[kind], channel: uniqueName("tiered_bus") }
        const spec = (role: Spec["role"]): Spec => ({ role, store, bus, rounds })
        const reports = yield* Workers.run<Report | Failed>(
          "test/wrappers/fixtures/tiered-worker.ts",
          [[JSON.stringify(spec("reader"))], [JSON.stringify(spec("writer"))]],
          { timeout: "30 seconds" }
        )
        for (const report of reports) assert.isTrue(report.ok, JSON.stringify(report))
        const delays = [...((reports[0] as Report).delays ?? [])].sort((a, b) => a - b)
        assert.strictEqual(delays.length, rounds)
        const worst = delays[delays.length - 1]!
        const median = delays[Math.floor(delays.length / 2)]!
        process.stderr.write(
          `Tiered ${kind} bus across processes: ${rounds} rounds, median ${median.toFixed(1)} ms, worst ${
            worst.toFixed(1)
          } ms\n`
        )
        assert.isAtMost(worst, 100)
      }),
    Workers.testTimeout
  )

await describeServer("redis", "Tiered across processes: RedisStore with the Redis bus", () => twoProcesses("redis"))
await describeServer(
  "postgres",
  "Tiered across processes: PostgresStore with the PostgreSQL bus",
  () => twoProcesses("postgres")
)
