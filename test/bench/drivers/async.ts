/**
 * The workloads for promise-based stores (Keyv): the same rounds as the synchronous driver, each operation awaited
 * before the next one starts, as an application awaiting its cache would. A whole workload runs inside one
 * `Effect.promise`, so each operation is a plain `await`.
 */
import * as Effect from "effect/Effect"
import type { Fixture, Measure, Recorder, Workload } from "../harness.js"
import { chunks, freshKeys, missing, probes, timeAsync } from "../harness.js"

/** A promise-based store as the workloads see it; values are the fixture's text. */
export interface AsyncTarget {
  readonly get: (key: string) => Promise<unknown>
  readonly set: (key: string, value: string) => Promise<unknown>
  readonly setMany: (entries: ReadonlyArray<readonly [string, string]>) => Promise<unknown>
  /** Untimed cleanup of a round's fresh keys. */
  readonly removeMany: (keys: ReadonlyArray<string>) => Promise<unknown>
}

type Fresh = (n: number) => Array<string>

const gets = async (t: AsyncTarget, fx: Fixture, rec: Recorder): Promise<void> => {
  const { keys, order } = fx
  while (!rec.full) await timeAsync(rec, order.length, (i) => t.get(keys[order[i]!]!))
}

const sets = async (t: AsyncTarget, fx: Fixture, rec: Recorder, fresh: Fresh): Promise<void> => {
  while (!rec.full) {
    const keys = fresh(fx.round)
    const done = await timeAsync(rec, keys.length, (i) => t.set(keys[i]!, fx.text))
    await t.removeMany(keys.slice(0, done))
  }
}

const setManys = async (t: AsyncTarget, fx: Fixture, rec: Recorder, fresh: Fresh): Promise<void> => {
  while (!rec.full) {
    const keys = fresh(fx.round)
    const batches = chunks(keys.map((key) => [key, fx.text] as const), fx.batch)
    const done = await timeAsync(rec, batches.length, (i) => t.setMany(batches[i]!))
    await t.removeMany(keys.slice(0, done * fx.batch))
  }
}

const workloads: Record<Workload, (t: AsyncTarget, fx: Fixture, rec: Recorder, fresh: Fresh) => Promise<void>> = {
  get: gets,
  set: sets,
  setMany: setManys
}

/** Checks that a prefilled store finds the probe keys, then measures it. */
export const ready = (t: AsyncTarget, fx: Fixture): Effect.Effect<Measure, Error> =>
  Effect.gen(function*() {
    for (const key of probes(fx)) {
      if ((yield* Effect.promise(() => t.get(key))) === undefined) return yield* Effect.fail(missing(key))
    }
    const fresh = freshKeys(fx)
    return (workload, rec) => Effect.promise(() => workloads[workload](t, fx, rec, fresh))
  })
