/**
 * Several real processes on one SQLite file: four Node child processes open the same fresh file at the same moment
 * (racing the schema setup) and for about three seconds run `set`/`get` on their own keys, `add` on keys they all
 * contend for, `increment` on one shared counter and small `setMany` batches. No operation may fail (no `Busy`, no
 * error of any kind) and the file must end consistent: every worker's own keys hold its last writes and its last batch,
 * every shared key (numbered, or named by a 2 ms time slot so that all workers contend for it at once) was won by
 * exactly one worker and holds the winner's id, and the counter equals the sum of all increments. The same workers
 * opening a file of the previous format (2) at once upgrade its format row once and all go on without an error.
 */
import { assert, describe, it } from "@effect/vitest"
import { SqliteStore } from "effect-kv"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as crypto from "node:crypto"
import * as path from "node:path"
import { toFormat2 } from "./fixtures/format2.js"
import { tempDir, withDb } from "./fixtures/temp.js"
import * as Workers from "./fixtures/workers.js"

interface Report {
  readonly ok: boolean
  readonly id: string
  readonly tag?: string
  readonly cause?: string
  readonly iterations: number
  readonly last: Record<string, string>
  readonly wins: ReadonlyArray<string>
  readonly slots: ReadonlyArray<string>
  readonly increments: number
  readonly mismatches: ReadonlyArray<string>
  readonly lastBatch?: string
}

const workerCount = 4
const runMillis = 3000

/** Spawns the workers, releases them together once all are ready, and collects their reports. */
const runWorkers = (filename: string, millis = runMillis) =>
  Workers.run<Report>(
    "test/backends/fixtures/sqlite-worker.ts",
    Array.from({ length: workerCount }, (_, i) => [filename, `w${i}`, String(millis)])
  )

describe("SqliteStore across processes", () => {
  it.scopedLive("four processes share one file without errors and leave it consistent", () =>
    Effect.gen(function*() {
      const filename = path.join(yield* tempDir, "shared.db")
      const reports = yield* runWorkers(filename)
      for (const report of reports) {
        assert.isTrue(report.ok, `worker ${report.id} failed with ${report.tag}: ${report.cause}`)
        assert.deepStrictEqual(report.mismatches, [], `worker ${report.id} read back something else`)
        assert.isAbove(report.iterations, 50, `worker ${report.id} barely ran`)
      }
      const winners = new Map<string, string>()
      for (const report of reports) {
        for (const key of report.wins) {
          assert.isFalse(winners.has(key), `${key} was added by both ${winners.get(key)} and ${report.id}`)
          winners.set(key, report.id)
        }
      }
      const attempted = Math.max(...reports.map((r) => r.iterations))
      yield* Effect.scoped(Effect.gen(function*() {
        const store = yield* SqliteStore.make({ filename })
        for (const report of reports) {
          for (const [key, value] of Object.entries(report.last)) {
            assert.strictEqual(Option.getOrUndefined(yield* store.getString(key)), value, key)
          }
          if (report.lastBatch !== undefined) {
            const batch = yield* store.getMany([`batch.${report.id}.a`, `batch.${report.id}.b`])
            assert.deepStrictEqual(batch.map((v) => Option.map(v, (b) => Buffer.from(b).toString())), [
              Option.some(report.lastBatch),
              Option.some(report.lastBatch)
            ])
          }
        }
        for (let i = 1; i <= attempted; i++) {
          const key = `shared.${i}`
          const stored = Option.getOrUndefined(yield* store.getString(key))
          assert.strictEqual(stored, winners.get(key), `${key}: stored ${stored}, won by ${winners.get(key)}`)
        }
        const slots = new Set(reports.flatMap((r) => r.slots))
        for (const key of slots) {
          const stored = Option.getOrUndefined(yield* store.getString(key))
          assert.strictEqual(stored, winners.get(key), `${key}: stored ${stored}, won by ${winners.get(key)}`)
        }
        assert.strictEqual(winners.size, attempted + slots.size, "every shared key attempted was won exactly once")
        const increments = reports.reduce((n, r) => n + r.increments, 0)
        assert.strictEqual(Option.getOrUndefined(yield* store.getString("counter")), String(increments))
      }))
      // The workers really ran side by side: slot keys (attempted by every worker at the same moment) went to more
      // than one of them.
      const slotWinners = new Set(Array.from(winners).filter(([key]) => key.startsWith("slot.")).map(([, id]) => id))
      assert.isAbove(slotWinners.size, 1, "one worker won every contended key: the workers did not overlap")
    }), 60_000)

  it.scopedLive(
    "four processes opening a file of format 2 at once upgrade it once, without errors",
    () =>
      Effect.gen(function*() {
        const filename = path.join(yield* tempDir, "shared.db")
        const value = crypto.randomBytes(64 * 1024)
        yield* Effect.scoped(Effect.flatMap(SqliteStore.make({ filename }), (store) => store.set("legacy", value)))
        toFormat2(filename)
        for (const report of yield* runWorkers(filename, 300)) {
          assert.isTrue(report.ok, `worker ${report.id} failed with ${report.tag}: ${report.cause}`)
        }
        assert.strictEqual(withDb(filename, (db) => db.prepare("SELECT value FROM effect_kv_meta").pluck().get()), "4")
        yield* Effect.scoped(Effect.gen(function*() {
          const store = yield* SqliteStore.make({ filename })
          assert.isTrue(Option.exists(yield* store.get("legacy"), (read) => Buffer.compare(read, value) === 0))
          assert.isTrue((yield* store.check({ minOrphanAge: 0 })).ok)
        }))
      }),
    60_000
  )
})
