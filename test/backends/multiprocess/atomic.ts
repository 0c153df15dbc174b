/**
 * Atomic operations across processes, on any backend that several processes share (`atomicAcrossProcesses(kind)`):
 * four Node child processes (`fixtures/atomic-worker.ts`) open the same fresh store (a SQLite file, a PostgreSQL
 * table, a Redis prefix), are released together and contend for one key. `increment`: 4 × 500 calls all succeed, the
 * counter ends at 2000 and the 2000 results are exactly 1..2000, increasing within each worker. Compare-and-swap:
 * 4 × 200 read-then-swap retry loops end at 800, the values installed are exactly 1..800 with none installed twice,
 * and no worker lost more swaps than the others made. `append`: 4 × 100 records end as one log of exactly the bytes
 * appended, every worker's records in its order, and each call returned the length at which its own record ends.
 * Transactions (backends that have them): 4 × 100 transfers between two balances, each read-both-write-both in
 * `withTransaction` with an await inside, every fifth rolled back on purpose: the sum is unchanged, the transfer count
 * and the balances match exactly what the workers saw commit. Opening: eight processes opening one fresh store at
 * the same moment all succeed, three times over (the store's setup must be race-free).
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { Report, Spec } from "../fixtures/atomic-worker.js"
import { type Backend, fresh, type Kind, withStore } from "../fixtures/backends.js"
import * as Workers from "../fixtures/workers.js"

const ids = ["w0", "w1", "w2", "w3"]

/** Runs one worker per id on `backend`, all released together, and returns their successful reports. */
const runAtomic = <Op extends Spec["op"]>(backend: Backend, op: Op, count: number, workers = ids) =>
  Workers.run<Report>(
    "test/backends/fixtures/atomic-worker.ts",
    workers.map((id) => [JSON.stringify({ ...backend, op, count, id } satisfies Spec)])
  ).pipe(Effect.map((reports) =>
    reports.map((report) => {
      if (!report.ok) assert.fail(`worker ${report.id} failed with ${report.tag}: ${report.cause}`)
      assert.strictEqual(report.op, op, `worker ${report.id} ran ${report.op}`)
      return report as Extract<Report, { readonly op: Op }>
    })
  ))

const finalValue = (backend: Backend, key: string) =>
  withStore(backend, (store) => store.getString(key)).pipe(Effect.map(Option.getOrUndefined))

/** Index of the first element not greater than its predecessor, or -1. */
const firstNonIncreasing = (xs: ReadonlyArray<number | bigint>): number =>
  xs.findIndex((x, i) => i > 0 && x <= xs[i - 1]!)

/** Checks that the workers' numbers are pairwise distinct and together exactly 1..n. */
const assertPartition = (owned: ReadonlyArray<readonly [id: string, numbers: ReadonlyArray<number>]>, n: number) => {
  const owner = new Map<number, string>()
  for (const [id, numbers] of owned) {
    for (const x of numbers) {
      assert.isFalse(owner.has(x), `${x} was seen by both ${owner.get(x)} and ${id}`)
      owner.set(x, id)
    }
  }
  const outside = Array.from(owner.keys()).filter((x) => !Number.isInteger(x) || x < 1 || x > n)
  assert.deepStrictEqual(outside, [], `values outside 1..${n}`)
  assert.strictEqual(owner.size, n, `expected every value of 1..${n} once`)
}

