/**
 * The worker-process harness (`fixtures/workers.ts`): its timeout is on silence, not on the whole run. Workers that
 * keep printing progress run past it (a busy machine is slow, not stuck); a worker that falls silent fails the run
 * with `WorkersTimedOut` naming it.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Workers from "./fixtures/workers.js"

const script = "test/backends/fixtures/steady-worker.ts"
const spec = (id: string, steps: number, stepMillis: number) => [JSON.stringify({ id, steps, stepMillis })]

describe("worker processes", () => {
  it.scopedLive("workers that keep making progress run past the timeout", () =>
    Effect.gen(function*() {
      // 6 seconds of work each, with a sign of life every 200 ms, under a timeout of 3 seconds of silence.
      const reports = yield* Workers.run<{ readonly id: string; readonly steps: number }>(
        script,
        [spec("a", 30, 200), spec("b", 30, 200)],
        { timeout: "3 seconds" }
      )
      assert.deepStrictEqual(reports.map(({ id, steps }) => [id, steps]), [["a", 30], ["b", 30]])
    }), Workers.testTimeout)

  it.scopedLive(
    "a worker that falls silent fails the run with WorkersTimedOut naming it",
    () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(
          Workers.run(script, [spec("stuck", -1, 0), spec("done", 1, 10)], { timeout: "3 seconds" })
        )
        assert.strictEqual(error._tag, "WorkersTimedOut")
        assert.deepStrictEqual((error as Workers.WorkersTimedOut).pending, [0])
      }),
    Workers.testTimeout
  )
})
