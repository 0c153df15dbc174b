/**
 * The workloads for promise-based stores (Keyv, and the raw ioredis and pg clients): the same rounds as the
 * synchronous driver, each operation awaited before the next one starts, as an application awaiting its cache would.
 * A whole workload runs inside one `Effect.tryPromise`, so each operation is a plain `await`. Values are the
 * fixture's text (Keyv keeps JSON text) or its bytes (the raw clients).
 */
import * as Effect from "effect/Effect"
import type { Fixture, Measure, Recorder, Workload } from "../harness.js"
import { chunks, freshKeys, missing, probes, readBatches, timeAsync } from "../harness.js"

/** A promise-based store as the workloads see it; `get` gives `undefined` or `null` for a missing key. */
export interface AsyncTarget<V = string> {
  readonly get: (key: string) => Promise<unknown>
  readonly set: (key: string, value: V) => Promise<unknown>
  readonly setMany: (entries: ReadonlyArray<readonly [string, V]>) => Promise<unknown>
  /** Untimed cleanup of a round's fresh keys. */
  readonly removeMany: (keys: ReadonlyArray<string>) => Promise<unknown>
  /** Reads many keys in one call (only targets that list the `getMany` workload need it). */
  readonly getMany?: (keys: ReadonlyArray<string>) => Promise<unknown>
}

type Fresh = (n: number) => Array<string>

type Run<V> = (t: AsyncTarget<V>, fx: Fixture, value: V, rec: Recorder, fresh: Fresh) => Promise<void>

const gets: Run<unknown> = async (t, fx, _, rec) => {
  const { keys, order } = fx
  while (!rec.full) await timeAsync(rec, order.length, (i) => t.get(keys[order[i]!]!))
}

const sets: Run<unknown> = async (t, fx, value, rec, fresh) => {
  while (!rec.full) {
    const keys = fresh(fx.round)
    const done = await timeAsync(rec, keys.length, (i) => t.set(keys[i]!, value))
    await t.removeMany(keys.slice(0, done))
  }
}

const setManys: Run<unknown> = async (t, fx, value, rec, fresh) => {
  while (!rec.full) {
    const keys = fresh(fx.round)
    const batches = chunks(keys.map((key) => [key, value] as const), fx.batch)
    const done = await timeAsync(rec, batches.length, (i) => t.setMany(batches[i]!))
    await t.removeMany(keys.slice(0, done * fx.batch))
  }
}

const getManys: Run<unknown> = async (t, fx, _, rec) => {
  const batches = readBatches(fx)
  const getMany = t.getMany ?? ((keys: ReadonlyArray<string>) => Promise.all(keys.map((key) => t.get(key))))
  while (!rec.full) await timeAsync(rec, batches.length, (i) => getMany(batches[i]!))
}

const workloads: Record<Workload, Run<unknown>> = {
  get: gets,
  set: sets,
  setMany: setManys,
  getMany: getManys
}

const failure = (cause: unknown): Error => cause instanceof Error ? cause : new Error(String(cause))

/**
 * Checks that a prefilled store finds the probe keys, then measures it, writing `value` (the fixture's text or its
 * bytes). A rejected promise fails the measurement with its error.
 */
export const ready = <V>(t: AsyncTarget<V>, fx: Fixture, value: V): Effect.Effect<Measure, Error> =>
  Effect.gen(function*() {
    for (const key of probes(fx)) {
      const found = yield* Effect.tryPromise({ try: () => t.get(key), catch: failure })
      if (found === undefined || found === null) return yield* Effect.fail(missing(key))
    }
    const fresh = freshKeys(fx)
    const untyped = t as AsyncTarget<unknown>
    return (workload, rec) =>
      Effect.tryPromise({ try: () => workloads[workload](untyped, fx, value, rec, fresh), catch: failure })
  })