/** Registers the multi-process atomic-operation tests on fresh stores of `kind`. */
export const atomicAcrossProcesses = (name: string, kind: Kind, options: { readonly transactions: boolean }) =>
  describe(`${name} atomic operations across processes`, () => {
    it.scopedLive("opening: 8 processes open one fresh file at once, 3 rounds", () =>
      Effect.gen(function*() {
        const eight = Array.from({ length: 8 }, (_, i) => `o${i}`)
        for (let round = 0; round < 3; round++) {
          const backend = yield* fresh(kind)
          const reports = yield* runAtomic(backend, "increment", 1, eight)
          assertPartition(reports.map(({ id, results }) => [id, results.map(Number)]), 8)
        }
      }), Workers.testTimeout)

    it.scopedLive("increment: 4 × 500 on one counter yield exactly 1..2000", () =>
      Effect.gen(function*() {
        const backend = yield* fresh(kind)
        const reports = yield* runAtomic(backend, "increment", 500)
        for (const { id, results } of reports) {
          assert.strictEqual(results.length, 500, `worker ${id} made ${results.length} increments`)
          const i = firstNonIncreasing(results.map(BigInt))
          assert.strictEqual(i, -1, `worker ${id} saw ${results[i - 1]} then ${results[i]}`)
        }
        assertPartition(reports.map(({ id, results }) => [id, results.map(Number)]), 2000)
        // The workers really ran side by side: some worker's results are not one unbroken run.
        const interleaved = reports.filter(({ results }) => Number(results.at(-1)) - Number(results[0]) !== 499)
        assert.isAbove(interleaved.length, 0, "every worker's increments were consecutive: the workers did not overlap")
        assert.strictEqual(yield* finalValue(backend, "counter"), "2000")
      }), Workers.testTimeout)

    it.scopedLive("compare-and-swap: 4 × 200 retry loops install exactly 1..800", () =>
      Effect.gen(function*() {
        const backend = yield* fresh(kind)
        const reports = yield* runAtomic(backend, "cas", 200)
        for (const { id, installed, retries } of reports) {
          assert.strictEqual(installed.length, 200, `worker ${id} made ${installed.length} swaps`)
          const i = firstNonIncreasing(installed)
          assert.strictEqual(i, -1, `worker ${id} installed ${installed[i - 1]} then ${installed[i]}`)
          // A lost swap means another worker installed a value between this worker's read and its swap; those windows
          // do not overlap, so no worker can lose more swaps than the others won.
          assert.isAtMost(retries, 800 - installed.length, `worker ${id} lost more swaps than the others made`)
        }
        assert.strictEqual(reports.reduce((n, r) => n + r.installed.length, 0), 800)
        assertPartition(reports.map(({ id, installed }) => [id, installed]), 800)
        assert.strictEqual(yield* finalValue(backend, "cas"), "800")
      }), Workers.testTimeout)

    if (options.transactions) {
      it.scopedLive(
        "transactions: 4 × 100 transfers between two balances keep the sum exact",
        () =>
          Effect.gen(function*() {
            const backend = yield* fresh(kind)
            yield* withStore(backend, (store) => store.setMany([["acct.a", "1000"], ["acct.b", "1000"]]))
            const reports = yield* runAtomic(backend, "transfer", 100)
            const committed = reports.reduce((n, r) => n + r.committed, 0)
            const moved = reports.reduce((n, r) => n + r.moved, 0)
            for (const { committed, id, rolledBack } of reports) {
              assert.strictEqual(committed + rolledBack, 100, `worker ${id}`)
              assert.strictEqual(rolledBack, 20, `worker ${id} rolled back ${rolledBack}`)
            }
            const a = Number(yield* finalValue(backend, "acct.a"))
            const b = Number(yield* finalValue(backend, "acct.b"))
            assert.strictEqual(a + b, 2000, "the sum of the balances")
            assert.strictEqual(b - 1000, moved, "acct.b moved by exactly the committed transfers")
            assert.strictEqual(yield* finalValue(backend, "transfers"), String(committed))
            assert.strictEqual(committed, 320)
          }),
        Workers.testTimeout
      )
    }

    it.scopedLive(
      "append: 4 × 100 records end as one log, each worker's records in order",
      () =>
        Effect.gen(function*() {
          const backend = yield* fresh(kind)
          const reports = yield* runAtomic(backend, "append", 100)
          const log = yield* finalValue(backend, "log")
          assert.isDefined(log)
          assert.strictEqual(log.length, reports.reduce((n, r) => n + r.appended, 0), "log length = bytes appended")
          const records = log.split(";").slice(0, -1)
          assert.strictEqual(records.length, 400)
          for (const { id, lengths } of reports) {
            assert.deepStrictEqual(
              records.filter((record) => record.startsWith(`${id}:`)),
              Array.from({ length: 100 }, (_, i) => `${id}:${i}`),
              `worker ${id}'s records`
            )
            // Each call returned the length of the log just after its own record.
            lengths.forEach((length, i) =>
              assert.isTrue((";" + log.slice(0, length)).endsWith(`;${id}:${i};`), `${id}:${i} returned ${length}`)
            )
          }
          const all = reports.flatMap((r) => r.lengths)
          assert.strictEqual(new Set(all).size, 400, "every append returned a distinct length")
          assert.strictEqual(Math.max(...all), log.length)
        }),
      Workers.testTimeout
    )
  })
